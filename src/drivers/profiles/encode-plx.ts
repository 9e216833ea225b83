/** Encoders for PLX Spot-Check 0x2A5E and Continuous 0x2A5F [clinical.md §1.6]. */
import { ByteWriter } from "./byte-reader.js";
import { type DateTimeFields, writeDateTime } from "./date-time.js";
import { encodeSfloat, type MderInput } from "./ieee11073.js";

export interface PlxSpotCheckFields {
  spo2: MderInput;
  pulseRate: MderInput;
  timeStamp?: DateTimeFields | number | undefined;
  utcOffsetMin?: number | undefined;
  measurementStatus?: number | undefined;
  deviceSensorStatus?: number | undefined;
  pulseAmplitudeIndex?: MderInput | undefined;
  deviceClockNotSet?: boolean | undefined;
}

export function encodePlxSpotCheckMeasurement(f: PlxSpotCheckFields): Uint8Array {
  let flags = 0;
  if (f.timeStamp !== undefined) flags |= 0x01;
  if (f.measurementStatus !== undefined) flags |= 0x02;
  if (f.deviceSensorStatus !== undefined) flags |= 0x04;
  if (f.pulseAmplitudeIndex !== undefined) flags |= 0x08;
  if (f.deviceClockNotSet) flags |= 0x10;
  const w = new ByteWriter().u8(flags).u16(encodeSfloat(f.spo2)).u16(encodeSfloat(f.pulseRate));
  if (f.timeStamp !== undefined) writeDateTime(w, f.timeStamp, f.utcOffsetMin);
  if (f.measurementStatus !== undefined) w.u16(f.measurementStatus, "measurement status");
  if (f.deviceSensorStatus !== undefined) w.u24(f.deviceSensorStatus, "device and sensor status");
  if (f.pulseAmplitudeIndex !== undefined) w.u16(encodeSfloat(f.pulseAmplitudeIndex));
  return w.toBytes();
}

export interface SpO2PulseRateFields {
  spo2: MderInput;
  pulseRate: MderInput;
}

export interface PlxContinuousFields {
  normal: SpO2PulseRateFields;
  fast?: SpO2PulseRateFields | undefined;
  slow?: SpO2PulseRateFields | undefined;
  measurementStatus?: number | undefined;
  deviceSensorStatus?: number | undefined;
  pulseAmplitudeIndex?: MderInput | undefined;
}

export function encodePlxContinuousMeasurement(f: PlxContinuousFields): Uint8Array {
  let flags = 0;
  if (f.fast) flags |= 0x01;
  if (f.slow) flags |= 0x02;
  if (f.measurementStatus !== undefined) flags |= 0x04;
  if (f.deviceSensorStatus !== undefined) flags |= 0x08;
  if (f.pulseAmplitudeIndex !== undefined) flags |= 0x10;
  const w = new ByteWriter().u8(flags);
  for (const p of [f.normal, f.fast, f.slow])
    if (p) w.u16(encodeSfloat(p.spo2)).u16(encodeSfloat(p.pulseRate));
  if (f.measurementStatus !== undefined) w.u16(f.measurementStatus, "measurement status");
  if (f.deviceSensorStatus !== undefined) w.u24(f.deviceSensorStatus, "device and sensor status");
  if (f.pulseAmplitudeIndex !== undefined) w.u16(encodeSfloat(f.pulseAmplitudeIndex));
  return w.toBytes();
}
