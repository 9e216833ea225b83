/**
 * PLX Spot-Check Measurement 0x2A5E (indicate) [clinical.md §1.6]:
 * `Flags(1) | SpO2 SFLOAT % | PR SFLOAT bpm | [Timestamp(7)] | [Measurement Status(2)] |
 * [Device & Sensor Status(3)] | [Pulse Amplitude Index SFLOAT %]`.
 * Spot-check bit 0 is Timestamp (not "SpO2PR-Fast", which exists only in Continuous) [clinical.md §1.6 pitfall].
 */
import { ByteReader } from "./byte-reader.js";
import { type DateTimeFields, readDateTime } from "./date-time.js";
import { type DecodeContext, type DecodeResult, ResultBuilder } from "./decode-result.js";
import type { MderNumber } from "./ieee11073.js";
import { MDC } from "./mdc.js";
import { applyPlxStatus, type PlxStatusDetails } from "./plx-status.js";

export interface PlxSpotCheckDetails extends PlxStatusDetails {
  spo2: MderNumber;
  pulseRate: MderNumber;
  timeStamp?: DateTimeFields | undefined;
  /** Flag bit 4: the timestamp (if any) is ignored. */
  deviceClockNotSet: boolean;
  pulseAmplitudeIndex?: MderNumber | undefined;
}

/** Decodes one PLX Spot-Check Measurement indication. Throws only DecodeError. */
export function decodePlxSpotCheckMeasurement(
  bytes: Uint8Array,
  ctx: DecodeContext,
): DecodeResult<PlxSpotCheckDetails> {
  const r = new ByteReader(bytes);
  const out = new ResultBuilder(ctx);
  const flags = r.u8("flags");
  const spo2 = r.sfloat("SpO2");
  const pulseRate = r.sfloat("pulse rate");
  const time = flags & 0x01 ? readDateTime(r, ctx.deviceUtcOffsetMin) : undefined;
  const ms = flags & 0x02 ? r.u16("measurement status") : undefined;
  const dss = flags & 0x04 ? r.u24("device and sensor status") : undefined;
  const pulseAmplitudeIndex = flags & 0x08 ? r.sfloat("pulse amplitude index") : undefined;
  // [clinical.md §1.1, §1.6] bit 4 "Device Clock is Not Set": ignore the timestamp
  const deviceClockNotSet = (flags & 0x10) !== 0;
  if (deviceClockNotSet) out.condition("clock_not_set");
  const deviceTimeMs = !deviceClockNotSet && time?.known ? time.ms : undefined;

  const verdict = applyPlxStatus(out, ms, dss);
  if (verdict.dropReason) {
    out.absent("spo2", verdict.dropReason);
    out.absent("pulse_rate", verdict.dropReason);
  } else {
    const extras = { deviceTimeMs, flags: verdict.flags };
    out.mder("spo2", spo2, "%", { ...extras, mdc: MDC.PULS_OXIM_SAT_O2 });
    out.mder("pulse_rate", pulseRate, "/min", { ...extras, mdc: MDC.PULS_OXIM_PULS_RATE });
  }
  return out.build({
    spo2,
    pulseRate,
    timeStamp: time?.fields,
    deviceClockNotSet,
    pulseAmplitudeIndex,
    ...verdict.details,
  });
}
