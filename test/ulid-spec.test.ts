import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeTime,
  encodeTime,
  isValid,
  MAX_ULID,
  monotonicFactory,
  TIME_MAX,
  ulidToUUID,
  uuidToULID,
} from "ulid";
import { type RandomBytes, ULID_TIME_MAX, UlidFactory } from "../src/ids.js";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");

/**
 * The package's Crockford base32 of 80 random bits: its uuidToULID encodes 128 bits, and the last 16 of its
 * 26 characters are exactly the last 80 bits (80 is a multiple of 5, counted from the least significant end).
 */
function crockfordEncode(bytes: Uint8Array): string {
  const h = `000000000000${hexOf(bytes)}`;
  const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return uuidToULID(uuid).slice(10);
}

/** A seeded byte source (xorshift32), so a failure names its seed and replays. */
function seeded(seed: number): RandomBytes {
  let x = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
}

/**
 * Both generators from the same randomness: ours reads 10 bytes per fresh millisecond; the `ulid` package asks
 * its PRNG for one fraction per character, the LAST character first (its encodeRandom prepends), and maps a
 * fraction f to CROCKFORD[floor(f * 32)]. So each draw of 10 bytes is handed to the package as the 16 five-bit
 * symbols of those bytes, in reverse, as symbol/32.
 */
function twins(seed: number): { ours: UlidFactory; theirs: (ms: number) => string } {
  const source = seeded(seed);
  const symbols: number[] = [];
  const ours = new UlidFactory((n) => {
    const bytes = source(n);
    const text = crockfordEncode(bytes);
    for (const ch of [...text].reverse()) symbols.push(CROCKFORD.indexOf(ch));
    return bytes;
  });
  const theirs = monotonicFactory(() => {
    const s = symbols.shift();
    if (s === undefined) throw new Error("the ulid package drew more randomness than ours");
    return s / 32;
  });
  return { ours, theirs };
}

describe("ULID spec: cross-checked against the ulid package", () => {
  it("encodes the time prefix as the package's encodeTime does, up to 2^48 - 1", () => {
    const times = [1, 31, 32, 1023, 1024, Date.UTC(2026, 10, 21), 1_700_000_000_123, 2 ** 32, ULID_TIME_MAX];
    for (let i = 0; i < 200; i++) times.push(Math.floor(Math.random() * ULID_TIME_MAX));
    for (const ms of times) {
      const id = new UlidFactory().next(ms);
      assert.equal(id.slice(0, 10), encodeTime(ms, 10), `time ${ms}`);
      assert.equal(decodeTime(id), ms, `time ${ms}`);
      assert.ok(isValid(id), id);
    }
  });

  it("holds the same 48-bit limit as the package", () => {
    assert.equal(ULID_TIME_MAX, TIME_MAX);
    assert.equal(new UlidFactory(() => new Uint8Array(10).fill(0xff)).next(ULID_TIME_MAX), MAX_ULID);
  });

  it("decodes, through the package, to the time and random bytes it was made of", () => {
    const seed = Date.now() >>> 0;
    const source = seeded(seed);
    for (let i = 0; i < 200; i++) {
      const bytes = source(10);
      const ms = 1_700_000_000_000 + i * 977;
      const id = new UlidFactory(() => bytes).next(ms);
      const expected = ms.toString(16).padStart(12, "0") + hexOf(bytes);
      assert.equal(ulidToUUID(id).replace(/-/g, "").toLowerCase(), expected, `seed ${seed}, draw ${i}`);
    }
  });

  it("encodes the random part as the package's Crockford base32 of the same 10 bytes", () => {
    const seed = Date.now() >>> 0;
    const source = seeded(seed);
    for (let i = 0; i < 200; i++) {
      const bytes = source(10);
      const id = new UlidFactory(() => bytes).next(1_700_000_000_000 + i);
      assert.equal(id.slice(10), crockfordEncode(bytes), `seed ${seed}, draw ${i}`);
    }
  });

  it("produces the same sequence as monotonicFactory from the same randomness, clock steps included", () => {
    const seed = Date.now() >>> 0;
    const { ours, theirs } = twins(seed);
    const t0 = 1_700_000_000_000;
    // same millisecond many times, a new millisecond, the clock stepping back, then forward again
    const times = [t0, t0, t0, t0 + 1, t0 + 1, t0 - 5, t0 - 5, t0 + 1, t0 + 2, t0 + 2];
    for (let i = 0; i < 300; i++) times.push(t0 + 3 + Math.floor(i / 7));
    let previous = "";
    for (const [i, ms] of times.entries()) {
      const id = ours.next(ms);
      assert.equal(id, theirs(ms), `seed ${seed}, call ${i} at ${ms}`);
      assert.ok(id > previous, `seed ${seed}: ${id} > ${previous}`);
      previous = id;
    }
  });

  it("carries the increment across bytes like the package's base32 increment", () => {
    // a random part whose low 13 bits are all ones: the increment carries over two bytes and a character
    const start = Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x1f, 0xff);
    const ours = new UlidFactory(() => start).next(5000);
    const again = new UlidFactory(() => start);
    again.next(5000);
    const next = again.next(5000);
    const symbols = [...crockfordEncode(start)].reverse().map((ch) => CROCKFORD.indexOf(ch) / 32);
    const theirs = monotonicFactory(() => symbols.shift() ?? Number.NaN);
    assert.equal(ours, theirs(5000));
    assert.equal(next, theirs(5000));
    assert.equal(
      next.slice(10),
      crockfordEncode(Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x20, 0x00)),
    );
  });
});

describe("ULID spec: overflow of the random part", () => {
  const ALL_ONES = () => new Uint8Array(10).fill(0xff);

  it("throws a RangeError instead of wrapping when the random part is all ones within one millisecond", () => {
    const f = new UlidFactory(ALL_ONES);
    const first = f.next(1000);
    assert.equal(first.slice(10), "ZZZZZZZZZZZZZZZZ");
    assert.throws(() => f.next(1000), RangeError);
    assert.throws(() => f.next(999), RangeError, "a clock stepping back stays on the full millisecond");
  });

  it("agrees with the package, which also refuses to wrap", () => {
    const theirs = monotonicFactory(() => 31 / 32);
    assert.equal(theirs(1000).slice(10), "ZZZZZZZZZZZZZZZZ");
    assert.throws(() => theirs(1000));
  });

  it("keeps its state after the refusal and resumes with a fresh random part in a later millisecond", () => {
    let draws = 0;
    const f = new UlidFactory((n) => (draws++ === 0 ? ALL_ONES() : new Uint8Array(n)));
    const first = f.next(1000);
    assert.throws(() => f.next(1000), RangeError);
    assert.throws(() => f.next(1000), RangeError);
    const later = f.next(1001);
    assert.equal(later, `${encodeTime(1001, 10)}0000000000000000`);
    assert.ok(later > first);
  });

  it("reaches the overflow by incrementing, one below all ones first", () => {
    const start = new Uint8Array(10).fill(0xff);
    start[9] = 0xfe;
    const f = new UlidFactory(() => start);
    assert.equal(f.next(7).slice(10), "ZZZZZZZZZZZZZZZY");
    assert.equal(f.next(7).slice(10), "ZZZZZZZZZZZZZZZZ");
    assert.throws(() => f.next(7), /overflows within millisecond 7/);
  });
});

describe("ULID spec: timestamp range", () => {
  it("refuses a time that 48 bits cannot hold, or that is no integer", () => {
    const f = new UlidFactory();
    for (const bad of [-1, ULID_TIME_MAX + 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => f.next(bad), RangeError, String(bad));
    }
    assert.equal(f.next(0).slice(0, 10), "0000000000");
    assert.equal(f.next(ULID_TIME_MAX).slice(0, 10), "7ZZZZZZZZZ");
  });
});
