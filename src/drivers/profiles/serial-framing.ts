/**
 * Declarative serial framing for vendor definitions, and the pure splitter a serial driver runs it through.
 * The splitter is incremental (bytes arrive in arbitrary chunks) and bounded: an over-long frame is
 * dropped and counted, never buffered without limit.
 */
import { hex } from "./hex.js";

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
  | { type: "length_prefixed"; startByte?: number | undefined; lengthOctets: 1 | 2; maxFrameBytes: number };

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
  } else {
    p.push(`${where}.type must be delimiter, fixed_length or length_prefixed`);
  }
  return p;
}

/** Incremental frame splitter. `push` returns the complete frames; `overflows` counts dropped over-long frames. */
export class FrameSplitter {
  readonly #f: SerialFraming;
  readonly #delimiter: Uint8Array;
  #buf: number[] = [];
  /** After an over-long delimiter frame: drop octets up to and including the next delimiter. */
  #skipping = false;
  overflows = 0;

  constructor(framing: SerialFraming) {
    const problems = framingProblems(framing, "framing");
    if (problems.length > 0) throw new TypeError(problems.join("; "));
    this.#f = framing;
    this.#delimiter = framing.type === "delimiter" ? hex(framing.delimiter) : new Uint8Array();
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    for (const b of chunk) {
      this.#buf.push(b);
      const frame = this.#step();
      if (frame) frames.push(frame);
    }
    return frames;
  }

  #step(): Uint8Array | undefined {
    const f = this.#f;
    const buf = this.#buf;
    if (f.type === "fixed_length") {
      if (buf.length < f.frameBytes) return undefined;
      this.#buf = [];
      return Uint8Array.from(buf);
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
        return Uint8Array.from(buf.slice(0, end));
      }
      if (buf.length > f.maxFrameBytes + d.length) {
        if (!this.#skipping) this.overflows++;
        this.#skipping = true;
        // keep the tail that could still be the start of a delimiter
        this.#buf = buf.slice(buf.length - d.length + 1);
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
      return undefined;
    }
    if (buf.length < header + length) return undefined;
    this.#buf = [];
    return Uint8Array.from(buf.slice(header));
  }
}
