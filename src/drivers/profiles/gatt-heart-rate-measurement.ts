/**
 * Heart Rate Measurement 0x2A37 (notify) [clinical.md §1.3; Bluetooth SIG Heart Rate Service, characteristic
 * heart_rate_measurement.xml]: `Flags(1) | HR uint8|uint16 | [Energy Expended uint16 kJ] | [RR-Interval uint16
 * (1/1024 s)]*`. A frame shorter than its flags promise is refused ([clinical.md §1.0] "Length"), including
 * one whose flag bit 4 says "one or more RR-Intervals present" but that carries none.
 *
 * Sensor Contact Status (flag bits 1–2) = 2, "supported but contact not detected": the heart rate is not a
 * patient value [clinical.md §1.3, §5.2]. The reading is flagged `sensor_contact_lost` and the frame's status
 * says contact lost, so ingest flags the device's readings until a frame reports contact again and the
 * technical rule raises `technical.sensor_contact_lost` instead of a physiological alarm.
 */
import { ByteReader } from "./byte-reader.js";
import { DecodeError } from "./decode-error.js";
import { type DecodeContext, type DecodeResult, ResultBuilder } from "./decode-result.js";
import { MDC } from "./mdc.js";

export type SensorContact = "not_supported" | "not_detected" | "detected";

export interface HeartRateMeasurementDetails {
  format: "uint8" | "uint16";
  /** Heart rate as sent (bpm), also when it did not pass the hard limits. */
  heartRate: number;
  sensorContact: SensorContact;
  /** kJ accumulated since the last reset; saturates at 0xFFFF. */
  energyExpendedKj?: number | undefined;
  /** RR intervals as sent, in 1/1024 s, oldest first. */
  rrIntervalsRaw: number[];
  /** The same in ms (raw × 1000 / 1024). */
  rrIntervalsMs: number[];
}

/** Decodes one Heart Rate Measurement notification. Throws only DecodeError. */
export function decodeHeartRateMeasurement(
  bytes: Uint8Array,
  ctx: DecodeContext,
): DecodeResult<HeartRateMeasurementDetails> {
  const r = new ByteReader(bytes);
  const out = new ResultBuilder(ctx);
  const flags = r.u8("flags");
  // [HRS 0x2A37] bit 0: 0 = uint8, 1 = uint16
  const format = flags & 0x01 ? "uint16" : "uint8";
  const heartRate = format === "uint16" ? r.u16("heart rate") : r.u8("heart rate");
  // [clinical.md §1.3] bits 1–2: 0/1 not supported, 2 supported but not detected, 3 detected
  const contactBits = (flags >> 1) & 0x03;
  const sensorContact: SensorContact =
    contactBits === 3 ? "detected" : contactBits === 2 ? "not_detected" : "not_supported";
  const energyExpendedKj = flags & 0x08 ? r.u16("energy expended") : undefined;
  const rrIntervalsRaw: number[] = [];
  if (flags & 0x10) {
    // [heart_rate_measurement.xml] bit 4 = "One or more RR-Interval values are present": at least one
    if (r.remaining === 0) {
      throw new DecodeError(
        "frame_too_short",
        `RR-Interval flag is set but no RR interval follows at offset ${r.offset}`,
        r.offset,
      );
    }
    if (r.remaining % 2 !== 0) {
      throw new DecodeError(
        "frame_length_invalid",
        `RR intervals leave an odd ${r.remaining} octet(s)`,
        r.offset,
      );
    }
    while (r.remaining > 0) rrIntervalsRaw.push(r.u16("RR interval"));
  }
  // Bits 5–7 are RFU: ignored, never rejected [clinical.md §1.0].

  if (sensorContact !== "not_supported") out.status({ sensorContact: sensorContact === "detected" });
  // [clinical.md §1.3] contact not detected: HR unreliable → technical condition, flag the value
  if (sensorContact === "not_detected") out.condition("sensor_contact_lost");
  out.reading({
    kind: "heart_rate",
    value: heartRate,
    unit: "/min",
    mdc: MDC.ECG_HEART_RATE,
    decimals: 0,
    flags: sensorContact === "not_detected" ? ["sensor_contact_lost"] : [],
  });
  return out.build({
    format,
    heartRate,
    sensorContact,
    energyExpendedKj,
    rrIntervalsRaw,
    rrIntervalsMs: rrIntervalsRaw.map((raw) => (raw * 1000) / 1024),
  });
}
