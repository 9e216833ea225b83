/**
 * "binary-bedside": a binary framed vital-signs format with start octet, length and checksum, and a
 * device-level acknowledgement sent only after commit.
 *
 *   frame   = A5 | LEN | payload (LEN octets) | SUM8 (low octet of the sum of LEN and payload)
 *   payload = version (01) | seq (u8) | status (u8) | { tag (u8) | value (IEEE 11073 SFLOAT, LE) }*
 *   status  = bit 0: probe off the patient; other bits reserved (ignored)
 *   tags    = 01 HR /min · 02 SpO2 % · 03 RR /min · 04 temperature Cel · 05 systolic · 06 diastolic ·
 *             07 mean mm[Hg] · 08 pulse rate /min · 10 battery %; unknown tags are skipped
 *   ack     = 06 | seq, written back once the frame's readings are durable (a device re-sends unacked frames)
 *
 * A wrong checksum drops the frame ("checksum_mismatch", counted) and the splitter rescans from the octet
 * after the start octet, so garbage never hides the frames behind it.
 */
import type { VitalKind } from "../../reading.js";
import {
  ByteReader,
  ByteWriter,
  computeChecksum,
  DecodeError,
  type Decoder,
  type DeviceDefinition,
  defineDevice,
  encodeSfloat,
  ResultBuilder,
} from "../sdk.js";

export const BINARY_START = 0xa5;
export const BINARY_ACK = 0x06;

const TAGS: Readonly<Record<number, { kind: VitalKind; unit: string } | "battery">> = {
  1: { kind: "heart_rate", unit: "/min" },
  2: { kind: "spo2", unit: "%" },
  3: { kind: "respiratory_rate", unit: "/min" },
  4: { kind: "body_temperature", unit: "Cel" },
  5: { kind: "bp_systolic", unit: "mm[Hg]" },
  6: { kind: "bp_diastolic", unit: "mm[Hg]" },
  7: { kind: "bp_mean", unit: "mm[Hg]" },
  8: { kind: "pulse_rate", unit: "/min" },
  16: "battery",
};

/** Tag of each vital kind, for encoders. */
export const BINARY_TAG: Readonly<Partial<Record<VitalKind | "battery", number>>> = Object.fromEntries(
  Object.entries(TAGS).map(([tag, t]) => [t === "battery" ? "battery" : t.kind, Number(tag)]),
);

export interface BinaryDetails {
  seq: number;
  unknownTags: number[];
}

export const decodeBinaryBedside: Decoder<BinaryDetails> = (bytes, ctx) => {
  const r = new ByteReader(bytes);
  const version = r.u8("version");
  if (version !== 1) throw new DecodeError("unsupported_version", `version ${version}`, 0);
  const seq = r.u8("seq");
  const status = r.u8("status");
  if (r.remaining % 3 !== 0) throw new DecodeError("frame_length_invalid", "records are 3 octets each", 3);
  const b = new ResultBuilder(ctx);
  const probeOff = (status & 0x01) !== 0;
  b.status({ sensorContact: !probeOff });
  if (probeOff) b.condition("probe_off");
  const unknownTags: number[] = [];
  while (r.remaining > 0) {
    const tag = r.u8("tag");
    const value = r.sfloat("value");
    const t = TAGS[tag];
    if (t === undefined) unknownTags.push(tag);
    else if (t === "battery") {
      if (value.ok && value.value >= 0 && value.value <= 100) b.status({ batteryPct: value.value });
    } else b.mder(t.kind, value, t.unit, probeOff ? { flags: ["sensor_contact_lost"] } : {});
  }
  return b.build({ seq, unknownTags });
};

/** `06 seq` for a frame whose payload carries a sequence number. */
export function binaryBedsideAck(payload: Uint8Array): Uint8Array | undefined {
  return payload.length >= 2 ? Uint8Array.of(BINARY_ACK, payload[1]!) : undefined;
}

/** A whole frame on the wire (start, length, payload, checksum) for simulators and tests. */
export function encodeBinaryBedside(
  seq: number,
  values: Readonly<Partial<Record<VitalKind | "battery", number>>>,
  probeOff = false,
): Uint8Array {
  const payload = new ByteWriter()
    .u8(1)
    .u8(seq & 0xff)
    .u8(probeOff ? 1 : 0);
  for (const [k, v] of Object.entries(values)) {
    const tag = BINARY_TAG[k as VitalKind | "battery"];
    if (tag === undefined || v === undefined) continue;
    payload.u8(tag).u16(encodeSfloat(v));
  }
  const body = payload.toBytes();
  const covered = Uint8Array.of(body.length, ...body);
  return Uint8Array.of(BINARY_START, ...covered, ...computeChecksum("sum8", covered));
}

export const binaryBedside: DeviceDefinition = defineDevice({
  vendor: "Vitalog (generic serial)",
  model: "binary-bedside",
  description: "Binary framed vital signs (A5 | len | payload | sum8) with ack after commit",
  sdkVersion: "^1.0.0",
  match: { transport: "serial", pathPrefix: "/dev/" },
  serial: {
    baudRate: 115200,
    framing: {
      type: "length_prefixed",
      startByte: BINARY_START,
      lengthOctets: 1,
      maxFrameBytes: 64,
      checksum: "sum8",
    },
    decode: decodeBinaryBedside,
    ack: binaryBedsideAck,
    // version 1, seq 7, status 0, HR 72, SpO2 97, RR 14
    examples: ["01 07 00 01 48 00 02 61 00 03 0E 00"],
  },
});
