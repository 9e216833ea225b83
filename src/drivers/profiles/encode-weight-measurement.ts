/** Encoder for Weight Measurement 0x2A9D [clinical.md §1.8]. Raw resolutions: 0.005 kg / 0.01 lb, BMI 0.1, height 0.001 m / 0.1 in. */
import { ByteWriter } from "./byte-reader.js";
import { type DateTimeFields, writeDateTime } from "./date-time.js";

export interface WeightMeasurementFields {
  /** Raw uint16 weight (kg = raw × 0.005, lb = raw × 0.01); 0xFFFF = unsuccessful. */
  weightRaw: number;
  /** Default "si". */
  units?: "si" | "imperial" | undefined;
  timeStamp?: DateTimeFields | number | undefined;
  utcOffsetMin?: number | undefined;
  userId?: number | undefined;
  /** Raw BMI (× 0.1) and raw height (× 0.001 m or × 0.1 in); both or neither. */
  bmiRaw?: number | undefined;
  heightRaw?: number | undefined;
}

/** Raw SI weight for kg (nearest 0.005 kg). */
export function weightRawFromKg(kg: number): number {
  return Math.round(kg * 200);
}

export function encodeWeightMeasurement(f: WeightMeasurementFields): Uint8Array {
  if ((f.bmiRaw === undefined) !== (f.heightRaw === undefined))
    throw new RangeError("BMI and height go together");
  let flags = f.units === "imperial" ? 0x01 : 0;
  if (f.timeStamp !== undefined) flags |= 0x02;
  if (f.userId !== undefined) flags |= 0x04;
  if (f.bmiRaw !== undefined) flags |= 0x08;
  const w = new ByteWriter().u8(flags).u16(f.weightRaw, "weight");
  if (f.timeStamp !== undefined) writeDateTime(w, f.timeStamp, f.utcOffsetMin);
  if (f.userId !== undefined) w.u8(f.userId, "user id");
  if (f.bmiRaw !== undefined && f.heightRaw !== undefined) w.u16(f.bmiRaw, "BMI").u16(f.heightRaw, "height");
  return w.toBytes();
}
