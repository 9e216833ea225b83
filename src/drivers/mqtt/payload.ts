/**
 * Device payloads over MQTT (SenML and the plain JSON form) to reading inputs. Pure; no Node-only APIs.
 * Bounded by PAYLOAD_LIMITS (json-bounds.ts); details name limits and positions, never more than a short
 * excerpt of what the device sent (describe-value.ts).
 */

import { describeValue } from "../../describe-value.js";
import type { DeviceStatusInput, ReadingInput, VitalKind } from "../../reading.js";
import { isVitalKind, UNREADABLE_CONTACT_STATUS } from "../../reading.js";
import { PAYLOAD_LIMITS, parseBoundedJson } from "./json-bounds.js";
import { FEATURE_SECONDARY_UNITS, parseSenml, type ResolvedRecord, SenmlError } from "./senml.js";

/** A record the payload carried but that cannot become a reading; the rest of the payload still counts. */
export interface RecordRejection {
  /** Position of the record in the pack (SenML) or in `readings` (plain JSON); -1 for a payload-level field. */
  index: number;
  reason: string;
  detail: string;
}

/** What one MQTT payload decodes to. */
export interface DecodedPayload {
  inputs: ReadingInput[];
  status: DeviceStatusInput | undefined;
  rejected: RecordRejection[];
}

/** A payload that cannot be decoded at all. */
export class PayloadError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = "PayloadError";
    this.reason = reason;
  }
}

/**
 * SenML record names (the part after the base name's last ":") and the vital they carry. `battery` and
 * `contact` are device status, not readings: `contact` (`vb`) false flags every reading of the pack, and the
 * device's later ones until a pack says true, `sensor_contact_lost` (ingest.ts); a `contact` record that cannot
 * be read (no boolean `vb`) flags the pack's readings `signal_unreliable` ({@link UNREADABLE_CONTACT_STATUS}).
 */
export const SENML_NAMES: Readonly<Record<string, VitalKind | "battery" | "contact">> = {
  hr: "heart_rate",
  heart_rate: "heart_rate",
  pr: "pulse_rate",
  pulse: "pulse_rate",
  pulse_rate: "pulse_rate",
  spo2: "spo2",
  rr: "respiratory_rate",
  resp: "respiratory_rate",
  respiratory_rate: "respiratory_rate",
  temp: "body_temperature",
  body_temperature: "body_temperature",
  sbp: "bp_systolic",
  bp_systolic: "bp_systolic",
  dbp: "bp_diastolic",
  bp_diastolic: "bp_diastolic",
  map: "bp_mean",
  bp_mean: "bp_mean",
  glu: "glucose",
  glucose: "glucose",
  wt: "body_weight",
  body_weight: "body_weight",
  bat: "battery",
  battery: "battery",
  contact: "contact",
};

/**
 * SenML unit → (UCUM unit, scale). [clinical.md §4.3] SenML "%" is a starred synonym of "/"
 * (a ratio), not a percentage; "/100" is a secondary unit that needs bver feature bit 4.
 */
const SENML_UNITS: Readonly<Record<string, { ucum: string; scale: number; secondary?: boolean }>> = {
  "1/s": { ucum: "1/s", scale: 1 },
  "beat/min": { ucum: "/min", scale: 1 },
  "1/min": { ucum: "/min", scale: 1 },
  "/": { ucum: "%", scale: 100 },
  "%": { ucum: "%", scale: 100 },
  "/100": { ucum: "%", scale: 1, secondary: true },
  Cel: { ucum: "Cel", scale: 1 },
  K: { ucum: "K", scale: 1 },
  Pa: { ucum: "Pa", scale: 1 },
  hPa: { ucum: "kPa", scale: 0.1, secondary: true },
  "kg/m3": { ucum: "kg/m3", scale: 1 },
  kg: { ucum: "kg", scale: 1 },
  g: { ucum: "g", scale: 1 },
};

// [RFC 8259 §8.1] JSON text exchanged between systems MUST be UTF-8; fatal: a bad sequence throws instead of
// becoming U+FFFD. A leading BOM is ignored, as §8.1 allows.
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes one MQTT payload in the topic's format. For any bytes it returns a DecodedPayload or throws a
 * PayloadError: never another exception, never a stack overflow (no recursion over the input).
 */
export function decodePayload(format: "senml" | "json", bytes: Uint8Array): DecodedPayload {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new PayloadError("payload_invalid_utf8", "payload is not valid UTF-8");
  }
  return format === "senml" ? decodeSenml(text) : decodePlainJson(text);
}

/** Decodes a SenML JSON pack. Pack-level errors throw PayloadError; record-level ones are listed. */
export function decodeSenml(text: string): DecodedPayload {
  let records: ResolvedRecord[];
  try {
    records = parseSenml(text);
  } catch (e) {
    if (e instanceof SenmlError) throw new PayloadError(e.reason, e.message);
    throw e;
  }
  const out: DecodedPayload = { inputs: [], status: undefined, rejected: [] };
  let isContactUnreadable = false;
  for (const rec of records) {
    const reject = (reason: string, detail: string) =>
      out.rejected.push({ index: rec.index, reason, detail });
    const suffix = rec.name.slice(rec.name.lastIndexOf(":") + 1);
    const kind = Object.hasOwn(SENML_NAMES, suffix) ? SENML_NAMES[suffix] : undefined;
    if (!kind) {
      reject("unknown_vital", `record ${rec.index} name ${describeValue(rec.name)} is not a known vital`);
      continue;
    }
    if (rec.isRelativeTime && !(rec.time >= PAYLOAD_LIMITS.relativeTime.minSec)) {
      if (kind === "contact") isContactUnreadable = true;
      reject(
        PAYLOAD_LIMITS.relativeTime.reason,
        `record ${rec.index} relative time is more than ${-PAYLOAD_LIMITS.relativeTime.minSec} s before receipt`,
      );
      continue;
    }
    const time = rec.isRelativeTime ? { timeOffsetMs: rec.time * 1000 } : { deviceTimeMs: rec.time * 1000 };
    if (kind === "contact") {
      if (rec.boolValue === undefined) {
        isContactUnreadable = true;
        reject("senml_invalid_field", `record ${rec.index} contact needs a boolean value (vb)`);
        continue;
      }
      // The pack's contact status applies to all its readings, wherever the record stands [clinical.md §5.2
      // "Signal-quality gating"]: one record saying no contact makes the whole pack suspect, even if a later
      // record says contact again (the next pack restores it).
      out.status = { ...out.status, sensorContact: (out.status?.sensorContact ?? true) && rec.boolValue };
      continue;
    }
    if (rec.value === undefined) {
      reject("senml_no_value", `record ${rec.index} ${suffix} needs a numeric value (v)`);
      continue;
    }
    // finite labels can still add up to infinity (bv + v)
    if (!Number.isFinite(rec.value)) {
      reject("value_not_finite", `record ${rec.index} ${suffix} value is not finite`);
      continue;
    }
    if (kind === "battery") {
      if (rec.unit !== "%EL") {
        reject("unit_unsupported", `record ${rec.index} battery must be in %EL`);
        continue;
      }
      out.status = { ...out.status, batteryPct: rec.value };
      continue;
    }
    let unit: string;
    let value = rec.value;
    if (rec.ucum !== undefined) {
      if (rec.unit !== undefined) {
        reject("senml_invalid_field", `record ${rec.index} has both u and ucum_`);
        continue;
      }
      unit = rec.ucum;
    } else if (rec.unit === undefined) {
      reject("unit_missing", `record ${rec.index} ${suffix} has no unit (u, bu or ucum_)`);
      continue;
    } else {
      const map = Object.hasOwn(SENML_UNITS, rec.unit) ? SENML_UNITS[rec.unit] : undefined;
      if (!map || (map.secondary && (rec.version & FEATURE_SECONDARY_UNITS) === 0)) {
        reject(
          "unit_unsupported",
          `record ${rec.index} unit ${describeValue(rec.unit)} is not a supported SenML unit${map ? " without bver 26" : ""}`,
        );
        continue;
      }
      if (rec.unit === "%" && value > 1) {
        reject(
          "unit_unsupported",
          `record ${rec.index}: SenML "%" is a ratio (RFC 8428), so ${value} would be ${value * 100} %; send "/" with 0.97 or "/100" with bver 26`,
        );
        continue;
      }
      unit = map.ucum;
      value *= map.scale;
    }
    out.inputs.push({ kind, value, unit, ...time });
  }
  // a readable "no contact" already gates every reading of the pack (ingest); otherwise an unreadable status
  // does, and one readable "contact" record does not outweigh it
  if (isContactUnreadable && out.status?.sensorContact !== false) markContactUnreadable(out);
  return out;
}

/**
 * Flags every input of the payload `signal_unreliable` and names {@link UNREADABLE_CONTACT_STATUS} in its
 * status, dropping a "contact" the same payload may also say [clinical.md §5.2 "Signal-quality gating": a
 * status the gateway cannot read must not let the values through as if in contact]. The status field itself
 * is still refused and counted, and the device's contact state is left as it was: it restores nothing.
 */
function markContactUnreadable(out: DecodedPayload): void {
  out.inputs = out.inputs.map((input) => ({
    ...input,
    flags: [...new Set([...(input.flags ?? []), "signal_unreliable" as const])].sort(),
  }));
  const { sensorContact: _contact, ...rest } = out.status ?? {};
  const issues = [...(rest.measurementIssues ?? []), UNREADABLE_CONTACT_STATUS];
  out.status = { ...rest, measurementIssues: issues };
}

/**
 * Decodes the plain JSON form:
 * `{"time"?: ms|ISO-8601, "readings": [{"kind","value","unit","time"?}], "battery_pct"?, "sensor_contact"?}`.
 * Units are UCUM codes; time is the device clock. `sensor_contact: false` applies to every reading of the
 * payload and to the device's later readings until a payload says true (ingest.ts); a `sensor_contact` that is
 * not a boolean is refused (`json_invalid_field`) and flags the payload's readings `signal_unreliable`
 * ({@link UNREADABLE_CONTACT_STATUS}).
 */
export function decodePlainJson(text: string): DecodedPayload {
  const parsed = parseBoundedJson(text);
  if (!parsed.ok) throw new PayloadError(parsed.reason, parsed.detail);
  const doc = parsed.value;
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new PayloadError("json_not_object", "plain JSON payload must be an object");
  }
  const d = doc as Record<string, unknown>;
  const labels = Object.keys(d).length;
  if (labels > PAYLOAD_LIMITS.labels.max) {
    throw new PayloadError(
      PAYLOAD_LIMITS.labels.reason,
      `payload has ${labels} fields, more than ${PAYLOAD_LIMITS.labels.max}`,
    );
  }
  if (!Array.isArray(d.readings)) throw new PayloadError("json_invalid_field", "readings must be an array");
  if (d.readings.length > PAYLOAD_LIMITS.records.max) {
    throw new PayloadError(
      PAYLOAD_LIMITS.records.reason,
      `readings has ${d.readings.length} entries, more than ${PAYLOAD_LIMITS.records.max}`,
    );
  }
  const packTime = d.time === undefined ? undefined : parseTime(d.time);
  if (packTime === null)
    throw new PayloadError("json_invalid_field", "time must be epoch ms or an ISO-8601 string");
  const out: DecodedPayload = { inputs: [], status: undefined, rejected: [] };
  d.readings.forEach((r: unknown, index) => {
    const reading = decodePlainReading(r, index, packTime);
    if ("reason" in reading) out.rejected.push(reading);
    else out.inputs.push(reading);
  });
  if (d.battery_pct !== undefined) {
    if (typeof d.battery_pct !== "number")
      throw new PayloadError("json_invalid_field", "battery_pct must be a number");
    out.status = { ...out.status, batteryPct: d.battery_pct };
  }
  if (d.sensor_contact !== undefined) {
    if (typeof d.sensor_contact === "boolean") {
      out.status = { ...out.status, sensorContact: d.sensor_contact };
    } else {
      // the field is refused (counted) and the readings are kept, but never as if in contact
      out.rejected.push({
        index: -1,
        reason: "json_invalid_field",
        detail: "sensor_contact must be a boolean",
      });
      markContactUnreadable(out);
    }
  }
  return out;
}

function decodePlainReading(
  r: unknown,
  index: number,
  packTime: number | undefined,
): ReadingInput | RecordRejection {
  const refuse = (reason: string, detail: string): RecordRejection => ({ index, reason, detail });
  if (r === null || typeof r !== "object" || Array.isArray(r)) {
    return refuse("json_invalid_field", `readings[${index}] is not an object`);
  }
  const fields = r as Record<string, unknown>;
  const labels = Object.keys(fields).length;
  if (labels > PAYLOAD_LIMITS.labels.max) {
    return refuse(
      PAYLOAD_LIMITS.labels.reason,
      `readings[${index}] has ${labels} fields, more than ${PAYLOAD_LIMITS.labels.max}`,
    );
  }
  const { kind, value, unit, time } = fields;
  if (typeof kind === "string" && kind.length > PAYLOAD_LIMITS.name.maxChars) {
    return refuse(
      PAYLOAD_LIMITS.name.reason,
      `readings[${index}].kind has ${kind.length} characters, more than ${PAYLOAD_LIMITS.name.maxChars}`,
    );
  }
  if (!isVitalKind(kind)) return refuse("unknown_vital", `readings[${index}].kind ${describeValue(kind)}`);
  if (typeof value !== "number" || typeof unit !== "string") {
    return refuse("json_invalid_field", `readings[${index}] needs numeric value and unit`);
  }
  if (unit.length > PAYLOAD_LIMITS.unit.maxChars) {
    return refuse(
      PAYLOAD_LIMITS.unit.reason,
      `readings[${index}].unit has ${unit.length} characters, more than ${PAYLOAD_LIMITS.unit.maxChars}`,
    );
  }
  const t = time === undefined ? packTime : parseTime(time);
  if (t === null) return refuse("device_time_invalid", `readings[${index}].time is not a time`);
  return { kind, value, unit, ...(t === undefined ? {} : { deviceTimeMs: t }) };
}

/** Longest time string read: an ISO-8601 date-time with fraction and offset fits in 40 characters. */
const MAX_TIME_STRING_CHARS = 64;

function parseTime(t: unknown): number | null {
  if (typeof t === "number" && Number.isFinite(t)) return t;
  if (typeof t === "string" && t.length <= MAX_TIME_STRING_CHARS) {
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}
