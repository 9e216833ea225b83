import { randomBytes } from "node:crypto";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * Monotonic ULID generator (48-bit ms timestamp + 80-bit randomness, Crockford base32): ids sort
 * by creation time, and ids made within one millisecond increment the random part.
 */
export class UlidFactory {
  #lastMs = -1;
  #random = new Uint8Array(10);

  next(nowMs: number): string {
    if (nowMs <= this.#lastMs) {
      increment(this.#random);
    } else {
      this.#lastMs = nowMs;
      this.#random = new Uint8Array(randomBytes(10));
    }
    return encodeTime(this.#lastMs) + encodeRandom(this.#random);
  }
}

function increment(bytes: Uint8Array): void {
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 255) {
      bytes[i]!++;
      return;
    }
    bytes[i] = 0;
  }
}

function encodeTime(ms: number): string {
  let out = "";
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  // 80 bits → 16 base32 chars, 5 bits at a time (bigint keeps it simple and exact)
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = "";
  for (let i = 0; i < 16; i++) {
    out = CROCKFORD[Number(n & 31n)] + out;
    n >>= 5n;
  }
  return out;
}
