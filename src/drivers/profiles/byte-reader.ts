/** Bounds-checked little-endian reader for GATT frames ([clinical.md §1.0]: every field is LE, nothing padded). */
import { assertBytes, DecodeError } from "./decode-error.js";
import { decodeFloat, decodeSfloat, type MderNumber } from "./ieee11073.js";

/** Reads fields in wire order; any read past the end throws `DecodeError("frame_too_short")`. */
export class ByteReader {
  readonly bytes: Uint8Array;
  offset: number;
  readonly end: number;

  constructor(bytes: Uint8Array, offset = 0, end = bytes.length) {
    assertBytes(bytes);
    this.bytes = bytes;
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** Throws frame_too_short unless `n` more octets are available for `field`. */
  need(n: number, field: string): void {
    if (this.remaining < n) {
      throw new DecodeError(
        "frame_too_short",
        `${field} needs ${n} octet(s) at offset ${this.offset}, ${Math.max(0, this.remaining)} left`,
        this.offset,
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.bytes[this.offset++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.bytes[this.offset]! | (this.bytes[this.offset + 1]! << 8);
    this.offset += 2;
    return v;
  }

  s16(field: string): number {
    const v = this.u16(field);
    return v >= 0x8000 ? v - 0x10000 : v;
  }

  u24(field: string): number {
    this.need(3, field);
    const b = this.bytes;
    const o = this.offset;
    this.offset += 3;
    return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);
  }

  u32(field: string): number {
    this.need(4, field);
    const b = this.bytes;
    const o = this.offset;
    this.offset += 4;
    // multiply, not shift: JavaScript bit operators are signed 32-bit
    return b[o]! + b[o + 1]! * 0x100 + b[o + 2]! * 0x10000 + b[o + 3]! * 0x1000000;
  }

  sfloat(field: string): MderNumber {
    return decodeSfloat(this.u16(field));
  }

  float(field: string): MderNumber {
    return decodeFloat(this.u32(field));
  }

  take(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}

/** Growable little-endian writer for the encoders. Values out of range are caller bugs: RangeError. */
export class ByteWriter {
  #out: number[] = [];

  #int(v: number, max: number, octets: number, field: string): void {
    if (!Number.isInteger(v) || v < 0 || v > max)
      throw new RangeError(`${field} must be an integer in [0, ${max}]`);
    for (let i = 0; i < octets; i++) this.#out.push(Math.floor(v / 256 ** i) % 256);
  }

  u8(v: number, field = "u8"): this {
    this.#int(v, 0xff, 1, field);
    return this;
  }

  u16(v: number, field = "u16"): this {
    this.#int(v, 0xffff, 2, field);
    return this;
  }

  s16(v: number, field = "s16"): this {
    if (!Number.isInteger(v) || v < -0x8000 || v > 0x7fff) throw new RangeError(`${field} must be a sint16`);
    return this.u16(v < 0 ? v + 0x10000 : v, field);
  }

  u24(v: number, field = "u24"): this {
    this.#int(v, 0xffffff, 3, field);
    return this;
  }

  u32(v: number, field = "u32"): this {
    this.#int(v, 0xffffffff, 4, field);
    return this;
  }

  bytes(b: Uint8Array | readonly number[]): this {
    for (const x of b) this.u8(x, "octet");
    return this;
  }

  get length(): number {
    return this.#out.length;
  }

  toBytes(): Uint8Array {
    return Uint8Array.from(this.#out);
  }
}
