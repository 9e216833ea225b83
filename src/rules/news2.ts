/**
 * NEWS2 per subject, recomputed as parameters arrive [RCP NEWS2 2017; clinical.md §2]. Device readings
 * supply respiratory rate, SpO2, systolic BP, pulse (heart_rate or pulse_rate, the newer) and temperature;
 * air/oxygen, ACVPU and the SpO2 scale prescription come only from a `ClinicianObservation`.
 *
 * Never silently computed: if any parameter is missing or older than its configured maximum age, the
 * assessment is "incomplete", lists the missing parameters, and has no total and no band.
 *
 * Band → alert priority mapping (configurable, defaults below), following IEC 60601-1-8 Table 1:
 * - zero (0) and low (1–4): no alarm. Chart 4 asks for routine 4–12-hourly observation and an RN review;
 *   alarming there would be an information signal dressed as an alarm (alarm fatigue, clinical.md §5.2).
 * - low_medium (single parameter 3): LOW priority: urgent ward-based response, harm onset delayed.
 * - medium (5–6): MEDIUM priority: key threshold for urgent response, prompt onset.
 * - high (≥ 7): HIGH priority: emergency response, possible death with prompt onset.
 *
 * An incomplete assessment neither raises nor clears the NEWS2 alert: the last complete one stands.
 *
 * A device value enters the score only once it has persisted: each device parameter scores the least abnormal
 * value it had over the last `persistSec` seconds ({@link heldDeviceValue}), so a 2-second artefact never
 * reaches NEWS2. A parameter's first value is no exception: with no earlier value it is scored once it has been
 * the latest for `persistSec` (a spot-check cuff included), and until then the parameter is pending (listed
 * missing, so the assessment is incomplete, and shown with the value that waits: {@link pendingDeviceValue}).
 * So an artefact at the start of a stream never reaches NEWS2 either, and a pack that brings a parameter's first
 * value together with a change of another gives one transition, when both have persisted. Clinician entries
 * count at once. Local engineering choice, to be reviewed (see {@link heldDeviceValue}).
 *
 * Signal-gated readings (`sensor_contact_lost`, `signal_unreliable`) never enter the score; the assessment lists
 * the parameters whose newest device value was withheld that way, so a view can say "withheld" rather than
 * "never observed".
 *
 * A device pack is scored as a whole (`evaluatePack`): all its readings enter first, then the subject is
 * assessed once, so one pack gives at most one transition. The alert follows the patient: its reason always
 * carries the current total, band and the parameters scoring 3, and a change at the same priority is reported
 * (the alarm manager tells the sinks with an `update`). A worse assessment (a higher total, or a parameter newly
 * scoring 3) is reported at once; a better one at the same priority only after it has held for
 * {@link NEWS2_IMPROVEMENT_HOLD_SEC}, so a score wavering on a band edge does not produce an event a second.
 */
import { isSignalGated, type Reading, type ReadingFlag, type VitalKind } from "../reading.js";
import {
  NEWS2_PARAMETERS,
  type News2Band,
  type News2Parameter,
  news2Band,
  roundHalfUp,
  scoreConsciousness,
  scorePulse,
  scoreRespiratoryRate,
  scoreSpo2Scale1,
  scoreSpo2Scale2,
  scoreSupplementalOxygen,
  scoreSystolicBp,
  scoreTemperature,
} from "./news2-score.js";
import type { Acvpu, AlertPriority, ClinicianObservation, ConditionUpdate, Rule, RuleInput } from "./rule.js";
import { conditionKey } from "./rule.js";

/** NEWS2 configuration (plain data, part of the YAML schema). */
export interface News2Config {
  enabled: boolean;
  /** A parameter older than this (by its observation time) counts as missing. */
  maxAgeSec: Record<News2Parameter, number>;
  /** Alert priority per band; null = no alert. */
  bandPriority: Record<"low" | "low_medium" | "medium" | "high", AlertPriority | null>;
  /** Local policy: treat a single-parameter 3 like an aggregate 5–6 [clinical.md §2.2]. */
  redScoreAsMedium: boolean;
  /**
   * An acknowledged or silenced NEWS2 alert re-alarms, at the same priority, when the total rises by at least
   * this much above the total at the acknowledgement or silence [clinical.md §5.2 "re-alarm when the value
   * worsens by a configured delta"]. Integer ≥ 1.
   */
  realarmOnRise: number;
  /**
   * Seconds a device value must persist before NEWS2 scores it: each device parameter scores the least abnormal
   * value it had over the last `persistSec` seconds ({@link heldDeviceValue}). 0 scores every value at once.
   */
  persistSec: number;
}

/**
 * Maximum ages: device vitals 1 h, clinician entries (air/oxygen, ACVPU) 4 h. Local engineering choice, to be
 * reviewed by the clinical lead. They follow RCP NEWS2 2017 Chart 4's minimum monitoring frequencies (1-hourly
 * from a single 3 or an aggregate of 5 upwards; 4–6-hourly at 1–4): a value older than the cycle that applies
 * would no longer describe the patient. An older value is listed as stale, and the assessment is incomplete.
 */
export const DEFAULT_NEWS2_CONFIG: News2Config = {
  enabled: true,
  maxAgeSec: {
    respiratory_rate: 3600,
    spo2: 3600,
    supplemental_oxygen: 4 * 3600,
    systolic_bp: 3600,
    pulse: 3600,
    consciousness: 4 * 3600,
    temperature: 3600,
  },
  bandPriority: { low: null, low_medium: "low", medium: "medium", high: "high" },
  redScoreAsMedium: false,
  // Local engineering choice, to be reviewed: a rise of 1 can be one parameter crossing a band edge and back
  // (38.0 → 38.1 °C); 2 is a real worsening, and within HIGH (≥ 7) the band gives no further priority rise.
  realarmOnRise: 2,
  // Local engineering choice, to be reviewed (see heldDeviceValue): RCP NEWS2 2017 defines no smoothing
  // of device values; IEC 60601-1-8 allows an alarm-condition delay, and 10 s is within the 10–60 s delays that
  // cut alarm rates (Lansdowne 2016, clinical.md §5.2) and matches the built-in technical persistence (10 s).
  persistSec: 10,
};

/** Method note for the README and `vitalog` help: what the gateway's NEWS2 does and does not do. */
export const NEWS2_METHOD_NOTE = [
  "NEWS2 follows RCP 2017 Chart 1. RR, SpO2, systolic BP and pulse are rounded half-up to an integer and",
  "temperature half-up to 0.1 °C before scoring (RR 20.5 scores as 21). SpO2 scale 2 is used only when a",
  "clinician has prescribed it (target 88–92 %); on scale 2, SpO2 ≥ 93 % scores 0 on air and 1–3 on oxygen.",
  "Air/oxygen and ACVPU come only from clinician entry. If any parameter is missing or older than its",
  "maximum age, NEWS2 is reported incomplete with the missing parameters and no total.",
  "Bands: 0 zero, 1–4 low, a single 3 low-medium, 5–6 medium, ≥ 7 high. Default alert priorities:",
  "zero and low none, low-medium LOW, medium MEDIUM, high HIGH.",
  "A device value counts only once it has persisted: each device parameter scores the least abnormal value",
  "it had over the last rules.news2.persistSec seconds (default 10 s), so a shorter artefact never reaches",
  "NEWS2 and a sustained change does after persistSec. A parameter's first value, too, is scored only once",
  "it has been the latest for persistSec (it is shown as pending until then); clinician entries count at once.",
].join("\n");

/** Where a parameter value came from. */
export type News2Source =
  | { readonly type: "device"; readonly deviceId: string; readonly readingId: string }
  | { readonly type: "clinician"; readonly enteredBy: string; readonly enteredAtMs: number };

/**
 * A device value newer and more abnormal than the one scored, not yet persisted for `persistSec`: it is scored
 * once the parameter has scored at least as much from `sinceMs` for `persistSec` seconds.
 */
export interface News2Pending {
  readonly raw: number;
  readonly score: number;
  readonly observedAtMs: number;
  /** Observation time of the first sample of the run that scores at least `score`, up to the newest. */
  readonly sinceMs: number;
}

/**
 * A device parameter with values but none scored yet: its first value (or its first after a stale one) has not
 * persisted for `persistSec`. It is scored from `sinceMs + persistSec`, with the least abnormal value of that
 * window; `raw` and `score` are its newest value's.
 */
export interface News2PendingParameter {
  readonly parameter: News2Parameter;
  readonly raw: number;
  /** null only for SpO2 on scale 2 while air/oxygen is unknown. */
  readonly score: number | null;
  readonly observedAtMs: number;
  /** Observation time of the oldest value not yet persisted. */
  readonly sinceMs: number;
}

/**
 * A parameter whose newest device value was withheld by signal-quality gating: flagged `sensor_contact_lost` or
 * `signal_unreliable` (reading.ts `isSignalGated`).
 */
export interface News2Withheld {
  readonly parameter: News2Parameter;
  /** Observation time of the newest withheld value. */
  readonly observedAtMs: number;
  /** The flag that withheld it. */
  readonly flag: ReadingFlag;
}

/** One scored parameter. `score` is null only for SpO2 on scale 2 while air/oxygen is unknown. */
export interface News2ParameterResult {
  readonly parameter: News2Parameter;
  readonly raw: number | boolean | Acvpu;
  /** The value after the documented rounding (numeric parameters only). */
  readonly rounded: number | null;
  readonly score: number | null;
  readonly observedAtMs: number;
  readonly source: News2Source;
  /** The parameter's newest device value when it scores more and has not yet persisted; null otherwise. */
  readonly pending: News2Pending | null;
}

/** A NEWS2 assessment. `total` and `band` are non-null exactly when `isComplete`. */
export interface News2Assessment {
  readonly subjectId: string;
  readonly atMs: number;
  readonly scale: 1 | 2;
  readonly isComplete: boolean;
  readonly total: number | null;
  readonly band: News2Band | null;
  /** Some available parameter scores 3 ("red score"). */
  readonly hasRedScore: boolean;
  readonly parameters: readonly News2ParameterResult[];
  /** Parameters absent or stale, in chart order. */
  readonly missing: readonly News2Parameter[];
  /** The subset of `missing` that exists but is older than its maximum age. */
  readonly stale: readonly News2Parameter[];
  /** When each stale parameter was last observed. */
  readonly staleObservedAtMs: Readonly<Partial<Record<News2Parameter, number>>>;
  /** Device parameters whose values have not persisted yet (a subset of `missing`), in chart order. */
  readonly pending: readonly News2PendingParameter[];
  /** Parameters whose newest device value was withheld by signal-quality gating, in chart order. */
  readonly withheld: readonly News2Withheld[];
}

/** A parameter value as observed. */
export interface Observed<T> {
  value: T;
  observedAtMs: number;
  source: News2Source;
  /** Set on a held device value (see {@link heldDeviceValue}). */
  pending?: News2Pending | undefined;
  /** The time is the gateway clock's (no device time, or the receive time): it moves with a clock step. */
  isGatewayTimed?: boolean | undefined;
}

/**
 * How long a better assessment at the same alert priority (a lower total, a parameter no longer scoring 3) must
 * hold before the alert's text follows it. Local engineering choice, to be reviewed: the alarm manager's
 * default clear hold (30 s), the same anti-flap damping as a priority fall. A worse assessment is never held.
 */
export const NEWS2_IMPROVEMENT_HOLD_SEC = 30;

/** What the rule last reported for a subject's NEWS2 condition. */
interface Reported {
  priority: AlertPriority;
  total: number;
  red: readonly News2Parameter[];
  reason: string;
}

interface SubjectParams {
  /** Clinician entries (air/oxygen, ACVPU), the latest of each. */
  values: Partial<Record<News2Parameter, Observed<number | boolean | Acvpu>>>;
  /** Device samples per parameter, oldest first, pruned to what the persistence window needs. */
  device: Partial<Record<News2Parameter, Observed<number>[]>>;
  /** Each parameter's newest signal-gated reading: its observation time and the flag that gated it. */
  withheld: Partial<Record<News2Parameter, { atMs: number; flag: ReadingFlag; isGatewayTimed: boolean }>>;
  scale: 1 | 2;
  /** The active condition last reported; null when none is (never raised, or cleared). */
  reported: Reported | null;
  /** Since when a better assessment at the reported priority has held (null: none pending). */
  betterSinceMs: number | null;
}

/** Spacing of the samples kept of a steady value (see the device-sample push). Local engineering choice. */
const STEADY_SAMPLE_SPACING_MS = 1000;

/** Bound on the samples kept per parameter (a device sending faster than this per window loses the oldest). */
const MAX_SAMPLES_PER_PARAMETER = 512;

/** Short names of the parameters for alert text. */
export const NEWS2_PARAMETER_LABELS: Readonly<Record<News2Parameter, string>> = {
  respiratory_rate: "respiration rate",
  spo2: "SpO2",
  supplemental_oxygen: "air or oxygen",
  systolic_bp: "systolic BP",
  pulse: "pulse",
  consciousness: "consciousness",
  temperature: "temperature",
};

const KIND_TO_PARAMETER: Partial<Record<VitalKind, News2Parameter>> = {
  respiratory_rate: "respiratory_rate",
  spo2: "spo2",
  bp_systolic: "systolic_bp",
  heart_rate: "pulse",
  pulse_rate: "pulse",
  body_temperature: "temperature",
};

/**
 * Scores one subject's parameters at `nowMs`. Pure: used by the rule and directly by tests and the CLI.
 * `pending` and `withheld` are reported as given (the rule derives them from its samples); a pending parameter
 * has no entry in `values` unless an older, stale one.
 */
export function assessNews2(
  subjectId: string,
  values: Partial<Record<News2Parameter, Observed<number | boolean | Acvpu>>>,
  scale: 1 | 2,
  nowMs: number,
  config: Pick<News2Config, "maxAgeSec" | "redScoreAsMedium">,
  extra: {
    pending?: readonly News2PendingParameter[];
    withheld?: readonly News2Withheld[];
  } = {},
): News2Assessment {
  const missing: News2Parameter[] = [];
  const stale: News2Parameter[] = [];
  const staleObservedAtMs: Partial<Record<News2Parameter, number>> = {};
  const fresh: Partial<Record<News2Parameter, Observed<number | boolean | Acvpu>>> = {};
  for (const p of NEWS2_PARAMETERS) {
    const o = values[p];
    if (!o) missing.push(p);
    else if (nowMs - o.observedAtMs > config.maxAgeSec[p] * 1000) {
      missing.push(p);
      stale.push(p);
      staleObservedAtMs[p] = o.observedAtMs;
    } else fresh[p] = o;
  }
  const oxygen = fresh.supplemental_oxygen?.value as boolean | undefined;
  const parameters: News2ParameterResult[] = [];
  for (const p of NEWS2_PARAMETERS) {
    const o = fresh[p];
    if (!o) continue;
    const v = o.value;
    const rounded = typeof v === "number" ? roundHalfUp(v, p === "temperature" ? 1 : 0) : null;
    parameters.push({
      parameter: p,
      raw: v,
      rounded,
      score: scoreParameter(p, v, scale, oxygen),
      observedAtMs: o.observedAtMs,
      source: o.source,
      pending: o.pending ?? null,
    });
  }
  const hasRedScore = parameters.some((r) => r.score === 3);
  const isComplete = missing.length === 0;
  const total = isComplete ? parameters.reduce((sum, r) => sum + (r.score ?? 0), 0) : null;
  return {
    subjectId,
    atMs: nowMs,
    scale,
    isComplete,
    total,
    band: total === null ? null : news2Band(total, hasRedScore, config.redScoreAsMedium),
    hasRedScore,
    parameters,
    missing,
    stale,
    staleObservedAtMs,
    pending: extra.pending ?? [],
    withheld: extra.withheld ?? [],
  };
}

/**
 * One parameter's score [RCP NEWS2 2017 Chart 1]; null only for SpO2 on scale 2 while air/oxygen is unknown
 * (`isOnOxygen` undefined).
 */
export function scoreParameter(
  p: News2Parameter,
  v: number | boolean | Acvpu,
  scale: 1 | 2,
  isOnOxygen: boolean | undefined,
): number | null {
  if (p === "supplemental_oxygen") return scoreSupplementalOxygen(v as boolean);
  if (p === "consciousness") return scoreConsciousness(v as Acvpu);
  const n = v as number;
  if (p === "respiratory_rate") return scoreRespiratoryRate(n);
  if (p === "systolic_bp") return scoreSystolicBp(n);
  if (p === "pulse") return scorePulse(n);
  if (p === "temperature") return scoreTemperature(n);
  if (scale === 1) return scoreSpo2Scale1(n);
  return isOnOxygen === undefined ? null : scoreSpo2Scale2(n, isOnOxygen);
}

/**
 * The value a device parameter scores at `nowMs`, given its samples (oldest first): the least abnormal value the
 * parameter had over the last `persistMs`, reading the samples as a signal that holds each value until the next
 * one. The candidates are the sample in force at the window's start plus the samples observed within it; samples
 * older than `maxAgeMs` are no candidates (when all are, the newest is returned and the assessment calls the
 * parameter stale). Among equally abnormal candidates the newest is scored. When the newest sample scores more
 * than the value scored, it is returned as `pending`.
 *
 * Without a sample in force at the window's start nothing has persisted, so nothing is scored: undefined is
 * returned, or the newest sample older than `maxAgeMs` when there is one (the assessment calls it stale), and
 * {@link pendingDeviceValue} describes what waits. So a value is scored once the parameter has been at least
 * that abnormal for `persistMs` (a 2-second artefact never is, with the 10 s default, at the start of a stream
 * no more than later), a sample that stays the latest for `persistMs` is scored (a cuff every 2 min, a spot
 * check, a parameter's first value), and an improvement counts at once (the alert's own damping holds a better
 * text 30 s and a priority fall for `clearHoldSec`). Local engineering choice, to be reviewed: RCP NEWS2 2017
 * defines no smoothing of device values; IEC 60601-1-8 allows an alarm-condition delay, and clinical.md §5.2
 * gives the evidence that such delays cut false alarms.
 */
export function heldDeviceValue(
  samples: readonly Observed<number>[],
  nowMs: number,
  persistMs: number,
  maxAgeMs: number,
  score: (value: number) => number | null,
): Observed<number> | undefined {
  const newest = samples.at(-1);
  if (!newest) return undefined;
  const isFresh = (o: Observed<number>) => nowMs - o.observedAtMs <= maxAgeMs;
  if (!isFresh(newest)) return newest;
  const first = inForceAt(samples, nowMs - persistMs);
  if (first < 0) return undefined;
  if (!isFresh(samples[first]!)) return samples[first];
  // a missing score (SpO2 scale 2, air/oxygen unknown) is missing for every sample alike
  const rank = (o: Observed<number>) => score(o.value) ?? 0;
  let held = newest;
  for (let i = samples.length - 2; i >= first; i--) if (rank(samples[i]!) < rank(held)) held = samples[i]!;
  const top = rank(newest);
  if (held === newest || top <= rank(held)) return held;
  let sinceMs = newest.observedAtMs;
  for (let i = samples.length - 2; i >= 0 && rank(samples[i]!) >= top; i--)
    sinceMs = samples[i]!.observedAtMs;
  return {
    ...held,
    pending: { raw: newest.value, score: top, observedAtMs: newest.observedAtMs, sinceMs },
  };
}

/**
 * What waits when {@link heldDeviceValue} scores no fresh value: the parameter's samples younger than `maxAgeMs`
 * that have not persisted (none was in force `persistMs` ago, or only one older than `maxAgeMs` was). Null when
 * a fresh value is scored, or when every sample is older than `maxAgeMs`.
 */
export function pendingDeviceValue(
  parameter: News2Parameter,
  samples: readonly Observed<number>[],
  nowMs: number,
  persistMs: number,
  maxAgeMs: number,
  score: (value: number) => number | null,
): News2PendingParameter | null {
  const newest = samples.at(-1);
  if (!newest || nowMs - newest.observedAtMs > maxAgeMs) return null;
  const first = inForceAt(samples, nowMs - persistMs);
  if (first >= 0 && nowMs - samples[first]!.observedAtMs <= maxAgeMs) return null;
  const oldest = samples[first + 1]!;
  return {
    parameter,
    raw: newest.value,
    score: score(newest.value),
    observedAtMs: newest.observedAtMs,
    sinceMs: oldest.observedAtMs,
  };
}

/** Index of the sample in force at `atMs` (the newest observed at or before it); -1 when none is. */
function inForceAt(samples: readonly Observed<number>[], atMs: number): number {
  let at = -1;
  for (let i = 0; i < samples.length; i++) if (samples[i]!.observedAtMs <= atMs) at = i;
  return at;
}

/** The alert priority of a band under `config` (null: no alert, or no band because incomplete). */
export function news2Priority(
  band: News2Band | null,
  config: Pick<News2Config, "bandPriority">,
): AlertPriority | null {
  return band === null || band === "zero" ? null : config.bandPriority[band];
}

/**
 * The NEWS2 rule: one condition per subject, key `${subjectId}:news2`, priority from the band. Signal-gated
 * readings (`sensor_contact_lost`, `signal_unreliable`) are not patient values and never enter the score
 * [clinical.md §5.2 signal-quality gating]; they are only remembered as withheld.
 */
export class News2Rule implements Rule {
  readonly id = "news2";
  readonly category = "physiological" as const;
  readonly #config: News2Config;
  readonly #subjects = new Map<string, SubjectParams>();

  constructor(config: News2Config) {
    for (const p of NEWS2_PARAMETERS) {
      const age = config.maxAgeSec[p];
      if (!(age > 0)) throw new RangeError(`news2.maxAgeSec.${p} must be > 0`);
    }
    if (!(Number.isInteger(config.realarmOnRise) && config.realarmOnRise >= 1)) {
      throw new RangeError("news2.realarmOnRise must be an integer >= 1");
    }
    if (!(config.persistSec >= 0 && Number.isFinite(config.persistSec)))
      throw new RangeError("news2.persistSec must be a finite number >= 0");
    this.#config = config;
  }

  evaluate(input: RuleInput, nowMs: number): readonly ConditionUpdate[] {
    if (!this.#config.enabled) return [];
    if (input.type === "reading") return this.evaluatePack([input.reading], nowMs);
    const out: ConditionUpdate[] = [];
    if (input.type === "clinician_observation") {
      this.#onObservation(input.observation);
      this.#report(input.observation.subjectId, nowMs, out);
    } else if (input.type === "tick") {
      for (const subjectId of this.#subjects.keys()) this.#report(subjectId, nowMs, out);
    }
    return out;
  }

  /**
   * Scores the readings of one device frame as a whole: every reading enters first, then each subject they
   * belong to is assessed once. Same contract as `evaluate` (synchronous, no I/O, never throws).
   */
  evaluatePack(readings: readonly Reading[], nowMs: number): readonly ConditionUpdate[] {
    if (!this.#config.enabled) return [];
    const changed = new Set<string>();
    for (const r of readings) if (this.#onReading(r, nowMs)) changed.add(r.subjectId);
    const out: ConditionUpdate[] = [];
    for (const subjectId of changed) this.#report(subjectId, nowMs, out);
    return out;
  }

  /** The current assessment of a subject (incomplete with every parameter missing when unknown). */
  assess(subjectId: string, nowMs: number): News2Assessment {
    const s = this.#subjects.get(subjectId);
    if (!s) return assessNews2(subjectId, {}, 1, nowMs, this.#config);
    return this.#assess(subjectId, s, nowMs);
  }

  /** Subjects with at least one NEWS2 parameter or SpO2 scale on record, in first-seen order. */
  subjects(): string[] {
    return [...this.#subjects.keys()];
  }

  forgetSubject(subjectId: string): void {
    this.#subjects.delete(subjectId);
  }

  /**
   * The gateway clock was stepped (clock.ts): the times kept in the gateway's timebase move with it (clinician
   * entries, receipt-timed device samples, the improvement hold), so a parameter's age and persistence stay
   * true. A device's own observation times did not step.
   */
  clockStepped(deltaMs: number): void {
    for (const s of this.#subjects.values()) {
      if (s.betterSinceMs !== null) s.betterSinceMs += deltaMs;
      for (const o of Object.values(s.values)) if (o) o.observedAtMs += deltaMs;
      for (const samples of Object.values(s.device))
        for (const o of samples ?? []) if (o.isGatewayTimed === true) o.observedAtMs += deltaMs;
      for (const w of Object.values(s.withheld)) if (w?.isGatewayTimed) w.atMs += deltaMs;
    }
  }

  #subject(subjectId: string): SubjectParams {
    let s = this.#subjects.get(subjectId);
    if (!s) {
      s = { values: {}, device: {}, withheld: {}, scale: 1, reported: null, betterSinceMs: null };
      this.#subjects.set(subjectId, s);
    }
    return s;
  }

  #onReading(reading: Reading, nowMs: number): boolean {
    const p = KIND_TO_PARAMETER[reading.kind];
    if (!p) return false;
    // A buffered upload is as old as its observation; a device clock ahead of ours is not trusted.
    const observedAtMs = Math.min(reading.observedAtMs, reading.receivedAtMs);
    const s = this.#subject(reading.subjectId);
    if (isSignalGated(reading.flags)) {
      // [clinical.md §5.2 signal-quality gating] not a patient value: only remembered as withheld
      const prev = s.withheld[p];
      if (prev && prev.atMs > observedAtMs) return false;
      const flag = reading.flags.find((f) => f === "sensor_contact_lost") ?? "signal_unreliable";
      const isGatewayTimed = reading.deviceTimeMs === null || observedAtMs === reading.receivedAtMs;
      s.withheld[p] = { atMs: observedAtMs, flag, isGatewayTimed };
      return true;
    }
    const samples = s.device[p] ?? [];
    s.device[p] = samples;
    const prev = samples.at(-1);
    if (prev && prev.observedAtMs > observedAtMs) return false;
    if (prev && prev.observedAtMs === observedAtMs) samples.pop();
    // a steady value sent many times a second: within {@link STEADY_SAMPLE_SPACING_MS} of the run's kept sample
    // before it, the newest of a run of equal values replaces the previous newest. The run's first sample stays
    // (where a worse value started), and so does its newest (ties score the newest), so what is scored is the
    // same; the sample in force at the window's start may be up to that spacing older, which only a maximum age
    // (minutes) reads. It keeps the samples a few per second whatever the device's rate, and the assessment
    // of every pack cheap.
    const last = samples.at(-1);
    const beforeLast = samples.at(-2);
    if (
      last?.value === reading.value &&
      beforeLast?.value === reading.value &&
      observedAtMs - beforeLast.observedAtMs < STEADY_SAMPLE_SPACING_MS
    )
      samples.pop();
    samples.push({
      value: reading.value,
      observedAtMs,
      source: { type: "device", deviceId: reading.deviceId, readingId: reading.id },
      isGatewayTimed: reading.deviceTimeMs === null || observedAtMs === reading.receivedAtMs,
    });
    this.#prune(samples, nowMs);
    return true;
  }

  /** Drops the samples the persistence window no longer needs (all before the one in force at its start). */
  #prune(samples: Observed<number>[], nowMs: number): void {
    const windowStartMs = nowMs - this.#config.persistSec * 1000;
    let first = 0;
    for (let i = 0; i < samples.length; i++) if (samples[i]!.observedAtMs <= windowStartMs) first = i;
    first = Math.max(first, samples.length - MAX_SAMPLES_PER_PARAMETER);
    if (first > 0) samples.splice(0, first);
  }

  /** A subject's assessment at `nowMs`: clinician entries, held device values, pending and withheld ones. */
  #assess(subjectId: string, s: SubjectParams, nowMs: number): News2Assessment {
    const values: Partial<Record<News2Parameter, Observed<number | boolean | Acvpu>>> = { ...s.values };
    const pending: News2PendingParameter[] = [];
    const withheld: News2Withheld[] = [];
    const o2 = s.values.supplemental_oxygen;
    const isOnOxygen =
      o2 && nowMs - o2.observedAtMs <= this.#config.maxAgeSec.supplemental_oxygen * 1000
        ? (o2.value as boolean)
        : undefined;
    for (const p of NEWS2_PARAMETERS) {
      const samples = s.device[p] ?? [];
      const persistMs = this.#config.persistSec * 1000;
      const maxAgeMs = this.#config.maxAgeSec[p] * 1000;
      const score = (v: number) => scoreParameter(p, v, s.scale, isOnOxygen);
      const held = heldDeviceValue(samples, nowMs, persistMs, maxAgeMs, score);
      if (held) values[p] = held;
      const waiting = pendingDeviceValue(p, samples, nowMs, persistMs, maxAgeMs, score);
      if (waiting) pending.push(waiting);
      // withheld when the newest device reading was gated (a value taken since contact came back supersedes it)
      const gated = s.withheld[p];
      if (gated && gated.atMs > (samples.at(-1)?.observedAtMs ?? Number.NEGATIVE_INFINITY))
        withheld.push({ parameter: p, observedAtMs: gated.atMs, flag: gated.flag });
    }
    return assessNews2(subjectId, values, s.scale, nowMs, this.#config, { pending, withheld });
  }

  #onObservation(obs: ClinicianObservation): void {
    const s = this.#subject(obs.subjectId);
    const source: News2Source = { type: "clinician", enteredBy: obs.enteredBy, enteredAtMs: obs.enteredAtMs };
    const put = (p: News2Parameter, value: boolean | Acvpu | undefined) => {
      const prev = s.values[p];
      if (value === undefined || (prev && prev.observedAtMs > obs.observedAtMs)) return;
      s.values[p] = { value, observedAtMs: obs.observedAtMs, source };
    };
    put("supplemental_oxygen", obs.supplementalOxygen);
    put("consciousness", obs.consciousness);
    if (obs.spo2Scale !== undefined) s.scale = obs.spo2Scale;
  }

  #report(subjectId: string, nowMs: number, out: ConditionUpdate[]): void {
    const s = this.#subjects.get(subjectId);
    if (!s) return;
    for (const samples of Object.values(s.device)) this.#prune(samples, nowMs);
    const a = this.#assess(subjectId, s, nowMs);
    if (!a.isComplete || a.band === null || a.total === null) {
      s.betterSinceMs = null;
      return;
    }
    const priority = news2Priority(a.band, this.#config);
    const key = conditionKey(subjectId, "news2");
    const summary = `NEWS2 ${a.total} (${a.band.replace("_", "-")} clinical risk, SpO2 scale ${a.scale})`;
    const prev = s.reported;
    if (priority === null) {
      s.betterSinceMs = null;
      if (prev === null) return;
      s.reported = null;
      out.push({ type: "clear", key, reason: summary });
      return;
    }
    const red = a.parameters.filter((r) => r.score === 3).map((r) => r.parameter);
    const reason =
      red.length > 0
        ? `${summary}; scoring 3: ${red.map((p) => NEWS2_PARAMETER_LABELS[p]).join(", ")}`
        : summary;
    if (prev !== null && prev.priority === priority) {
      if (reason === prev.reason) {
        s.betterSinceMs = null;
        return;
      }
      const isWorse = a.total > prev.total || red.some((p) => !prev.red.includes(p));
      if (!isWorse) {
        // [clinical.md §5.2 hysteresis] an improvement is believed once it holds, as a priority fall is
        s.betterSinceMs ??= nowMs;
        if (nowMs - s.betterSinceMs < NEWS2_IMPROVEMENT_HOLD_SEC * 1000) return;
      }
    }
    s.betterSinceMs = null;
    s.reported = { priority, total: a.total, red, reason };
    out.push({
      type: "active",
      condition: {
        key,
        ruleId: "news2",
        subjectId,
        deviceId: null,
        priority,
        category: "physiological",
        reason,
        // the newest measurement the score rests on: what the alert says was measured when
        observedAtMs: Math.max(...a.parameters.map((r) => r.observedAtMs)),
        isReasonTracked: true,
        severity: { value: a.total, realarmOnRise: this.#config.realarmOnRise },
      },
    });
  }
}
