/**
 * CGM Measurement 0x2AA7 (notify) [clinical.md §1.9]. One notification carries one or more records:
 * `Size uint8 (counts itself, ≥ 6) | Flags(1) | Glucose SFLOAT mg/dL | Time Offset uint16 min |
 * [SSA Status] [SSA Cal/Temp] [SSA Warning] | [Trend SFLOAT (mg/dL)/min] | [Quality SFLOAT %] | [E2E-CRC uint16]`.
 * SSA octets are on the wire in the order Status, Cal/Temp, Warning, gated by flag bits 7, 6, 5
 * (clinical.md §1.9 "Known ambiguity" and §7 item 2: confirm against the device or CGMS §3.1).
 */
import type { ReadingFlag } from "../../reading.js";
import { ByteReader } from "./byte-reader.js";
import { crc16Mcrf4xx } from "./crc16-mcrf4xx.js";
import { DecodeError } from "./decode-error.js";
import {
  bitNames,
  type DecodeContext,
  type DecodeResult,
  type DeviceCondition,
  ResultBuilder,
} from "./decode-result.js";
import type { MderNumber } from "./ieee11073.js";
import { MDC } from "./mdc.js";

/** Sensor Status Annunciation as one 24-bit word: Status bits 0–7, Cal/Temp 8–15, Warning 16–23. */
export const CGM_SENSOR_STATUS_BITS = {
  0: "session_stopped",
  1: "device_battery_low",
  2: "sensor_type_incorrect",
  3: "sensor_malfunction",
  4: "device_specific_alert",
  5: "general_device_fault",
  8: "time_synchronization_required",
  9: "calibration_not_allowed",
  10: "calibration_recommended",
  11: "calibration_required",
  12: "sensor_temperature_too_high",
  13: "sensor_temperature_too_low",
  16: "below_patient_low",
  17: "above_patient_high",
  18: "below_hypo",
  19: "above_hyper",
  20: "rate_of_decrease_exceeded",
  21: "rate_of_increase_exceeded",
  22: "below_device_range",
  23: "above_device_range",
} as const;

export type CgmSensorStatusName = (typeof CGM_SENSOR_STATUS_BITS)[keyof typeof CGM_SENSOR_STATUS_BITS];

const SSA_CONDITION: Partial<Record<CgmSensorStatusName, DeviceCondition>> = {
  session_stopped: "session_stopped",
  device_battery_low: "battery_low",
  sensor_type_incorrect: "sensor_malfunction",
  sensor_malfunction: "sensor_malfunction",
  device_specific_alert: "device_fault",
  general_device_fault: "device_fault",
  time_synchronization_required: "time_fault",
  calibration_required: "calibration_required",
  sensor_temperature_too_high: "sensor_temperature_out_of_range",
  sensor_temperature_too_low: "sensor_temperature_out_of_range",
  below_device_range: "result_out_of_device_range",
  above_device_range: "result_out_of_device_range",
};

/** Bits that make the glucose value itself unreliable (patient-threshold warnings are clinical, not these). */
const SSA_UNRELIABLE: readonly CgmSensorStatusName[] = [
  "session_stopped",
  "sensor_type_incorrect",
  "sensor_malfunction",
  "general_device_fault",
  "calibration_required",
  "sensor_temperature_too_high",
  "sensor_temperature_too_low",
];

export interface CgmRecord {
  size: number;
  flags: number;
  glucose: MderNumber;
  /** Minutes since the CGM Session Start Time. */
  timeOffsetMin: number;
  statusOctet?: number | undefined;
  calTempOctet?: number | undefined;
  warningOctet?: number | undefined;
  sensorStatusNames: CgmSensorStatusName[];
  trend?: MderNumber | undefined;
  quality?: MderNumber | undefined;
  /** The E2E-CRC as received (already verified), when the record carries one. */
  e2eCrc?: number | undefined;
}

export interface CgmMeasurementDetails {
  records: CgmRecord[];
}

export interface CgmDecodeOptions {
  /** "required": CGM Feature bit 12 is set, a record without CRC is malformed. Default "auto" (Size decides). */
  e2eCrc?: "auto" | "required" | undefined;
}

function readRecord(bytes: Uint8Array, start: number, options: CgmDecodeOptions): CgmRecord {
  const size = bytes[start]!;
  if (size < 6 || start + size > bytes.length) {
    throw new DecodeError(
      "invalid_record_size",
      `CGM record size ${size} at offset ${start} does not fit`,
      start,
    );
  }
  const r = new ByteReader(bytes, start + 1, start + size);
  const flags = r.u8("flags");
  const glucose = r.sfloat("glucose concentration");
  const timeOffsetMin = r.u16("time offset");
  const ssaOctets = ((flags >> 5) & 1) + ((flags >> 6) & 1) + ((flags >> 7) & 1);
  const computed = 6 + ssaOctets + (flags & 0x01 ? 2 : 0) + (flags & 0x02 ? 2 : 0);
  const hasCrc = size === computed + 2;
  if (!hasCrc && size !== computed) {
    throw new DecodeError(
      "invalid_record_size",
      `CGM record size ${size} matches neither ${computed} nor ${computed + 2}`,
      start,
    );
  }
  if (!hasCrc && options.e2eCrc === "required") {
    throw new DecodeError("crc_missing", "CGM Feature requires an E2E-CRC, the record has none", start);
  }
  const statusOctet = flags & 0x80 ? r.u8("SSA status") : undefined;
  const calTempOctet = flags & 0x40 ? r.u8("SSA cal/temp") : undefined;
  const warningOctet = flags & 0x20 ? r.u8("SSA warning") : undefined;
  const trend = flags & 0x01 ? r.sfloat("trend") : undefined;
  const quality = flags & 0x02 ? r.sfloat("quality") : undefined;
  let e2eCrc: number | undefined;
  if (hasCrc) {
    e2eCrc = r.u16("E2E-CRC");
    // [clinical.md §1.9] CRC-16/MCRF4XX over the record's preceding fields, Size included
    const expected = crc16Mcrf4xx(bytes, start, start + computed);
    if (e2eCrc !== expected) {
      throw new DecodeError(
        "crc_mismatch",
        `CGM E2E-CRC 0x${e2eCrc.toString(16)} != 0x${expected.toString(16)}`,
        start,
      );
    }
  }
  const ssa = (statusOctet ?? 0) + (calTempOctet ?? 0) * 0x100 + (warningOctet ?? 0) * 0x10000;
  return {
    size,
    flags,
    glucose,
    timeOffsetMin,
    statusOctet,
    calTempOctet,
    warningOctet,
    sensorStatusNames: bitNames(ssa, CGM_SENSOR_STATUS_BITS),
    trend,
    quality,
    e2eCrc,
  };
}

/** Decodes one CGM Measurement notification (all its records). Throws only DecodeError. */
export function decodeCgmMeasurement(
  bytes: Uint8Array,
  ctx: DecodeContext,
  options: CgmDecodeOptions = {},
): DecodeResult<CgmMeasurementDetails> {
  const out = new ResultBuilder(ctx);
  new ByteReader(bytes).need(6, "CGM record");
  const records: CgmRecord[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const record = readRecord(bytes, offset, options);
    records.push(record);
    offset += record.size;
  }
  for (const rec of records) {
    const flags: ReadingFlag[] = [];
    for (const name of rec.sensorStatusNames) {
      const condition = SSA_CONDITION[name];
      if (condition) out.condition(condition);
    }
    if (rec.sensorStatusNames.some((n) => SSA_UNRELIABLE.includes(n))) flags.push("device_reported_issue");
    const start = ctx.cgmSessionStartMs;
    out.mder("glucose", rec.glucose, "mg/dL", {
      mdc: MDC.CONC_GLU_ISF,
      deviceTimeMs: start === undefined ? undefined : start + rec.timeOffsetMin * 60_000,
      flags,
    });
  }
  return out.build({ records });
}
