/**
 * Blood Pressure Measurement 0x2A35 (indicate) [clinical.md §1.5]:
 * `Flags(1) | SYS SFLOAT | DIA SFLOAT | MAP SFLOAT | [Time Stamp(7)] | [Pulse Rate SFLOAT] | [User ID(1)] |
 * [Measurement Status uint16]`. Intermediate Cuff Pressure 0x2A36 shares the format but is NOT a BP reading:
 * do not bind this decoder to it.
 */
import type { ReadingFlag } from "../../reading.js";
import { ByteReader } from "./byte-reader.js";
import { type DateTimeFields, readDateTime } from "./date-time.js";
import { type DecodeContext, type DecodeResult, ResultBuilder } from "./decode-result.js";
import type { MderNumber } from "./ieee11073.js";
import { MDC } from "./mdc.js";

export interface BloodPressureStatus {
  bodyMovement: boolean;
  cuffTooLoose: boolean;
  irregularPulse: boolean;
  /** [clinical.md §1.5] bits 3–4. */
  pulseRateRange: "in_range" | "above_upper_limit" | "below_lower_limit" | "rfu";
  improperPosition: boolean;
}

export interface BloodPressureMeasurementDetails {
  unit: "mm[Hg]" | "kPa";
  systolic: MderNumber;
  diastolic: MderNumber;
  meanArterialPressure: MderNumber;
  timeStamp?: DateTimeFields | undefined;
  pulseRate?: MderNumber | undefined;
  /** Raw user id; 255 = unknown user. */
  userId?: number | undefined;
  measurementStatus?: number | undefined;
  status?: BloodPressureStatus | undefined;
}

const PULSE_RANGE = ["in_range", "above_upper_limit", "below_lower_limit", "rfu"] as const;

/** Interprets the Measurement Status word (bits 6–15 RFU, ignored). */
export function bloodPressureStatus(word: number): BloodPressureStatus {
  return {
    bodyMovement: (word & 0x01) !== 0,
    cuffTooLoose: (word & 0x02) !== 0,
    irregularPulse: (word & 0x04) !== 0,
    pulseRateRange: PULSE_RANGE[(word >> 3) & 0x03]!,
    improperPosition: (word & 0x20) !== 0,
  };
}

/** Decodes one Blood Pressure Measurement indication. Throws only DecodeError. */
export function decodeBloodPressureMeasurement(
  bytes: Uint8Array,
  ctx: DecodeContext,
): DecodeResult<BloodPressureMeasurementDetails> {
  const r = new ByteReader(bytes);
  const out = new ResultBuilder(ctx);
  const flags = r.u8("flags");
  // [BLS 0x2A35] bit 0: 0 = mmHg, 1 = kPa (for SYS/DIA/MAP only; pulse rate is always bpm)
  const unit = flags & 0x01 ? "kPa" : "mm[Hg]";
  const systolic = r.sfloat("systolic");
  const diastolic = r.sfloat("diastolic");
  const meanArterialPressure = r.sfloat("mean arterial pressure");
  const time = flags & 0x02 ? readDateTime(r, ctx.deviceUtcOffsetMin) : undefined;
  const pulseRate = flags & 0x04 ? r.sfloat("pulse rate") : undefined;
  const userId = flags & 0x08 ? r.u8("user id") : undefined;
  const measurementStatus = flags & 0x10 ? r.u16("measurement status") : undefined;
  const status = measurementStatus === undefined ? undefined : bloodPressureStatus(measurementStatus);

  const bpFlags: ReadingFlag[] = [];
  if (status?.bodyMovement || status?.cuffTooLoose || status?.improperPosition)
    bpFlags.push("device_reported_issue");
  if (status?.bodyMovement) out.condition("body_movement");
  if (status?.cuffTooLoose) out.condition("cuff_too_loose");
  if (status?.improperPosition) out.condition("improper_measurement_position");
  const deviceTimeMs = time?.known ? time.ms : undefined;
  const common = { deviceTimeMs, flags: bpFlags };
  out.mder("bp_systolic", systolic, unit, { ...common, mdc: MDC.PRESS_BLD_NONINV_SYS });
  out.mder("bp_diastolic", diastolic, unit, { ...common, mdc: MDC.PRESS_BLD_NONINV_DIA });
  // [clinical.md §1.5] MAP NaN = not computed: the rest of the reading stands, no MAP component
  out.mder("bp_mean", meanArterialPressure, unit, { ...common, mdc: MDC.PRESS_BLD_NONINV_MEAN });
  if (pulseRate) {
    const prFlags: ReadingFlag[] = [...bpFlags];
    if (status && status.pulseRateRange !== "in_range" && !prFlags.includes("device_reported_issue")) {
      prFlags.push("device_reported_issue");
    }
    out.mder("pulse_rate", pulseRate, "/min", { deviceTimeMs, flags: prFlags, mdc: MDC.PULS_RATE_NON_INV });
  }
  return out.build({
    unit,
    systolic,
    diastolic,
    meanArterialPressure,
    timeStamp: time?.fields,
    pulseRate,
    userId,
    measurementStatus,
    status,
  });
}
