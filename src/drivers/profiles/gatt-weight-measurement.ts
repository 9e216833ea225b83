/**
 * Weight Measurement 0x2A9D (indicate) [clinical.md §1.8]:
 * `Flags(1) | Weight uint16 | [Time Stamp(7)] | [User ID(1)] | [BMI uint16 | Height uint16]`.
 * Resolutions are fixed on the wire: 0.005 kg or 0.01 lb; BMI 0.1; height 0.001 m or 0.1 in.
 */
import { ByteReader } from "./byte-reader.js";
import { type DateTimeFields, readDateTime } from "./date-time.js";
import { type DecodeContext, type DecodeResult, ResultBuilder } from "./decode-result.js";
import { scaleDecimal } from "./ieee11073.js";
import { MDC } from "./mdc.js";

/** [WSS] weight 0xFFFF = "Measurement Unsuccessful" [clinical.md §1.8]. */
export const WEIGHT_UNSUCCESSFUL = 0xffff;

export interface WeightMeasurementDetails {
  units: "si" | "imperial";
  weightRaw: number;
  /** kg (SI) or lb (imperial); undefined when unsuccessful. */
  weight?: number | undefined;
  measurementUnsuccessful: boolean;
  timeStamp?: DateTimeFields | undefined;
  /** Raw user id; 255 = unknown user. */
  userId?: number | undefined;
  bmi?: number | undefined;
  /** m (SI) or in (imperial). */
  height?: number | undefined;
}

/** Decodes one Weight Measurement indication. Throws only DecodeError. */
export function decodeWeightMeasurement(
  bytes: Uint8Array,
  ctx: DecodeContext,
): DecodeResult<WeightMeasurementDetails> {
  const r = new ByteReader(bytes);
  const out = new ResultBuilder(ctx);
  const flags = r.u8("flags");
  const units = flags & 0x01 ? "imperial" : "si";
  const weightRaw = r.u16("weight");
  const time = flags & 0x02 ? readDateTime(r, ctx.deviceUtcOffsetMin) : undefined;
  const userId = flags & 0x04 ? r.u8("user id") : undefined;
  const measurementUnsuccessful = weightRaw === WEIGHT_UNSUCCESSFUL;
  let bmi: number | undefined;
  let height: number | undefined;
  // [clinical.md §1.8] unsuccessful: every optional field but Time Stamp and User ID is disabled, so BMI/height
  // octets, if a device sends them anyway, are not interpreted
  if (flags & 0x08 && !measurementUnsuccessful) {
    bmi = scaleDecimal(r.u16("BMI"), -1);
    const heightRaw = r.u16("height");
    height = units === "si" ? scaleDecimal(heightRaw, -3) : scaleDecimal(heightRaw, -1);
  }
  // 0.005 kg = 5 × 10^-3; 0.01 lb = 10^-2: exact decimal arithmetic keeps 72.4, not 72.40000000000001
  const weight = measurementUnsuccessful
    ? undefined
    : units === "si"
      ? scaleDecimal(weightRaw * 5, -3)
      : scaleDecimal(weightRaw, -2);
  if (weight === undefined) {
    out.absent("body_weight", "measurement_unsuccessful");
    out.condition("measurement_unsuccessful");
  } else {
    out.reading({
      kind: "body_weight",
      value: weight,
      unit: units === "si" ? "kg" : "[lb_av]",
      deviceTimeMs: time?.known ? time.ms : undefined,
      mdc: MDC.MASS_BODY_ACTUAL,
      decimals: units === "si" ? 3 : 2,
    });
  }
  return out.build({
    units,
    weightRaw,
    weight,
    measurementUnsuccessful,
    timeStamp: time?.fields,
    userId,
    bmi,
    height,
  });
}
