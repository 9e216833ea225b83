import type { DeviceStatusInput, ReadingInput, VitalKind } from "../../reading.js";
import { isVitalKind } from "../../reading.js";
import { FEATURE_SECONDARY_UNITS, parseSenml, type ResolvedRecord, SenmlError } from "./senml.js";

/** A record the payload carried but that cannot become a reading; the rest of the payload still counts. */
export interface RecordRejection {
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

/** SenML record names (the part after the base name's last ":") and the vital they carry. */
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
  for (const rec of records) {
    const reject = (reason: string, detail: string) =>
      out.rejected.push({ index: rec.index, reason, detail });
    const suffix = rec.name.slice(rec.name.lastIndexOf(":") + 1);
    const kind = Object.hasOwn(SENML_NAMES, suffix) ? SENML_NAMES[suffix] : undefined;
    if (!kind) {
      reject("unknown_vital", `record ${rec.index} name ${JSON.stringify(rec.name)} is not a known vital`);
      continue;
    }
    const time = rec.isRelativeTime ? { timeOffsetMs: rec.time * 1000 } : { deviceTimeMs: rec.time * 1000 };
    if (kind === "contact") {
      if (rec.boolValue === undefined) {
        reject("senml_invalid_field", `record ${rec.index} contact needs a boolean value (vb)`);
        continue;
      }
      out.status = { ...out.status, sensorContact: rec.boolValue };
      continue;
    }
    if (rec.value === undefined) {
      reject("senml_no_value", `record ${rec.index} ${suffix} needs a numeric value (v)`);
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
          `record ${rec.index} unit ${JSON.stringify(rec.unit)} is not a supported SenML unit${map ? " without bver 26" : ""}`,
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
  return out;
}

/**
 * Decodes the plain JSON form:
 * `{"time"?: ms|ISO-8601, "readings": [{"kind","value","unit","time"?}], "battery_pct"?, "sensor_contact"?}`.
 * Units are UCUM codes; time is the device clock.
 */
export function decodePlainJson(text: string): DecodedPayload {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new PayloadError(
      "payload_malformed_json",
      `payload is not valid JSON: ${(cause as Error).message}`,
    );
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new PayloadError("json_not_object", "plain JSON payload must be an object");
  }
  const d = doc as Record<string, unknown>;
  if (!Array.isArray(d.readings)) throw new PayloadError("json_invalid_field", "readings must be an array");
  const packTime = d.time === undefined ? undefined : parseTime(d.time);
  if (packTime === null)
    throw new PayloadError("json_invalid_field", "time must be epoch ms or an ISO-8601 string");
  const out: DecodedPayload = { inputs: [], status: undefined, rejected: [] };
  d.readings.forEach((r: unknown, index) => {
    if (r === null || typeof r !== "object") {
      out.rejected.push({
        index,
        reason: "json_invalid_field",
        detail: `readings[${index}] is not an object`,
      });
      return;
    }
    const { kind, value, unit, time } = r as Record<string, unknown>;
    if (!isVitalKind(kind)) {
      out.rejected.push({
        index,
        reason: "unknown_vital",
        detail: `readings[${index}].kind ${JSON.stringify(kind)}`,
      });
      return;
    }
    if (typeof value !== "number" || typeof unit !== "string") {
      out.rejected.push({
        index,
        reason: "json_invalid_field",
        detail: `readings[${index}] needs numeric value and unit`,
      });
      return;
    }
    const t = time === undefined ? packTime : parseTime(time);
    if (t === null) {
      out.rejected.push({
        index,
        reason: "device_time_invalid",
        detail: `readings[${index}].time is not a time`,
      });
      return;
    }
    out.inputs.push({ kind, value, unit, ...(t === undefined ? {} : { deviceTimeMs: t }) });
  });
  if (d.battery_pct !== undefined) {
    if (typeof d.battery_pct !== "number")
      throw new PayloadError("json_invalid_field", "battery_pct must be a number");
    out.status = { ...out.status, batteryPct: d.battery_pct };
  }
  if (d.sensor_contact !== undefined) {
    if (typeof d.sensor_contact !== "boolean") {
      throw new PayloadError("json_invalid_field", "sensor_contact must be a boolean");
    }
    out.status = { ...out.status, sensorContact: d.sensor_contact };
  }
  return out;
}

function parseTime(t: unknown): number | null {
  if (typeof t === "number" && Number.isFinite(t)) return t;
  if (typeof t === "string") {
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}
