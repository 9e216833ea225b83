/**
 * Acme Vitals: a vendor-specific BLE characteristic of the Acme OX-100 (notify, 8 octets, little-endian).
 *
 * | Offset | Size | Field              | Encoding                                               |
 * |--------|------|--------------------|--------------------------------------------------------|
 * | 0      | 1    | Format version     | 0x01 (any other value: DecodeError "unsupported_version") |
 * | 1      | 1    | Status             | bit 0 finger out, 1 low perfusion, 2 motion, 3 battery low; 4–7 RFU |
 * | 2      | 1    | SpO2               | uint8 %, 0xFF = no value                              |
 * | 3      | 2    | Pulse rate         | uint16, 0.1 bpm, 0xFFFF = no value                    |
 * | 5      | 1    | Respiratory rate   | uint8 /min (from the PPG), 0xFF = no value            |
 * | 6      | 1    | Perfusion index    | uint8, 0.1 %, 0xFF = no value                         |
 * | 7      | 1    | Battery            | uint8 %, 0xFF = unknown                               |
 */
// In your own package: import { … } from "vitalog/sdk";
import {
  ByteReader,
  ByteWriter,
  type DecodeContext,
  DecodeError,
  type DecodeResult,
  type ReadingInput,
  ResultBuilder,
} from "../../../src/drivers/sdk.js";

export const ACME_SERVICE = "ac3e0001-0000-4000-8000-00000000ac3e";
export const ACME_VITALS = "ac3e0002-0000-4000-8000-00000000ac3e";

export interface AcmeVitalsDetails {
  version: number;
  fingerOut: boolean;
  lowPerfusion: boolean;
  motion: boolean;
  batteryLow: boolean;
  /** Perfusion index in %, when sent. */
  perfusionIndexPct?: number | undefined;
}

const NONE8 = 0xff;
const NONE16 = 0xffff;

/** Decodes one Acme Vitals notification. Pure; throws only DecodeError. */
export function decodeAcmeVitals(bytes: Uint8Array, ctx: DecodeContext): DecodeResult<AcmeVitalsDetails> {
  const r = new ByteReader(bytes);
  const out = new ResultBuilder(ctx);
  const version = r.u8("version");
  if (version !== 1) throw new DecodeError("unsupported_version", `Acme Vitals format version ${version}`, 0);
  const status = r.u8("status");
  const spo2 = r.u8("SpO2");
  const pulseRaw = r.u16("pulse rate");
  const resp = r.u8("respiratory rate");
  const pi = r.u8("perfusion index");
  const battery = r.u8("battery");
  const details: AcmeVitalsDetails = {
    version,
    fingerOut: (status & 0x01) !== 0,
    lowPerfusion: (status & 0x02) !== 0,
    motion: (status & 0x04) !== 0,
    batteryLow: (status & 0x08) !== 0,
    perfusionIndexPct: pi === NONE8 ? undefined : pi / 10,
  };
  if (battery <= 100) out.status({ batteryPct: battery });
  if (details.batteryLow) out.condition("battery_low");
  if (details.fingerOut) {
    // Finger out: the numbers are stale, so no physiological value; a technical condition instead.
    out.status({ sensorContact: false });
    out.condition("probe_off");
    for (const kind of ["spo2", "pulse_rate", "respiratory_rate"] as const)
      out.absent(kind, "measurement_unavailable");
    return out.build(details);
  }
  out.status({ sensorContact: true });
  const flags: ReadingInput["flags"] =
    details.lowPerfusion || details.motion ? ["device_reported_issue"] : [];
  if (details.lowPerfusion || details.motion) out.condition("signal_inadequate");
  const value = (
    kind: ReadingInput["kind"],
    raw: number,
    none: number,
    v: number,
    unit: string,
    decimals: number,
  ) => {
    if (raw === none) out.absent(kind, "measurement_unavailable");
    else out.reading({ kind, value: v, unit, flags, decimals });
  };
  value("spo2", spo2, NONE8, spo2, "%", 0);
  value("pulse_rate", pulseRaw, NONE16, pulseRaw / 10, "/min", 1);
  value("respiratory_rate", resp, NONE8, resp, "/min", 0);
  return out.build(details);
}

export interface AcmeVitalsFields {
  status?: number | undefined;
  spo2?: number | undefined;
  /** bpm, 0.1 resolution. */
  pulseRate?: number | undefined;
  respiratoryRate?: number | undefined;
  perfusionIndexPct?: number | undefined;
  batteryPct?: number | undefined;
}

/** Encoder, for the simulator and tests. Absent fields are written as "no value". */
export function encodeAcmeVitals(f: AcmeVitalsFields): Uint8Array {
  return new ByteWriter()
    .u8(1)
    .u8(f.status ?? 0)
    .u8(f.spo2 ?? NONE8)
    .u16(f.pulseRate === undefined ? NONE16 : Math.round(f.pulseRate * 10))
    .u8(f.respiratoryRate ?? NONE8)
    .u8(f.perfusionIndexPct === undefined ? NONE8 : Math.round(f.perfusionIndexPct * 10))
    .u8(f.batteryPct ?? NONE8)
    .toBytes();
}
