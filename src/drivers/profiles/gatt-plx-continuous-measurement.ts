/**
 * PLX Continuous Measurement 0x2A5F (notify) [clinical.md §1.6]:
 * `Flags(1) | SpO2PR-Normal (2×SFLOAT) | [SpO2PR-Fast] | [SpO2PR-Slow] | [Measurement Status(2)] |
 * [Device & Sensor Status(3)] | [PAI SFLOAT]`. Readings come from the Normal pair; Fast/Slow are details.
 */
import { ByteReader } from "./byte-reader.js";
import { type DecodeContext, type DecodeResult, ResultBuilder } from "./decode-result.js";
import type { MderNumber } from "./ieee11073.js";
import { MDC } from "./mdc.js";
import { applyPlxStatus, type PlxStatusDetails } from "./plx-status.js";

export interface SpO2PulseRate {
  spo2: MderNumber;
  pulseRate: MderNumber;
}

export interface PlxContinuousDetails extends PlxStatusDetails {
  normal: SpO2PulseRate;
  fast?: SpO2PulseRate | undefined;
  slow?: SpO2PulseRate | undefined;
  pulseAmplitudeIndex?: MderNumber | undefined;
}

function pair(r: ByteReader, which: string): SpO2PulseRate {
  return { spo2: r.sfloat(`SpO2 (${which})`), pulseRate: r.sfloat(`pulse rate (${which})`) };
}

/** Decodes one PLX Continuous Measurement notification. Throws only DecodeError. */
export function decodePlxContinuousMeasurement(
  bytes: Uint8Array,
  ctx: DecodeContext,
): DecodeResult<PlxContinuousDetails> {
  const r = new ByteReader(bytes);
  const out = new ResultBuilder(ctx);
  const flags = r.u8("flags");
  const normal = pair(r, "normal");
  const fast = flags & 0x01 ? pair(r, "fast") : undefined;
  const slow = flags & 0x02 ? pair(r, "slow") : undefined;
  const ms = flags & 0x04 ? r.u16("measurement status") : undefined;
  const dss = flags & 0x08 ? r.u24("device and sensor status") : undefined;
  const pulseAmplitudeIndex = flags & 0x10 ? r.sfloat("pulse amplitude index") : undefined;

  const verdict = applyPlxStatus(out, ms, dss);
  if (verdict.dropReason) {
    out.absent("spo2", verdict.dropReason);
    out.absent("pulse_rate", verdict.dropReason);
  } else {
    // Continuous notifications carry no timestamp: ingest stamps the receive time.
    out.mder("spo2", normal.spo2, "%", { flags: verdict.flags, mdc: MDC.PULS_OXIM_SAT_O2 });
    out.mder("pulse_rate", normal.pulseRate, "/min", { flags: verdict.flags, mdc: MDC.PULS_OXIM_PULS_RATE });
  }
  return out.build({ normal, fast, slow, pulseAmplitudeIndex, ...verdict.details });
}
