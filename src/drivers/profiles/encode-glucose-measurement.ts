/** Encoder for Glucose Measurement 0x2A18 [clinical.md §1.7]. */
import { ByteWriter } from "./byte-reader.js";
import { type DateTimeFields, writeDateTime } from "./date-time.js";
import { encodeSfloat, type MderInput } from "./ieee11073.js";

export interface GlucoseMeasurementFields {
  sequenceNumber: number;
  baseTime: DateTimeFields | number;
  utcOffsetMin?: number | undefined;
  timeOffsetMin?: number | undefined;
  /** Concentration in the wire unit (kg/L or mol/L!), e.g. 0.00095 kg/L = 95 mg/dL. */
  concentration?: MderInput | undefined;
  /** Default "kg/L". */
  concentrationUnit?: "kg/L" | "mol/L" | undefined;
  /** Type nibble (default 1 capillary whole blood) and location nibble (default 1 finger). */
  sampleType?: number | undefined;
  sampleLocation?: number | undefined;
  sensorStatus?: number | undefined;
  contextFollows?: boolean | undefined;
}

export function encodeGlucoseMeasurement(f: GlucoseMeasurementFields): Uint8Array {
  let flags = 0;
  if (f.timeOffsetMin !== undefined) flags |= 0x01;
  if (f.concentration !== undefined) flags |= 0x02;
  if (f.concentration !== undefined && f.concentrationUnit === "mol/L") flags |= 0x04;
  if (f.sensorStatus !== undefined) flags |= 0x08;
  if (f.contextFollows) flags |= 0x10;
  const w = new ByteWriter().u8(flags).u16(f.sequenceNumber, "sequence number");
  writeDateTime(w, f.baseTime, f.utcOffsetMin);
  if (f.timeOffsetMin !== undefined) w.s16(f.timeOffsetMin, "time offset");
  if (f.concentration !== undefined) {
    const type = f.sampleType ?? 1;
    const location = f.sampleLocation ?? 1;
    if (type > 0x0f || location > 0x0f) throw new RangeError("sample type and location are nibbles");
    w.u16(encodeSfloat(f.concentration)).u8((location << 4) | type, "type-sample location");
  }
  if (f.sensorStatus !== undefined) w.u16(f.sensorStatus, "sensor status annunciation");
  return w.toBytes();
}
