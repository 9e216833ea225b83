/** Encoder for Temperature Measurement 0x2A1C / Intermediate Temperature 0x2A1E [clinical.md §1.4]. */
import { ByteWriter } from "./byte-reader.js";
import { type DateTimeFields, writeDateTime } from "./date-time.js";
import { encodeFloat, type MderInput } from "./ieee11073.js";

export interface TemperatureMeasurementFields {
  temperature: MderInput;
  /** Default "Cel". */
  unit?: "Cel" | "[degF]" | undefined;
  /** Raw fields or an instant (ms, written as device-local time with `utcOffsetMin`). */
  timeStamp?: DateTimeFields | number | undefined;
  utcOffsetMin?: number | undefined;
  temperatureType?: number | undefined;
}

export function encodeTemperatureMeasurement(f: TemperatureMeasurementFields): Uint8Array {
  let flags = f.unit === "[degF]" ? 0x01 : 0;
  if (f.timeStamp !== undefined) flags |= 0x02;
  if (f.temperatureType !== undefined) flags |= 0x04;
  const w = new ByteWriter().u8(flags).u32(encodeFloat(f.temperature), "temperature");
  if (f.timeStamp !== undefined) writeDateTime(w, f.timeStamp, f.utcOffsetMin);
  if (f.temperatureType !== undefined) w.u8(f.temperatureType, "temperature type");
  return w.toBytes();
}
