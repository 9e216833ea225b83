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
  // 80 bits → 16 base32 characters, 5 bits at a time: two 40-bit halves fit exactly in doubles
  let out = "";
  for (let half = 0; half < 2; half++) {
    let n = 0;
    for (let i = half * 5; i < half * 5 + 5; i++) n = n * 256 + bytes[i]!;
    let chunk = "";
    for (let c = 0; c < 8; c++) {
      chunk = CROCKFORD[n % 32] + chunk;
      n = Math.floor(n / 32);
    }
    out += chunk;
  }
  return out;
}
