/**
 * Glucose Measurement 0x2A18 (notify) [clinical.md §1.7]:
 * `Flags(1) | Sequence Number uint16 | Base Time(7) | [Time Offset sint16 min] |
 * [Concentration SFLOAT | Type-Sample Location(1)] | [Sensor Status Annunciation uint16]`.
 * Measurement time = Base Time + Time Offset. kg/L → mg/dL (×10^5) and mol/L → mmol/L (×10^3) are exact
 * decimal shifts of the SFLOAT exponent, so no precision is lost.
 */
import type { ReadingFlag } from "../../reading.js";
import { ByteReader } from "./byte-reader.js";
import { type DateTimeFields, readDateTime } from "./date-time.js";
import {
  bitNames,
  type DecodeContext,
  type DecodeResult,
  type DeviceCondition,
  ResultBuilder,
} from "./decode-result.js";
import {
  type GlucoseSampleLocation,
  type GlucoseSampleType,
  glucoseLoinc,
  glucoseMdc,
  glucoseSampleLocationName,
  glucoseSampleTypeName,
} from "./glucose-sample.js";
import type { MderNumber } from "./ieee11073.js";

/** [clinical.md §1.7] Sensor Status Annunciation bits 0–11 (12–15 RFU). */
export const GLUCOSE_SENSOR_STATUS_BITS = {
  0: "device_battery_low",
  1: "sensor_malfunction",
  2: "sample_size_insufficient",
  3: "strip_insertion_error",
  4: "strip_type_incorrect",
  5: "result_higher_than_device_can_process",
  6: "result_lower_than_device_can_process",
  7: "sensor_temperature_too_high",
  8: "sensor_temperature_too_low",
  9: "read_interrupted",
  10: "general_device_fault",
  11: "time_fault",
} as const;

export type GlucoseSensorStatusName =
  (typeof GLUCOSE_SENSOR_STATUS_BITS)[keyof typeof GLUCOSE_SENSOR_STATUS_BITS];

const SSA_CONDITION: Record<GlucoseSensorStatusName, DeviceCondition> = {
  device_battery_low: "battery_low",
  sensor_malfunction: "sensor_malfunction",
  sample_size_insufficient: "sample_error",
  strip_insertion_error: "sample_error",
  strip_type_incorrect: "sample_error",
  result_higher_than_device_can_process: "result_out_of_device_range",
  result_lower_than_device_can_process: "result_out_of_device_range",
  sensor_temperature_too_high: "sensor_temperature_out_of_range",
  sensor_temperature_too_low: "sensor_temperature_out_of_range",
  read_interrupted: "sample_error",
  general_device_fault: "device_fault",
  time_fault: "time_fault",
};

/** SSA bits that make the value itself unreliable. Out-of-range (5/6) is not one: a "HI" must still alert. */
export const SSA_UNRELIABLE: readonly GlucoseSensorStatusName[] = [
  "sensor_malfunction",
  "sample_size_insufficient",
  "strip_insertion_error",
  "strip_type_incorrect",
  "sensor_temperature_too_high",
  "sensor_temperature_too_low",
  "read_interrupted",
  "general_device_fault",
];

/**
 * SSA bits that keep the reading out of the physiological rules [clinical.md §5.2 "Signal-quality gating":
 * "use … glucose SSA"]: flagged `signal_unreliable`, named in the frame's status (`measurementIssues`) so the
 * technical alarm "signal quality" says which condition the meter reported. They are the bits that make the value
 * unreliable ({@link SSA_UNRELIABLE}) and bit 11 "time fault": a value that cannot be placed in time cannot be
 * told live from a stored one (a backfilled record must never raise a live alarm).
 *
 * Not gating, on purpose: bit 0 "device battery low" says the battery was low at the time of measurement, not
 * that the result is wrong (the reading is kept; the condition is `battery_low`); bits 5/6 "result higher/lower
 * than the device can process" say the true value lies beyond the one reported, so a "HI" or "LO" must still
 * raise its physiological alarm: suppressing it would hide the most extreme hyper- or hypoglycaemia.
 */
export const SSA_GATING: readonly GlucoseSensorStatusName[] = [...SSA_UNRELIABLE, "time_fault"];

export interface GlucoseMeasurementDetails {
  sequenceNumber: number;
  baseTime: DateTimeFields;
  timeOffsetMin?: number | undefined;
  concentration?: MderNumber | undefined;
  concentrationUnit?: "kg/L" | "mol/L" | undefined;
  sampleType?: number | undefined;
  sampleTypeName?: GlucoseSampleType | undefined;
  sampleLocation?: number | undefined;
  sampleLocationName?: GlucoseSampleLocation | undefined;
  /** LOINC for this sample type in the emitted unit ([clinical.md §3.1]); undefined for RFU/control types. */
  loinc?: string | undefined;
  sensorStatus?: number | undefined;
  sensorStatusNames: GlucoseSensorStatusName[];
  /** Flag bit 4: a Glucose Measurement Context 0x2A34 with this sequence number follows. */
  contextFollows: boolean;
}

/** Decodes one Glucose Measurement notification. Throws only DecodeError. */
export function decodeGlucoseMeasurement(
  bytes: Uint8Array,
  ctx: DecodeContext,
): DecodeResult<GlucoseMeasurementDetails> {
  const r = new ByteReader(bytes);
  const out = new ResultBuilder(ctx);
  const flags = r.u8("flags");
  const sequenceNumber = r.u16("sequence number");
  const base = readDateTime(r, ctx.deviceUtcOffsetMin);
  const timeOffsetMin = flags & 0x01 ? r.s16("time offset") : undefined;
  let concentration: MderNumber | undefined;
  let typeLocation: number | undefined;
  if (flags & 0x02) {
    concentration = r.sfloat("glucose concentration");
    typeLocation = r.u8("type-sample location");
  }
  const sensorStatus = flags & 0x08 ? r.u16("sensor status annunciation") : undefined;
  const contextFollows = (flags & 0x10) !== 0;
  // [clinical.md §1.7] bit 2: 0 = kg/L, 1 = mol/L
  const concentrationUnit = concentration ? (flags & 0x04 ? "mol/L" : "kg/L") : undefined;
  const unit = concentrationUnit === "mol/L" ? "mmol/L" : "mg/dL";
  // [clinical.md §1.0] low nibble first: Type = bits 0–3, Sample Location = bits 4–7
  const sampleType = typeLocation === undefined ? undefined : typeLocation & 0x0f;
  const sampleLocation = typeLocation === undefined ? undefined : typeLocation >> 4;

  const statusNames = sensorStatus === undefined ? [] : bitNames(sensorStatus, GLUCOSE_SENSOR_STATUS_BITS);
  for (const name of statusNames) out.condition(SSA_CONDITION[name]);
  const readingFlags: ReadingFlag[] = [];
  if (statusNames.some((n) => SSA_UNRELIABLE.includes(n))) readingFlags.push("device_reported_issue");
  if (statusNames.includes("time_fault")) readingFlags.push("clock_drift");
  const issues = statusNames.filter((n) => SSA_GATING.includes(n));
  if (issues.length > 0) readingFlags.push("signal_unreliable");
  // a frame with an SSA field says whether anything gates its reading; one without says nothing
  if (sensorStatus !== undefined) out.status({ measurementIssues: issues });

  // [clinical.md §1.7] measurement time = base time + offset (minutes, may be negative)
  const deviceTimeMs = base.known ? base.ms + (timeOffsetMin ?? 0) * 60_000 : undefined;
  if (concentration && sampleType !== undefined) {
    if (sampleType === 10 || sampleLocation === 4) {
      // [clinical.md §1.7] drop control-solution readings as patient data
      out.absent("glucose", "control_solution");
      out.condition("control_solution");
    } else if (!concentration.ok) {
      out.absent("glucose", concentration.special);
    } else {
      const shift = concentrationUnit === "mol/L" ? 3 : 5;
      const exponent = concentration.exponent + shift;
      out.mder(
        "glucose",
        {
          ...concentration,
          value: Number(`${concentration.mantissa}e${exponent}`),
          exponent,
          decimals: Math.max(0, -exponent),
        },
        unit,
        { deviceTimeMs, flags: readingFlags, mdc: glucoseMdc(sampleType) },
      );
    }
  }
  return out.build({
    sequenceNumber,
    baseTime: base.fields,
    timeOffsetMin,
    concentration,
    concentrationUnit,
    sampleType,
    sampleTypeName: sampleType === undefined ? undefined : glucoseSampleTypeName(sampleType),
    sampleLocation,
    sampleLocationName: sampleLocation === undefined ? undefined : glucoseSampleLocationName(sampleLocation),
    loinc: sampleType === undefined ? undefined : glucoseLoinc(sampleType, unit),
    sensorStatus,
    sensorStatusNames: statusNames,
    contextFollows,
  });
}
