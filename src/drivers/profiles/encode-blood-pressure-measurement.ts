/** Encoder for Blood Pressure Measurement 0x2A35 / Intermediate Cuff Pressure 0x2A36 [clinical.md §1.5]. */
import { ByteWriter } from "./byte-reader.js";
import { type DateTimeFields, writeDateTime } from "./date-time.js";
import { encodeSfloat, type MderInput } from "./ieee11073.js";

export interface BloodPressureMeasurementFields {
  systolic: MderInput;
  diastolic: MderInput;
  /** Default "nan" (device did not compute MAP). */
  meanArterialPressure?: MderInput | undefined;
  /** Default "mm[Hg]". */
  unit?: "mm[Hg]" | "kPa" | undefined;
  timeStamp?: DateTimeFields | number | undefined;
  utcOffsetMin?: number | undefined;
  pulseRate?: MderInput | undefined;
  userId?: number | undefined;
  measurementStatus?: number | undefined;
}

export function encodeBloodPressureMeasurement(f: BloodPressureMeasurementFields): Uint8Array {
  let flags = f.unit === "kPa" ? 0x01 : 0;
  if (f.timeStamp !== undefined) flags |= 0x02;
  if (f.pulseRate !== undefined) flags |= 0x04;
  if (f.userId !== undefined) flags |= 0x08;
  if (f.measurementStatus !== undefined) flags |= 0x10;
  const w = new ByteWriter().u8(flags);
  w.u16(encodeSfloat(f.systolic))
    .u16(encodeSfloat(f.diastolic))
    .u16(encodeSfloat(f.meanArterialPressure ?? "nan"));
  if (f.timeStamp !== undefined) writeDateTime(w, f.timeStamp, f.utcOffsetMin);
  if (f.pulseRate !== undefined) w.u16(encodeSfloat(f.pulseRate));
  if (f.userId !== undefined) w.u8(f.userId, "user id");
  if (f.measurementStatus !== undefined) w.u16(f.measurementStatus, "measurement status");
  return w.toBytes();
}
