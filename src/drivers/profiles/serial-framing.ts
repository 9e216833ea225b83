/**
 * Declarative serial framing for vendor definitions, and the pure splitter a serial driver runs it through.
 * The splitter is incremental (bytes arrive in arbitrary chunks) and bounded: an over-long frame is
 * dropped and counted, never buffered without limit.
 */
import { crc16Mcrf4xx } from "./crc16-mcrf4xx.js";
import { hex } from "./hex.js";

/**
 * Frame checksums a `length_prefixed` framing can carry as a trailer after the payload (not counted in the
 * length). They cover the length octets and the payload, not the start octet. sum8: low octet of the sum;
 * xor8: XOR of the octets; crc16_mcrf4xx: CRC-16/MCRF4XX stored little-endian (2 octets).
 */
export const FRAME_CHECKSUMS = ["sum8", "xor8", "crc16_mcrf4xx"] as const;
export type FrameChecksum = (typeof FRAME_CHECKSUMS)[number];

/** Octets of a checksum trailer. */
export function checksumOctets(c: FrameChecksum | undefined): number {
  return c === undefined ? 0 : c === "crc16_mcrf4xx" ? 2 : 1;
}

/** The checksum trailer of `bytes` (already the covered range), as octets on the wire. */
export function computeChecksum(c: FrameChecksum, bytes: Uint8Array): Uint8Array {
  if (c === "crc16_mcrf4xx") {
    const crc = crc16Mcrf4xx(bytes);
    return Uint8Array.of(crc & 0xff, crc >>> 8);
  }
  let acc = 0;
  for (const b of bytes) acc = c === "sum8" ? (acc + b) & 0xff : acc ^ b;
  return Uint8Array.of(acc);
}

/** One outcome of `FrameSplitter.pushDetailed`: a frame, or bytes dropped with a stable reason. */
export type SplitEvent =
  | { ok: true; frame: Uint8Array }
  | { ok: false; reason: "checksum_mismatch" | "frame_too_long" | "frame_incomplete"; raw: Uint8Array };

/** How a serial byte stream is cut into frames. */
export type SerialFraming =
  /** Frames end with `delimiter` (hex, e.g. "0D 0A"); the delimiter is not part of the frame. */
  | { type: "delimiter"; delimiter: string; maxFrameBytes: number }
  /** Every frame is exactly `frameBytes` long. */
  | { type: "fixed_length"; frameBytes: number }
  /**
   * `[start octet] | length (1 or 2 octets, LE) | payload`: the frame handed to the decoder is the payload.
   * Bytes before a start octet are skipped (resynchronisation).
   */
  | {
      type: "length_prefixed";
      startByte?: number | undefined;
      lengthOctets: 1 | 2;
      maxFrameBytes: number;
      /**
       * Optional trailer after the payload. A frame whose checksum does not match is dropped and reported
       * ("checksum_mismatch"), and the splitter rescans from the octet after its start octet, so a false start
       * octet inside garbage never swallows the good frames behind it.
       */
      checksum?: FrameChecksum | undefined;
    };

/** Problems with a framing declaration (empty when valid). */
export function framingProblems(f: SerialFraming, where: string): string[] {
  const p: string[] = [];
  const positiveInt = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n > 0 && n <= 65535;
  if (f.type === "delimiter") {
    let delimiterOk = false;
    try {
      delimiterOk = typeof f.delimiter === "string" && hex(f.delimiter).length > 0;
    } catch {
      delimiterOk = false;
    }
    if (!delimiterOk) p.push(`${where}.delimiter must be non-empty hex`);
    if (!positiveInt(f.maxFrameBytes)) p.push(`${where}.maxFrameBytes must be an integer in 1..65535`);
  } else if (f.type === "fixed_length") {
    if (!positiveInt(f.frameBytes)) p.push(`${where}.frameBytes must be an integer in 1..65535`);
  } else if (f.type === "length_prefixed") {
    if (f.lengthOctets !== 1 && f.lengthOctets !== 2) p.push(`${where}.lengthOctets must be 1 or 2`);
    if (!positiveInt(f.maxFrameBytes)) p.push(`${where}.maxFrameBytes must be an integer in 1..65535`);
    if (
      f.startByte !== undefined &&
      !(Number.isInteger(f.startByte) && f.startByte >= 0 && f.startByte <= 255)
    ) {
      p.push(`${where}.startByte must be an octet`);
    }
    if (f.checksum !== undefined && !FRAME_CHECKSUMS.includes(f.checksum))
      p.push(`${where}.checksum must be one of ${FRAME_CHECKSUMS.join(", ")}`);
  } else {
    p.push(`${where}.type must be delimiter, fixed_length or length_prefixed`);
  }
  return p;
}

/**
 * Incremental frame splitter. `push` returns the complete frames; `pushDetailed` also reports what it dropped
 * (over-long frames, checksum mismatches) so a driver can count them per device. `overflows` and
 * `checksumErrors` count dropped frames.
 */
export class FrameSplitter {
  readonly #f: SerialFraming;
  readonly #delimiter: Uint8Array;
  #buf: number[] = [];
  /** After an over-long delimiter frame: drop octets up to and including the next delimiter. */
  #skipping = false;
  overflows = 0;
  checksumErrors = 0;

  constructor(framing: SerialFraming) {
    const problems = framingProblems(framing, "framing");
    if (problems.length > 0) throw new TypeError(problems.join("; "));
    this.#f = framing;
    this.#delimiter = framing.type === "delimiter" ? hex(framing.delimiter) : new Uint8Array();
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    for (const e of this.pushDetailed(chunk)) if (e.ok) frames.push(e.frame);
    return frames;
  }

  pushDetailed(chunk: Uint8Array): SplitEvent[] {
    const events: SplitEvent[] = [];
    // octets to (re)scan: a rejected checksummed frame puts its octets after the start octet back in front
    let pending: number[] = [...chunk];
    let i = 0;
    while (i < pending.length) {
      this.#buf.push(pending[i++]!);
      const e = this.#step();
      if (!e) continue;
      if ("rescan" in e) {
        pending = [...e.rescan, ...pending.slice(i)];
        i = 0;
        events.push(e.event);
      } else events.push(e);
    }
    return events;
  }

  /**
   * Gives up on a partial frame because the line went quiet in the middle of it (call after an inter-frame
   * gap): a garbage start octet announcing a long length must not hold the good frames behind it hostage
   * until more octets arrive. Reports "frame_incomplete" and rescans what followed the start octet.
   * Delimiter framing keeps its partial line (it resynchronises on the next delimiter anyway).
   */
  flush(): SplitEvent[] {
    const f = this.#f;
    if (this.#buf.length === 0 || f.type === "delimiter") return [];
    const buf = this.#buf;
    this.#buf = [];
    const event: SplitEvent = { ok: false, reason: "frame_incomplete", raw: Uint8Array.from(buf) };
    if (f.type === "length_prefixed" && f.startByte !== undefined)
      return [event, ...this.pushDetailed(Uint8Array.from(buf.slice(1)))];
    return [event];
  }

  /** Octets held for an incomplete frame. */
  get pending(): number {
    return this.#buf.length;
  }

  #step(): SplitEvent | { rescan: number[]; event: SplitEvent } | undefined {
    const f = this.#f;
    const buf = this.#buf;
    if (f.type === "fixed_length") {
      if (buf.length < f.frameBytes) return undefined;
      this.#buf = [];
      return { ok: true, frame: Uint8Array.from(buf) };
    }
    if (f.type === "delimiter") {
      const d = this.#delimiter;
      const end = buf.length - d.length;
      if (end >= 0 && d.every((x, i) => buf[end + i] === x)) {
        this.#buf = [];
        if (this.#skipping) {
          this.#skipping = false;
          return undefined;
        }
        return { ok: true, frame: Uint8Array.from(buf.slice(0, end)) };
      }
      if (buf.length > f.maxFrameBytes + d.length) {
        const wasSkipping = this.#skipping;
        this.#skipping = true;
        // keep the tail that could still be the start of a delimiter
        this.#buf = buf.slice(buf.length - d.length + 1);
        if (!wasSkipping) {
          this.overflows++;
          return { ok: false, reason: "frame_too_long", raw: Uint8Array.from(buf) };
        }
      }
      return undefined;
    }
    const start = f.startByte === undefined ? 0 : 1;
    if (start === 1 && buf[0] !== f.startByte) {
      this.#buf = [];
      return undefined;
    }
    const header = start + f.lengthOctets;
    if (buf.length < header) return undefined;
    const length = f.lengthOctets === 1 ? buf[start]! : buf[start]! | (buf[start + 1]! << 8);
    if (length > f.maxFrameBytes) {
      this.overflows++;
      this.#buf = [];
      const event: SplitEvent = { ok: false, reason: "frame_too_long", raw: Uint8Array.from(buf) };
      return start === 1 ? { rescan: buf.slice(1), event } : event;
    }
    const trailer = checksumOctets(f.checksum);
    if (buf.length < header + length + trailer) return undefined;
    this.#buf = [];
    const frame = Uint8Array.from(buf.slice(header, header + length));
    if (f.checksum !== undefined) {
      const covered = Uint8Array.from(buf.slice(start, header + length));
      const expected = computeChecksum(f.checksum, covered);
      const got = buf.slice(header + length);
      if (!expected.every((x, k) => got[k] === x)) {
        this.checksumErrors++;
        const event: SplitEvent = { ok: false, reason: "checksum_mismatch", raw: Uint8Array.from(buf) };
        // [resynchronisation] the start octet may have been garbage: rescan from the octet after it
        return start === 1 ? { rescan: buf.slice(1), event } : event;
      }
    }
    return { ok: true, frame };
  }
}
