/**
 * "ascii-bedside": a line-oriented ASCII format in the style of bedside monitors' serial data ports, with an
 * NMEA 0183-style checksum and a configurable label → vital-sign mapping:
 *
 *   $VS,HR=72.4,SPO2=97,RR=14,TEMP=36.8,SYS=122,DIA=78,BAT=95,PROBE=1*61<CR><LF>
 *
 * - A frame is one line ended by CR LF. Octets before the last "$" of a line are noise and are ignored.
 * - The checksum is the XOR of every octet between "$" and "*", as two hex digits (NMEA 0183 §5.3 style).
 * - Fields are LABEL=VALUE; a value of "---" (or empty) means "not available". Labels not in the mapping are
 *   ignored (listed in `details.unmapped`), so a monitor may send more than the site maps.
 */
import { UNREADABLE_CONTACT_STATUS, VITAL_KINDS, type VitalKind } from "../../reading.js";
import { DecodeError, type Decoder, type DeviceDefinition, defineDevice, ResultBuilder } from "../sdk.js";
import type { FieldMapping } from "./serial-config.js";

/** The mapping used when the config gives none; config `fields` are merged over it. */
export const DEFAULT_ASCII_FIELDS: Readonly<Record<string, FieldMapping>> = Object.freeze({
  HR: { kind: "heart_rate", unit: "/min" },
  PR: { kind: "pulse_rate", unit: "/min" },
  SPO2: { kind: "spo2", unit: "%" },
  RR: { kind: "respiratory_rate", unit: "/min" },
  TEMP: { kind: "body_temperature", unit: "Cel" },
  SYS: { kind: "bp_systolic", unit: "mm[Hg]" },
  DIA: { kind: "bp_diastolic", unit: "mm[Hg]" },
  MAP: { kind: "bp_mean", unit: "mm[Hg]" },
  BAT: { status: "battery_pct" },
  PROBE: { status: "sensor_contact" },
});

const NUMBER = /^-?\d{1,6}(\.\d{1,4})?$/;

/** XOR checksum of the octets between "$" and "*". */
export function asciiChecksum(body: string): string {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i) & 0xff;
  return x.toString(16).toUpperCase().padStart(2, "0");
}

export interface AsciiDetails {
  sentence: string;
  unmapped: string[];
}

/** A decoder for `fields` (label → meaning). Throws DecodeError: frame_unrecognised, checksum_mismatch, field_invalid. */
export function asciiBedsideDecoder(fields: Readonly<Record<string, FieldMapping>>): Decoder<AsciiDetails> {
  return (bytes, ctx) => {
    const line = Buffer.from(bytes).toString("latin1");
    const dollar = line.lastIndexOf("$");
    const star = line.lastIndexOf("*");
    if (dollar < 0 || star < dollar || star !== line.length - 3)
      throw new DecodeError("frame_unrecognised", "not a $…*hh line");
    const body = line.slice(dollar + 1, star);
    const given = line.slice(star + 1).toUpperCase();
    if (asciiChecksum(body) !== given)
      throw new DecodeError("checksum_mismatch", `checksum ${given}, computed ${asciiChecksum(body)}`);
    const [sentence, ...parts] = body.split(",");
    if (sentence !== "VS") throw new DecodeError("unsupported_sentence", `sentence ${sentence ?? ""}`);
    const b = new ResultBuilder(ctx);
    const unmapped: string[] = [];
    for (const part of parts) {
      const eq = part.indexOf("=");
      if (eq <= 0) throw new DecodeError("field_invalid", "field without LABEL=");
      const label = part.slice(0, eq);
      const text = part.slice(eq + 1);
      const m = fields[label];
      if (!m) {
        unmapped.push(label);
        continue;
      }
      if (text === "" || text === "---") {
        if ("kind" in m) b.absent(m.kind, "measurement_unavailable");
        else if (m.status === "sensor_contact") {
          // [clinical.md §5.2 "Signal-quality gating"] a contact status the monitor leaves blank is not contact:
          // the line's values stay out of the physiological rules and `signal quality` says why
          b.frameFlag("signal_unreliable");
          b.status({ measurementIssues: [UNREADABLE_CONTACT_STATUS] });
        }
        continue;
      }
      if (!NUMBER.test(text)) throw new DecodeError("field_invalid", `field ${label} is not a number`);
      const value = Number(text);
      if ("kind" in m) b.reading({ kind: m.kind, value, unit: m.unit });
      else if (m.status === "battery_pct") {
        if (value >= 0 && value <= 100) b.status({ batteryPct: value });
      } else {
        b.status({ sensorContact: value !== 0 });
        if (value === 0) b.condition("probe_off");
      }
    }
    return b.build({ sentence, unmapped });
  };
}

/** Encodes one line (without CR LF) for simulators and tests. */
export function encodeAsciiBedside(values: Readonly<Record<string, number | null>>): Uint8Array {
  const body = ["VS", ...Object.entries(values).map(([k, v]) => `${k}=${v === null ? "---" : v}`)].join(",");
  return Buffer.from(`$${body}*${asciiChecksum(body)}`, "latin1");
}

/** The ascii-bedside definition for a field mapping (defaults merged under `fields`). */
export function asciiBedsideDefinition(
  fields: Readonly<Record<string, FieldMapping>> = {},
): DeviceDefinition {
  const merged = { ...DEFAULT_ASCII_FIELDS, ...fields };
  for (const m of Object.values(merged))
    if ("kind" in m && !VITAL_KINDS.includes(m.kind as VitalKind))
      throw new TypeError(`unknown vital kind ${m.kind}`);
  return defineDevice({
    vendor: "Vitalog (generic serial)",
    model: "ascii-bedside",
    description: "Line-oriented ASCII vital-signs output ($VS,LABEL=VALUE,…*hh CR LF)",
    sdkVersion: "^1.0.0",
    match: { transport: "serial", pathPrefix: "/dev/" },
    serial: {
      baudRate: 9600,
      framing: { type: "delimiter", delimiter: "0D 0A", maxFrameBytes: 256 },
      decode: asciiBedsideDecoder(merged),
      examples: [Buffer.from(encodeAsciiBedside({ HR: 72, SPO2: 97, RR: 14, TEMP: 36.8 })).toString("hex")],
    },
  });
}
