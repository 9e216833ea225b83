/**
 * Date Time 0x2A08 read as a characteristic on its own (e.g. to measure a device's clock against the gateway's)
 * [clinical.md §1.1]. Measurement decoders embed the same 7 octets through `readDateTime`.
 */
import { ByteReader, ByteWriter } from "./byte-reader.js";
import { type DateTimeFields, type DeviceTime, readDateTime, writeDateTime } from "./date-time.js";
import { type DecodeContext, type DecodeResult, ResultBuilder } from "./decode-result.js";

export interface DateTimeDetails {
  time: DeviceTime;
  /** Device time minus gateway time (ms), when the device clock is set. */
  skewMs?: number | undefined;
}

/** Decodes a Date Time value into `status.deviceTimeMs`; year/month/day 0 → condition `clock_not_set`. */
export function decodeDateTimeCharacteristic(
  bytes: Uint8Array,
  ctx: DecodeContext,
): DecodeResult<DateTimeDetails> {
  const out = new ResultBuilder(ctx);
  const time = readDateTime(new ByteReader(bytes), ctx.deviceUtcOffsetMin);
  if (time.known) out.status({ deviceTimeMs: time.ms });
  else out.condition("clock_not_set");
  return out.build({ time, skewMs: time.known ? time.ms - ctx.nowMs : undefined });
}

/** Encodes a Date Time value from raw fields or an instant. */
export function encodeDateTime(time: DateTimeFields | number, utcOffsetMin = 0): Uint8Array {
  const w = new ByteWriter();
  writeDateTime(w, time, utcOffsetMin);
  return w.toBytes();
}
