/**
 * ULIDs [ulid/spec]: 48-bit millisecond timestamp + 80 random bits, 26 characters of Crockford base32, so ids
 * sort by creation time as plain strings (the log's `evt-…` refs and reading ids rely on it).
 *
 * Hand-written rather than the `ulid` package (a dev dependency only): this is on the hot path of every
 * reading, draws its randomness as one 10-byte read where the package makes sixteen one-byte reads, and keeps
 * the monotonic state in an object its owner holds instead of a closure over module state. test/ulid-spec.test.ts checks it against the `ulid` package (same time prefix, same
 * Crockford encoding, same monotonic sequence as its `monotonicFactory` from the same randomness).
 */
import { randomBytes } from "node:crypto";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** [ulid/spec] the largest timestamp 48 bits hold (10889 AD). */
export const ULID_TIME_MAX = 2 ** 48 - 1;

/** Source of the random part: `n` uniformly random bytes. */
export type RandomBytes = (n: number) => Uint8Array;

const nodeRandom: RandomBytes = (n) => new Uint8Array(randomBytes(n));

/**
 * Monotonic ULID generator. Contract:
 * - Ids from one factory MUST sort strictly increasing in call order, also within one millisecond and when
 *   `nowMs` goes back (a stepped wall clock): then the previous timestamp is kept and the random part, taken
 *   as an 80-bit number, is incremented by one [ulid/spec "Monotonicity"].
 * - When that increment would overflow (all 80 bits set), `next` MUST throw and MUST NOT wrap: a wrapped id
 *   would sort before the ids already issued [ulid/spec: "the generation will fail"]. It throws a
 *   `RangeError`, not a catalog `GatewayError`: the random part starts uniform, so this needs about 2^79
 *   ids under one timestamp on average, which no operator can cause or act on; like any other range
 *   violation in this code base it is a bug-class error. The factory's state is left unchanged, so every
 *   call throws until `nowMs` passes the stuck timestamp, which then starts a fresh random part.
 * - `nowMs` MUST be an integer in [0, 2^48 - 1] (RangeError otherwise): the timestamp has 48 bits.
 */
export class UlidFactory {
  #lastMs = -1;
  #random = new Uint8Array(10);
  readonly #randomBytes: RandomBytes;

  /** `random` is for tests (a fixed or recorded source); the default is the OS CSPRNG. */
  constructor(random: RandomBytes = nodeRandom) {
    this.#randomBytes = random;
  }

  next(nowMs: number): string {
    if (!Number.isInteger(nowMs) || nowMs < 0 || nowMs > ULID_TIME_MAX) {
      throw new RangeError(`ULID time must be an integer in [0, 2^48 - 1], got ${nowMs}`);
    }
    if (nowMs <= this.#lastMs) {
      if (this.#random.every((b) => b === 0xff)) {
        throw new RangeError(`ULID random part overflows within millisecond ${this.#lastMs}`);
      }
      increment(this.#random);
    } else {
      const fresh = this.#randomBytes(10);
      if (fresh.length !== 10) throw new RangeError("ULID random source must return 10 bytes");
      this.#lastMs = nowMs;
      this.#random = Uint8Array.from(fresh);
    }
    return encodeTime(this.#lastMs) + encodeRandom(this.#random);
  }
}

/** Adds one to a big-endian number; the caller has checked it is not all ones. */
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
