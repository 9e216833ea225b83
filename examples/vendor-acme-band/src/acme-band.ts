/**
 * Acme Band: the binary MQTT payload of the Acme WB-2 wristband (8 octets, little-endian), published to
 * `<prefix>/<device id>/acme_band`.
 *
 * | Offset | Size | Field          | Encoding                                                    |
 * |--------|------|----------------|-------------------------------------------------------------|
 * | 0      | 1    | Format version | 0x01 (any other value: DecodeError "unsupported_version")   |
 * | 1      | 1    | Status         | bit 0 off wrist, bit 1 motion; 2–7 RFU                      |
 * | 2      | 1    | Heart rate     | uint8 /min, 0xFF = no value                                 |
 * | 3      | 1    | SpO2           | uint8 %, 0xFF = no value                                    |
 * | 4      | 2    | Skin temp.     | sint16, 0.01 °C, 0x8000 = no value                          |
 * | 6      | 1    | Battery        | uint8 %, 0xFF = unknown                                     |
 * | 7      | 1    | Checksum       | sum of octets 0–6, modulo 256 (mismatch: "band_checksum")   |
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

const NONE8 = 0xff;
const NONE_TEMP = -0x8000;
const LENGTH = 8;

function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < LENGTH - 1; i++) sum = (sum + bytes[i]!) & 0xff;
  return sum;
}

/** Decodes one Acme Band payload. Pure; throws only DecodeError. */
export function decodeAcmeBand(bytes: Uint8Array, ctx: DecodeContext): DecodeResult<{ motion: boolean }> {
  const r = new ByteReader(bytes);
  const version = r.u8("version");
  if (version !== 1) throw new DecodeError("unsupported_version", `Acme Band format version ${version}`, 0);
  r.need(LENGTH - 1, "payload");
  if (bytes.length !== LENGTH)
    throw new DecodeError("frame_length_invalid", `${bytes.length} octets, not ${LENGTH}`);
  // a vendor's own reason: documented here, stored and counted as it is
  if (checksum(bytes) !== bytes[LENGTH - 1])
    throw new DecodeError("band_checksum", "checksum mismatch", LENGTH - 1);
  const status = r.u8("status");
  const hr = r.u8("heart rate");
  const spo2 = r.u8("SpO2");
  const temp = r.s16("skin temperature");
  const battery = r.u8("battery");
  const out = new ResultBuilder(ctx);
  const motion = (status & 0x02) !== 0;
  if (battery <= 100) out.status({ batteryPct: battery });
  if ((status & 0x01) !== 0) {
    out.status({ sensorContact: false });
    out.condition("sensor_contact_lost");
    for (const kind of ["heart_rate", "spo2"] as const) out.absent(kind, "measurement_unavailable");
    return out.build({ motion });
  }
  out.status({ sensorContact: true });
  const flags: ReadingInput["flags"] = motion ? ["device_reported_issue"] : [];
  if (motion) out.condition("body_movement");
  if (hr === NONE8) out.absent("heart_rate", "measurement_unavailable");
  else out.reading({ kind: "heart_rate", value: hr, unit: "/min", flags });
  if (spo2 === NONE8) out.absent("spo2", "measurement_unavailable");
  else out.reading({ kind: "spo2", value: spo2, unit: "%", flags });
  // skin temperature is not body temperature: carried in the details only, never a reading
  return out.build({ motion, ...(temp === NONE_TEMP ? {} : { skinTemperatureC: temp / 100 }) });
}

/** Encoder, for simulators and tests. Absent fields are written as "no value". */
export function encodeAcmeBand(f: {
  status?: number;
  heartRate?: number;
  spo2?: number;
  skinTemperatureC?: number;
  batteryPct?: number;
}): Uint8Array {
  const bytes = new ByteWriter()
    .u8(1)
    .u8(f.status ?? 0)
    .u8(f.heartRate ?? NONE8)
    .u8(f.spo2 ?? NONE8)
    .s16(f.skinTemperatureC === undefined ? NONE_TEMP : Math.round(f.skinTemperatureC * 100))
    .u8(f.batteryPct ?? NONE8)
    .u8(0)
    .toBytes();
  bytes[LENGTH - 1] = checksum(bytes);
  return bytes;
}
