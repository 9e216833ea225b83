/**
 * The reading model: what drivers hand to ingest (`ReadingInput`) and what ingest stamps (`Reading`).
 * Codes and limits: ../shared/reference/clinical.md §3.1 (LOINC/UCUM/MDC) and §6 (validity ranges).
 * Wire strings (kinds, units, flags, reasons) are snake_case and only ever added to.
 */

import { describeValue } from "./describe-value.js";

/** The vital signs Vitalog understands. */
export const VITAL_KINDS = [
  "heart_rate",
  "pulse_rate",
  "spo2",
  "respiratory_rate",
  "body_temperature",
  "bp_systolic",
  "bp_diastolic",
  "bp_mean",
  "glucose",
  "body_weight",
] as const;
export type VitalKind = (typeof VITAL_KINDS)[number];

/**
 * Flags a reading may carry (wire strings, only ever added to):
 * - `questionable`: outside the "confirm" band of clinical.md §6 (accepted; a HIGH limit still alarms on it).
 * - `clock_drift`: the device clock runs ahead of the gateway's by more than clinical.md §6's 2 min.
 * - `narrow_pulse_pressure`: systolic minus diastolic under 10 mmHg (clinical.md §6).
 * - `device_reported_issue`: the device's own status words call the measurement doubtful.
 * - `sensor_contact_lost`: taken while the device reported that its sensor had no contact with the patient
 *   (a contact status in the same frame, or an earlier one not yet followed by contact restored).
 * - `unit_converted`: the value was converted into the canonical unit.
 * - `signal_unreliable`: the device says the value does not reflect the patient (PLX Measurement Status or
 *   Device and Sensor Status bits that clinical.md §1.6 lists for suppressing SpO2/PR alarms).
 */
export const READING_FLAGS = [
  "questionable",
  "clock_drift",
  "narrow_pulse_pressure",
  "device_reported_issue",
  "sensor_contact_lost",
  "unit_converted",
  "signal_unreliable",
] as const;
export type ReadingFlag = (typeof READING_FLAGS)[number];

/**
 * Flags that make a reading no patient value for the physiological rules (thresholds, rate of change, NEWS2):
 * [clinical.md §5.2 "Signal-quality gating"] suppress physiological alarms when the quality bits say the input
 * is invalid, and raise a technical alarm instead (rules/technical.ts). The reading is still stored and proved.
 */
export const SIGNAL_GATING_FLAGS: readonly ReadingFlag[] = ["sensor_contact_lost", "signal_unreliable"];

/** Whether a reading's flags keep it out of the physiological rules (see {@link SIGNAL_GATING_FLAGS}). */
export function isSignalGated(flags: readonly ReadingFlag[]): boolean {
  return flags.some((f) => f === "sensor_contact_lost" || f === "signal_unreliable");
}

/** A measurement as decoded by a driver, before validation. Units are UCUM codes. */
export interface ReadingInput {
  kind: VitalKind;
  value: number;
  /** UCUM unit code as the device sent it, e.g. "/min", "%", "Cel", "[degF]", "mm[Hg]", "kPa", "mg/dL". */
  unit: string;
  /** Device timestamp in ms since the Unix epoch, when the device supplied one (its own clock). */
  deviceTimeMs?: number | undefined;
  /**
   * Offset of the measurement from the gateway's receipt, for devices without a clock
   * (e.g. SenML relative time: -5000 = five seconds before receipt). Ignored when deviceTimeMs is set.
   */
  timeOffsetMs?: number | undefined;
  /** IEEE 11073-10101 MDC observation code when the device supplied one. */
  mdc?: number | undefined;
  /** Flags the driver already knows (e.g. the device's own status bits). */
  flags?: readonly ReadingFlag[] | undefined;
}

/** A validated, normalised, stamped reading. Immutable once built. */
export interface Reading {
  /** Gateway-unique, time-ordered id (ULID). */
  readonly id: string;
  readonly deviceId: string;
  /** The patient or asset the device was bound to when the reading arrived. */
  readonly subjectId: string;
  readonly kind: VitalKind;
  /** LOINC code per the FHIR R4 vital-signs profile. */
  readonly loinc: string;
  readonly value: number;
  /** Canonical UCUM unit for the kind. */
  readonly unit: string;
  readonly deviceTimeMs: number | null;
  readonly receivedAtMs: number;
  /** When the measurement was taken: the device time, else receipt plus the relative offset. */
  readonly observedAtMs: number;
  /** Per-device sequence number assigned by the gateway, strictly increasing. */
  readonly seq: number;
  readonly flags: readonly ReadingFlag[];
  readonly mdc: number | null;
}

/** Why an input was refused. */
export type RejectReason =
  | "unknown_vital"
  | "unit_unsupported"
  | "value_not_finite"
  | "below_physiologic_limit"
  | "above_physiologic_limit"
  | "device_time_invalid"
  | "device_time_in_future"
  | "time_before_storage_window"
  | "bp_diastolic_not_below_systolic"
  | "bp_mean_outside_range";

interface UnitRule {
  /** Canonical UCUM unit this input unit maps to. */
  to: string;
  convert: (v: number) => number;
  /** A synonym of the canonical unit: no arithmetic, so no "unit_converted" flag. */
  isSynonym?: boolean;
}

interface VitalSpec {
  display: string;
  /** LOINC code by canonical unit (glucose's code depends on the unit; never converted silently). */
  loinc: Record<string, string>;
  units: Record<string, UnitRule>;
  /** Hard limits (exclusive unless noted) in each canonical unit. */
  hard: Record<string, { min: number; minInclusive?: boolean; max: number; maxInclusive?: boolean }>;
  /** Plausibility ("confirm") band: outside [low, high] the reading is accepted but flagged. */
  confirm: Record<string, { low: number; high: number }>;
  /** Decimal places kept after conversion. */
  decimals: number;
}

const same = (to: string): UnitRule => ({ to, convert: (v) => v, isSynonym: true });
const MMHG_PER_KPA = 1000 / 133.322387415;

const PER_MIN: Record<string, UnitRule> = {
  "/min": same("/min"),
  "1/min": same("/min"),
  "{beats}/min": same("/min"),
  "{beat}/min": same("/min"),
  "{breaths}/min": same("/min"),
  "/s": { to: "/min", convert: (v) => v * 60 },
  "1/s": { to: "/min", convert: (v) => v * 60 },
};

const RATE_HARD = { "/min": { min: 0, max: 300 } };

export const VITALS: Readonly<Record<VitalKind, VitalSpec>> = {
  heart_rate: {
    display: "Heart rate",
    loinc: { "/min": "8867-4" },
    units: PER_MIN,
    hard: RATE_HARD,
    confirm: { "/min": { low: 20, high: 250 } },
    decimals: 1,
  },
  pulse_rate: {
    display: "Pulse rate",
    loinc: { "/min": "8867-4" },
    units: PER_MIN,
    hard: RATE_HARD,
    confirm: { "/min": { low: 20, high: 250 } },
    decimals: 1,
  },
  respiratory_rate: {
    display: "Respiratory rate",
    loinc: { "/min": "9279-1" },
    units: PER_MIN,
    hard: { "/min": { min: 0, max: 70 } },
    confirm: { "/min": { low: 4, high: 60 } },
    decimals: 1,
  },
  spo2: {
    display: "Oxygen saturation",
    loinc: { "%": "2708-6" },
    units: { "%": same("%") },
    // [clinical.md §6] <0 or >100 % is impossible; 0 and 100 themselves are representable
    hard: { "%": { min: 0, minInclusive: true, max: 100, maxInclusive: true } },
    confirm: { "%": { low: 50, high: 100 } },
    decimals: 1,
  },
  body_temperature: {
    display: "Body temperature",
    loinc: { Cel: "8310-5" },
    units: {
      Cel: same("Cel"),
      "[degF]": { to: "Cel", convert: (v) => ((v - 32) * 5) / 9 },
      K: { to: "Cel", convert: (v) => v - 273.15 },
    },
    hard: { Cel: { min: 10, max: 50 } },
    confirm: { Cel: { low: 25, high: 45 } },
    decimals: 2,
  },
  bp_systolic: {
    display: "Systolic blood pressure",
    loinc: { "mm[Hg]": "8480-6" },
    units: {
      "mm[Hg]": same("mm[Hg]"),
      kPa: { to: "mm[Hg]", convert: (v) => v * MMHG_PER_KPA },
      Pa: { to: "mm[Hg]", convert: (v) => (v / 1000) * MMHG_PER_KPA },
    },
    hard: { "mm[Hg]": { min: 0, max: 400 } },
    confirm: { "mm[Hg]": { low: 50, high: 300 } },
    decimals: 1,
  },
  bp_diastolic: {
    display: "Diastolic blood pressure",
    loinc: { "mm[Hg]": "8462-4" },
    units: {
      "mm[Hg]": same("mm[Hg]"),
      kPa: { to: "mm[Hg]", convert: (v) => v * MMHG_PER_KPA },
      Pa: { to: "mm[Hg]", convert: (v) => (v / 1000) * MMHG_PER_KPA },
    },
    hard: { "mm[Hg]": { min: 0, max: 300 } },
    confirm: { "mm[Hg]": { low: 20, high: 200 } },
    decimals: 1,
  },
  bp_mean: {
    display: "Mean blood pressure",
    loinc: { "mm[Hg]": "8478-0" },
    units: {
      "mm[Hg]": same("mm[Hg]"),
      kPa: { to: "mm[Hg]", convert: (v) => v * MMHG_PER_KPA },
      Pa: { to: "mm[Hg]", convert: (v) => (v / 1000) * MMHG_PER_KPA },
    },
    hard: { "mm[Hg]": { min: 0, max: 300 } },
    confirm: {},
    decimals: 1,
  },
  glucose: {
    display: "Glucose",
    // [clinical.md §3.1] capillary blood by glucometer; the unit decides the code
    loinc: { "mg/dL": "41653-7", "mmol/L": "14743-9" },
    units: {
      "mg/dL": same("mg/dL"),
      "mmol/L": same("mmol/L"),
      "kg/m3": { to: "mg/dL", convert: (v) => v * 100 },
    },
    hard: {
      "mg/dL": { min: 0, max: Number.POSITIVE_INFINITY },
      "mmol/L": { min: 0, max: Number.POSITIVE_INFINITY },
    },
    confirm: { "mg/dL": { low: 20, high: 600 }, "mmol/L": { low: 1.1, high: 33.3 } },
    decimals: 2,
  },
  body_weight: {
    display: "Body weight",
    loinc: { kg: "29463-7" },
    units: {
      kg: same("kg"),
      g: { to: "kg", convert: (v) => v / 1000 },
      "[lb_av]": { to: "kg", convert: (v) => v * 0.45359237 },
    },
    hard: { kg: { min: 0, max: Number.POSITIVE_INFINITY } },
    confirm: { kg: { low: 0.3, high: 300 } },
    decimals: 3,
  },
};

/** [clinical.md §6] device time more than this ahead of the gateway clock is rejected. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;
/** [clinical.md §6] drift beyond this is flagged. */
export const DRIFT_FLAG_MS = 2 * 60_000;
/**
 * Start of the storage window: no reading is observed before it. Its end is the receive time plus
 * MAX_FUTURE_SKEW_MS. The window is wide on purpose: stored records fetched late (glucose meters over
 * RACP, months afterwards) are legitimate backfill; how old a reading may be to raise a live alarm is a
 * separate, narrow horizon. (Year 1582, the start of the GATT Date Time range, is meaningless for vitals.)
 */
export const STORAGE_WINDOW_START_MS = Date.UTC(2000, 0, 1);

/** A normalised input: canonical unit and LOINC, flags merged. Not yet stamped. */
export interface NormalisedInput {
  kind: VitalKind;
  loinc: string;
  value: number;
  unit: string;
  deviceTimeMs: number | null;
  observedAtMs: number;
  mdc: number | null;
  flags: ReadingFlag[];
}

export type Validation =
  | { ok: true; value: NormalisedInput }
  | { ok: false; reason: RejectReason; detail: string; kind?: string };

export function isVitalKind(kind: unknown): kind is VitalKind {
  return typeof kind === "string" && (VITAL_KINDS as readonly string[]).includes(kind);
}

function round(v: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

/**
 * Validates and normalises one input against the hard limits and the confirm band.
 * Pure: `nowMs` is the gateway receive time.
 */
export function normaliseInput(input: ReadingInput, nowMs: number): Validation {
  if (!isVitalKind(input.kind)) {
    return { ok: false, reason: "unknown_vital", detail: `unknown vital kind ${describeValue(input.kind)}` };
  }
  const spec = VITALS[input.kind];
  const kind = input.kind;
  if (typeof input.value !== "number" || !Number.isFinite(input.value)) {
    return { ok: false, reason: "value_not_finite", detail: `${kind} value is not a finite number`, kind };
  }
  // a non-string unit would be turned into a property key by Object.hasOwn, which recurses over arrays
  const rule =
    typeof input.unit === "string" && Object.hasOwn(spec.units, input.unit)
      ? spec.units[input.unit]
      : undefined;
  if (!rule) {
    return {
      ok: false,
      reason: "unit_unsupported",
      detail: `${kind} in unit ${describeValue(input.unit)} is not supported (use ${Object.keys(spec.units).join(", ")})`,
      kind,
    };
  }
  const flags = new Set<ReadingFlag>(input.flags ?? []);
  const value = round(rule.convert(input.value), spec.decimals);
  if (!rule.isSynonym) flags.add("unit_converted");

  const hard = spec.hard[rule.to]!;
  const belowHard = hard.minInclusive ? value < hard.min : value <= hard.min;
  const aboveHard = hard.maxInclusive ? value > hard.max : value >= hard.max;
  if (belowHard) {
    return {
      ok: false,
      reason: "below_physiologic_limit",
      detail: `${kind} ${value} ${rule.to} is at or below the physiologic limit ${hard.min}`,
      kind,
    };
  }
  if (aboveHard) {
    return {
      ok: false,
      reason: "above_physiologic_limit",
      detail: `${kind} ${value} ${rule.to} is at or above the physiologic limit ${hard.max}`,
      kind,
    };
  }
  const band = spec.confirm[rule.to];
  if (band && (value < band.low || value > band.high)) flags.add("questionable");

  let deviceTimeMs: number | null = null;
  if (input.deviceTimeMs !== undefined) {
    const t = input.deviceTimeMs;
    if (typeof t !== "number" || !Number.isFinite(t) || t < STORAGE_WINDOW_START_MS) {
      return {
        ok: false,
        reason: "device_time_invalid",
        detail: `${kind} device time is not a valid instant`,
        kind,
      };
    }
    if (t > nowMs + MAX_FUTURE_SKEW_MS) {
      return {
        ok: false,
        reason: "device_time_in_future",
        detail: `${kind} device time is ${Math.round((t - nowMs) / 1000)} s ahead of the gateway clock`,
        kind,
      };
    }
    // Only a clock running ahead is drift we can tell: a past time may be a stored record fetched late.
    if (t - nowMs > DRIFT_FLAG_MS) flags.add("clock_drift");
    deviceTimeMs = Math.round(t);
  }
  let observedAtMs = deviceTimeMs ?? nowMs;
  if (deviceTimeMs === null && input.timeOffsetMs !== undefined) {
    const offset = input.timeOffsetMs;
    if (typeof offset !== "number" || !Number.isFinite(offset)) {
      return {
        ok: false,
        reason: "device_time_invalid",
        detail: `${kind} relative time is not a number`,
        kind,
      };
    }
    if (offset > MAX_FUTURE_SKEW_MS) {
      return {
        ok: false,
        reason: "device_time_in_future",
        detail: `${kind} relative time is ${Math.round(offset / 1000)} s in the future`,
        kind,
      };
    }
    observedAtMs = Math.round(nowMs + offset);
  }
  if (!(observedAtMs >= STORAGE_WINDOW_START_MS)) {
    return {
      ok: false,
      reason: "time_before_storage_window",
      detail: `${kind} was observed before the storage window starts (2000-01-01)`,
      kind,
    };
  }
  return {
    ok: true,
    value: {
      kind,
      loinc: spec.loinc[rule.to]!,
      value,
      unit: rule.to,
      deviceTimeMs,
      observedAtMs,
      mdc: input.mdc ?? null,
      flags: [...flags].sort(),
    },
  };
}

export interface Rejection {
  index: number;
  reason: RejectReason;
  detail: string;
  kind?: string;
}

/**
 * Validates a batch of inputs from one frame, including the cross-field blood-pressure checks of
 * clinical.md §6 (a BP set is the sys/dia/mean inputs sharing a device time, or all of them when untimed).
 */
export function normaliseBatch(
  inputs: readonly ReadingInput[],
  nowMs: number,
): { accepted: NormalisedInput[]; rejected: Rejection[] } {
  const results = inputs.map((input) => normaliseInput(input, nowMs));
  const rejected: Rejection[] = [];
  const bpSets = new Map<string, Map<VitalKind, number>>();
  results.forEach((r, index) => {
    if (!r.ok) {
      rejected.push({ index, reason: r.reason, detail: r.detail, ...(r.kind ? { kind: r.kind } : {}) });
      return;
    }
    const { kind } = r.value;
    if (kind === "bp_systolic" || kind === "bp_diastolic" || kind === "bp_mean") {
      const key = String(r.value.observedAtMs);
      let set = bpSets.get(key);
      if (!set) {
        set = new Map();
        bpSets.set(key, set);
      }
      set.set(kind, index);
    }
  });
  const dropped = new Set<number>();
  for (const set of bpSets.values()) {
    const value = (k: VitalKind) => {
      const i = set.get(k);
      return i === undefined ? undefined : (results[i] as { ok: true; value: NormalisedInput }).value;
    };
    const sys = value("bp_systolic");
    const dia = value("bp_diastolic");
    const mean = value("bp_mean");
    let reason: RejectReason | undefined;
    let detail = "";
    if (sys && dia && dia.value >= sys.value) {
      reason = "bp_diastolic_not_below_systolic";
      detail = `diastolic ${dia.value} is not below systolic ${sys.value}`;
    } else if (sys && dia && mean && (mean.value < dia.value || mean.value > sys.value)) {
      reason = "bp_mean_outside_range";
      detail = `mean ${mean.value} is outside [${dia.value}, ${sys.value}]`;
    }
    if (reason) {
      for (const [kind, index] of set) {
        dropped.add(index);
        rejected.push({ index, reason, detail, kind });
      }
    } else if (sys && dia && sys.value - dia.value < 10) {
      // [clinical.md §6] a pulse pressure under 10 mmHg is flagged, not rejected
      for (const v of [sys, dia, mean])
        if (v && !v.flags.includes("narrow_pulse_pressure")) v.flags.push("narrow_pulse_pressure");
      sys.flags.sort();
      dia.flags.sort();
      mean?.flags.sort();
    }
  }
  const accepted: NormalisedInput[] = [];
  results.forEach((r, i) => {
    if (r.ok && !dropped.has(i)) accepted.push(r.value);
  });
  rejected.sort((a, b) => a.index - b.index);
  return { accepted, rejected };
}

/** Device-level status that is not a vital sign (battery, sensor contact), for technical alarms. */
export interface DeviceStatusInput {
  /** Battery level in percent, 0–100. */
  batteryPct?: number | undefined;
  /**
   * false when the device reports that its sensor lost contact with the patient, true when it reports contact.
   * A status applies to every reading of its frame, and `false` to the device's later readings until a frame
   * says `true` (ingest flags them `sensor_contact_lost`).
   */
  sensorContact?: boolean | undefined;
  deviceTimeMs?: number | undefined;
  /**
   * Why the device's own status words keep this frame's readings out of the physiological rules (they carry
   * `signal_unreliable`): snake_case names from the profile, e.g. Glucose Measurement Sensor Status Annunciation
   * `strip_insertion_error`. The technical alarm names them; absent or empty when the frame reports none.
   */
  measurementIssues?: readonly string[] | undefined;
  /**
   * Vitals the frame carried without a usable value, each with the device's reason as a snake_case name
   * (an IEEE 11073 special value such as `nan` or `nres` [clinical.md §1.2], `measurement_unavailable` …).
   * A device that keeps sending them raises the technical alarm `no_valid_data`. Absent or empty when the
   * frame carried a value for every vital it named.
   */
  absentValues?: readonly { readonly kind: VitalKind; readonly reason: string }[] | undefined;
}

/**
 * The issue (`DeviceStatusInput.measurementIssues`) of a frame whose contact status is present but cannot be
 * read (SenML `contact` without a boolean `vb`, plain JSON `sensor_contact` not a boolean, a serial monitor's
 * blank probe field). The gateway cannot tell whether the sensor touches the patient, so it never assumes it
 * does: the frame's readings are flagged `signal_unreliable` and the technical alarm `signal quality` names this
 * issue ("the device reports unreadable contact status with its … values").
 */
export const UNREADABLE_CONTACT_STATUS = "unreadable_contact_status";

/** Longest reading id, device id and subject id stored (the config allows 64 and 128 characters). */
const MAX_STORED_ID_CHARS = 128;
/** Longest LOINC code and UCUM unit stored (the canonical ones are at most 7). */
const MAX_STORED_CODE_CHARS = 32;
/** [IEEE 11073-10101] an MDC code is a 32-bit partition:term pair. */
const MDC_CODE_LIMIT = 2 ** 32;
const KNOWN_FLAGS: ReadonlySet<string> = new Set(READING_FLAGS);

/**
 * Why `r` cannot be stored, or undefined when it can: every column the `readings` table (a STRICT table,
 * reading-store.ts) constrains, plus the storage window. A reading that fails here must be refused before
 * the group commit; one that passes cannot make an insert fail on its content. The detail names the field
 * only: no value, nothing the device sent.
 */
export function storableProblem(r: Reading): string | undefined {
  const texts = [
    ["id", r.id, MAX_STORED_ID_CHARS],
    ["deviceId", r.deviceId, MAX_STORED_ID_CHARS],
    ["subjectId", r.subjectId, MAX_STORED_ID_CHARS],
    ["loinc", r.loinc, MAX_STORED_CODE_CHARS],
    ["unit", r.unit, MAX_STORED_CODE_CHARS],
  ] as const;
  for (const [field, v, max] of texts) {
    if (typeof v !== "string" || v.length === 0 || v.length > max) {
      return `${field} is not a string of 1 to ${max} characters`;
    }
  }
  if (!isVitalKind(r.kind)) return "kind is not a known vital";
  if (!Number.isSafeInteger(r.seq) || r.seq < 0) return "seq is not a non-negative safe integer";
  // NaN would bind as NULL (NOT NULL column); infinities have no canonical record encoding
  if (typeof r.value !== "number" || !Number.isFinite(r.value)) return "value is not a finite number";
  if (!Number.isSafeInteger(r.receivedAtMs)) return "receivedAtMs is not a safe integer";
  const latestMs = r.receivedAtMs + MAX_FUTURE_SKEW_MS;
  const inWindow = (t: number) => Number.isSafeInteger(t) && t >= STORAGE_WINDOW_START_MS && t <= latestMs;
  if (!inWindow(r.observedAtMs)) return "observedAtMs is not a safe integer inside the storage window";
  if (r.deviceTimeMs !== null && !inWindow(r.deviceTimeMs)) {
    return "deviceTimeMs is not null or a safe integer inside the storage window";
  }
  if (!Array.isArray(r.flags)) return "flags is not a list";
  for (const f of r.flags as readonly unknown[]) {
    if (typeof f !== "string" || !KNOWN_FLAGS.has(f)) return "flags holds an unknown flag";
  }
  if (r.mdc !== null && !(Number.isInteger(r.mdc) && r.mdc >= 0 && r.mdc < MDC_CODE_LIMIT)) {
    return "mdc is not null or an integer in [0, 2^32)";
  }
  return undefined;
}
