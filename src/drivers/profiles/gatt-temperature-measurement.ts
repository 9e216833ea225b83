/**
 * Temperature Measurement 0x2A1C (indicate) and Intermediate Temperature 0x2A1E (same format) [clinical.md §1.4]:
 * `Flags(1) | Temperature FLOAT | [Time Stamp(7)] | [Temperature Type(1)]`.
 */
import { ByteReader } from "./byte-reader.js";
import { type DateTimeFields, type DeviceTime, readDateTime } from "./date-time.js";
import { type DecodeContext, type DecodeResult, ResultBuilder } from "./decode-result.js";
import type { MderNumber } from "./ieee11073.js";
import { MDC } from "./mdc.js";

/** [clinical.md §1.4] Temperature Type codes (0x2A1D uses the same); 0 and 10–255 are RFU. */
export const TEMPERATURE_TYPES = {
  1: "armpit",
  2: "body",
  3: "ear",
  4: "finger",
  5: "gastro_intestinal_tract",
  6: "mouth",
  7: "rectum",
  8: "toe",
  9: "tympanum",
} as const;

export type TemperatureSite = (typeof TEMPERATURE_TYPES)[keyof typeof TEMPERATURE_TYPES];

export interface TemperatureMeasurementDetails {
  unit: "Cel" | "[degF]";
  temperature: MderNumber;
  timeStamp?: DateTimeFields | undefined;
  /** Raw Temperature Type code, when present. */
  temperatureType?: number | undefined;
  /** Its meaning; undefined for RFU codes. */
  site?: TemperatureSite | undefined;
}

/** Decodes one Temperature Measurement indication. Throws only DecodeError. */
export function decodeTemperatureMeasurement(
  bytes: Uint8Array,
  ctx: DecodeContext,
): DecodeResult<TemperatureMeasurementDetails> {
  const r = new ByteReader(bytes);
  const out = new ResultBuilder(ctx);
  const flags = r.u8("flags");
  // [HTS 0x2A1C] bit 0: 0 = Celsius, 1 = Fahrenheit
  const unit = flags & 0x01 ? "[degF]" : "Cel";
  const temperature = r.float("temperature");
  const time: DeviceTime | undefined = flags & 0x02 ? readDateTime(r, ctx.deviceUtcOffsetMin) : undefined;
  const temperatureType = flags & 0x04 ? r.u8("temperature type") : undefined;
  const site =
    temperatureType !== undefined && Object.hasOwn(TEMPERATURE_TYPES, temperatureType)
      ? TEMPERATURE_TYPES[temperatureType as keyof typeof TEMPERATURE_TYPES]
      : undefined;
  out.mder("body_temperature", temperature, unit, {
    mdc: MDC.TEMP_BODY,
    deviceTimeMs: time?.known ? time.ms : undefined,
  });
  return out.build({ unit, temperature, timeStamp: time?.fields, temperatureType, site });
}
