import assert from "node:assert/strict";
import { createCipheriv, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  commitEntryWithNodeCrypto,
  leafHashOfReadingInto,
  leafHashWithNodeCrypto,
  nodeHashWithNodeCrypto,
  openRecord,
  saltDeriver,
  sealRecord,
  unwrapKey,
  wrapKey,
} from "../../src/batcher/tlog/record-crypto.js";
import {
  canonicalize,
  decodeRecord,
  eventRecordText,
  readingRecordObject,
  readingRecordText,
} from "../../src/batcher/verifier/canonical-record.js";
import { commitEntry, ENTRY_DOMAIN } from "../../src/batcher/verifier/commitment.js";
import { leafHash, nodeHash } from "../../src/batcher/verifier/merkle.js";

const reading = {
  id: "01JD0000000000000000000000",
  deviceId: "wear-001",
  subjectId: "pt-001",
  seq: 7,
  kind: "heart_rate",
  loinc: "8867-4",
  value: 72.5,
  unit: "/min",
  mdc: null,
  deviceTimeMs: 1_763_700_000_000,
  observedAtMs: 1_763_700_000_000,
  receivedAtMs: 1_763_700_000_123,
  flags: ["questionable"],
};

describe("RFC 8785 canonical records", () => {
  it("sorts members by UTF-16 code units and serialises numbers as ECMAScript does (RFC 8785 §3.2)", () => {
    // [RFC 8785 §3.2.2.3] sample numbers
    assert.equal(
      canonicalize([1e21, 1e-7, 0.000001, -0, 333333333.3333333, Number.MIN_VALUE]),
      "[1e+21,1e-7,0.000001,0,333333333.3333333,5e-324]",
    );
    // [RFC 8785 §3.2.3] sorting: "\r" < "1" < "\u0080" < "\u00f6" < "\u20ac" < "\ud83d\ude00" < "\ufb33"
    const obj = { "\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\ud83d\ude00": 5, "\u0080": 6, "\u00f6": 7 };
    assert.equal(
      canonicalize(obj),
      '{"\\r":2,"1":4,"\u0080":6,"\u00f6":7,"\u20ac":1,"\ud83d\ude00":5,"\ufb33":3}',
    );
    assert.throws(() => canonicalize(Number.NaN), TypeError);
    assert.throws(() => canonicalize("\ud800"), TypeError);
  });

  it("the reading fast path equals general JCS for random readings", () => {
    fc.assert(
      fc.property(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.option(fc.integer({ min: 0, max: 65535 }), { nil: null }),
        fc.string(),
        fc.record({
          deviceId: fc.string(),
          subjectId: fc.string(),
          unit: fc.string(),
          deviceTimeMs: fc.option(fc.integer({ min: 0, max: 2 ** 50 }), { nil: null }),
          flags: fc.array(fc.constantFrom("confirm_band", "device_time_skewed", 'a"b'), { maxLength: 3 }),
        }),
        (value, seq, mdc, id, more) => {
          const r = { ...reading, ...more, value, seq, mdc, id: id || "x" };
          assert.equal(readingRecordText(r), canonicalize(readingRecordObject(r)));
        },
      ),
      { numRuns: 300 },
    );
    assert.equal(
      Object.keys(readingRecordObject(reading)).join(),
      Object.keys(readingRecordObject(reading)).sort().join(),
    );
  });

  it("decodes its own records and rejects non-canonical or unknown ones", () => {
    const enc = new TextEncoder();
    const text = readingRecordText(reading);
    assert.equal(decodeRecord(enc.encode(text)).id, reading.id);
    const ev = eventRecordText({
      id: "evt-1",
      event: "device_bound",
      atMs: 1,
      subjectId: null,
      deviceId: "d",
      data: { b: 1, a: [true] },
    });
    assert.equal(
      ev,
      '{"at_ms":1,"data":{"a":[true],"b":1},"device":"d","event":"device_bound","id":"evt-1","subject":null,"type":"event","v":1}',
    );
    assert.throws(() => decodeRecord(enc.encode(text.replace('"v":1', '"v":2'))), /not in RFC 8785|version/);
    assert.throws(() => decodeRecord(enc.encode(` ${text}`)), /canonical/);
    assert.throws(() => decodeRecord(new Uint8Array([0xff])), /UTF-8/);
  });
});

describe("commitments and sealed records", () => {
  it("node:crypto hot path and @noble verifier compute identical entries and leaf hashes", () => {
    for (let i = 0; i < 50; i++) {
      const salt = randomBytes(32);
      const record = randomBytes(i * 7);
      const fast = commitEntryWithNodeCrypto(salt, record);
      assert.deepEqual(new Uint8Array(fast), commitEntry(salt, record));
      assert.deepEqual(new Uint8Array(leafHashWithNodeCrypto(fast)), leafHash(fast));
    }
    assert.equal(ENTRY_DOMAIN, "vitalog/tlog-entry/v1");
  });

  it("the per-reading path (record bytes, leaf hash, node hashes) equals the definitions", () => {
    const anyString = fc.oneof(
      fc.string(),
      fc.string({ unit: "grapheme" }),
      fc.string({ unit: "binary" }),
      fc.constantFrom(
        'a"b',
        "back\\slash",
        "tab\there",
        "\u0000\u001f\u007f",
        "ö€😀",
        "01JD0000000000000000000000",
      ),
    );
    const anyNumber = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
      fc.constantFrom(0, -0, 9, 10, 100, -1000, 1e15, 2 ** 53 - 1, -(2 ** 53) + 1, 2 ** 53, 1e21, 1e-7, 0.1),
    );
    fc.assert(
      fc.property(
        fc.record({
          id: anyString,
          deviceId: anyString,
          subjectId: anyString,
          kind: anyString,
          loinc: anyString,
          unit: anyString,
          value: anyNumber,
          seq: anyNumber,
          observedAtMs: anyNumber,
          receivedAtMs: anyNumber,
          mdc: fc.option(anyNumber, { nil: null }),
          deviceTimeMs: fc.option(anyNumber, { nil: null }),
          flags: fc.array(anyString, { maxLength: 3 }),
        }),
        (r) => {
          const want = Buffer.from(canonicalize(readingRecordObject(r)), "utf8");
          assert.equal(readingRecordText(r), canonicalize(readingRecordObject(r)));
          const salts = randomBytes(96);
          const out = Buffer.alloc(96, 0xee);
          leafHashOfReadingInto(salts, 32, r, out, 32);
          assert.deepEqual(
            new Uint8Array(out.subarray(32, 64)),
            leafHash(commitEntry(salts.subarray(32, 64), want)),
          );
          assert.ok(
            out.subarray(0, 32).every((x) => x === 0xee) && out.subarray(64).every((x) => x === 0xee),
          );
        },
      ),
      { numRuns: 500 },
    );
    // a record that cannot fit the scratch buffer takes the string path, with the same result
    const huge = { ...reading, id: "€".repeat(6000), unit: "x".repeat(20_000) };
    const salts = randomBytes(32);
    const out = Buffer.alloc(32);
    leafHashOfReadingInto(salts, 0, huge, out, 0);
    const want = leafHash(commitEntry(salts, new TextEncoder().encode(readingRecordText(huge))));
    assert.deepEqual(new Uint8Array(out), want);

    const [a, b] = [randomBytes(32), randomBytes(32)];
    assert.deepEqual(new Uint8Array(nodeHashWithNodeCrypto(a, b)), nodeHash(a, b));
    assert.deepEqual(
      new Uint8Array(nodeHashWithNodeCrypto(b, a)),
      nodeHash(b, a),
      "scratch input is rewritten",
    );
    const pair = Buffer.concat([randomBytes(8), a, b]);
    const into = Buffer.alloc(96, 0xee);
    nodeHashWithNodeCrypto.pairInto(pair, 8, into, 32);
    assert.deepEqual(new Uint8Array(into.subarray(32, 64)), nodeHash(a, b));
    assert.ok(into.subarray(0, 32).every((x) => x === 0xee) && into.subarray(64).every((x) => x === 0xee));
    assert.throws(
      () => nodeHashWithNodeCrypto.pairInto(pair, 16, into, 0),
      RangeError,
      "children past the end",
    );
    assert.throws(() => leafHashWithNodeCrypto(randomBytes(31)), RangeError);
  });

  it("reading salts: a keyed function of the leaf index, 256 bits, distinct per leaf and per key", () => {
    const key = randomBytes(32);
    const salt = saltDeriver(key);
    const again = saltDeriver(Buffer.from(key));
    const seen = new Set<string>();
    for (const i of [0, 1, 2, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1]) {
      const s = salt(i);
      assert.equal(s.length, 32);
      assert.deepEqual(again(i), s, "deterministic");
      seen.add(s.toString("hex"));
      seen.add(s.subarray(0, 16).toString("hex"));
      seen.add(s.subarray(16).toString("hex"));
    }
    assert.equal(seen.size, 27, "no salt or salt half repeats (indexes above 2^32 included)");
    assert.notDeepEqual(saltDeriver(randomBytes(32))(7), salt(7), "another subject key, another salt");
    // the salt key is not the subject key: AES_k(0) (GCM's hash key for the event seals) is never revealed
    const aes = createCipheriv("aes-256-ecb", key, null);
    aes.setAutoPadding(false);
    assert.notDeepEqual(salt(0).subarray(0, 16), aes.update(Buffer.alloc(16)));
    const many = salt.many([5, 2 ** 40, 0]);
    assert.deepEqual(many, Buffer.concat([salt(5), salt(2 ** 40), salt(0)]), "batched = one by one");
    assert.throws(() => salt(-1), RangeError);
    assert.throws(() => salt(1.5), RangeError);
  });

  it("a sealed record opens only with its key, leaf index and entry", () => {
    const key = randomBytes(32);
    const salt = randomBytes(32);
    const record = Buffer.from(readingRecordText(reading));
    const entry = commitEntryWithNodeCrypto(salt, record);
    const sealed = sealRecord(key, 5, entry, { salt, record });
    const opened = openRecord(key, 5, entry, sealed)!;
    assert.deepEqual(Buffer.from(opened.record), record);
    assert.equal(openRecord(key, 6, entry, sealed), undefined, "moved to another leaf");
    assert.equal(openRecord(randomBytes(32), 5, entry, sealed), undefined, "other key");
    const flipped = Buffer.from(sealed);
    flipped[20]! ^= 1;
    assert.equal(openRecord(key, 5, entry, flipped), undefined, "one byte changed");
    const storage = randomBytes(32);
    const wrapped = wrapKey(storage, 3, key);
    assert.deepEqual(unwrapKey(storage, 3, wrapped), key);
    assert.equal(unwrapKey(storage, 4, wrapped), undefined);
  });
});
