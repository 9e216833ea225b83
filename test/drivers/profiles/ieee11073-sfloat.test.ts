import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ByteReader } from "../../../src/drivers/profiles/byte-reader.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import {
  dataAbsentReason,
  decodeFloat,
  decodeSfloat,
  encodeFloat,
  encodeSfloat,
  FLOAT_SPECIALS,
  type MderSpecial,
  SFLOAT_SPECIALS,
} from "../../../src/drivers/profiles/ieee11073.js";

const sfloatOf = (text: string) => new ByteReader(hex(text)).sfloat("value");
const floatOf = (text: string) => new ByteReader(hex(text)).float("value");

describe("IEEE 11073-20601 SFLOAT/FLOAT (clinical.md §1.2)", () => {
  it("decodes the reference's worked examples from their LE octets", () => {
    assert.deepEqual(sfloatOf("AF F3"), { ok: true, value: 94.3, mantissa: 943, exponent: -1, decimals: 1 });
    assert.deepEqual(sfloatOf("5F B0"), {
      ok: true,
      value: 0.00095,
      mantissa: 95,
      exponent: -5,
      decimals: 5,
    });
    assert.deepEqual(sfloatOf("F1 FF"), { ok: true, value: -1.5, mantissa: -15, exponent: -1, decimals: 1 });
    assert.deepEqual(floatOf("6C 01 00 FF"), {
      ok: true,
      value: 36.4,
      mantissa: 364,
      exponent: -1,
      decimals: 1,
    });
    assert.deepEqual(floatOf("2E FB FF 00"), {
      ok: true,
      value: -1234,
      mantissa: -1234,
      exponent: 0,
      decimals: 0,
    });
    assert.deepEqual(sfloatOf("FF 07"), { ok: false, special: "nan" });
  });

  it("maps every SFLOAT special value to a reason, never a number", () => {
    assert.deepEqual(decodeSfloat(0x07ff), { ok: false, special: "nan" });
    assert.deepEqual(decodeSfloat(0x0800), { ok: false, special: "nres" });
    assert.deepEqual(decodeSfloat(0x07fe), { ok: false, special: "positive_infinity" });
    assert.deepEqual(decodeSfloat(0x0802), { ok: false, special: "negative_infinity" });
    assert.deepEqual(decodeSfloat(0x0801), { ok: false, special: "reserved" });
  });

  it("maps every FLOAT special value to a reason, never a number", () => {
    assert.deepEqual(decodeFloat(0x007fffff), { ok: false, special: "nan" });
    assert.deepEqual(decodeFloat(0x00800000), { ok: false, special: "nres" });
    assert.deepEqual(decodeFloat(0x007ffffe), { ok: false, special: "positive_infinity" });
    assert.deepEqual(decodeFloat(0x00800002), { ok: false, special: "negative_infinity" });
    assert.deepEqual(decodeFloat(0x00800001), { ok: false, special: "reserved" });
  });

  it("compares the whole word: special mantissas with a non-zero exponent are numbers", () => {
    // [clinical.md §1.2] 0xF7FF is 2047 × 10^-1 = 204.7, not NaN
    assert.deepEqual(decodeSfloat(0xf7ff), {
      ok: true,
      value: 204.7,
      mantissa: 2047,
      exponent: -1,
      decimals: 1,
    });
    assert.equal((decodeSfloat(0x17fe) as { value: number }).value, 20460);
    assert.equal((decodeSfloat(0xf800) as { value: number }).value, -204.8);
    assert.equal((decodeFloat(0xff7fffff) as { value: number }).value, 838860.7);
  });

  it("keeps precision: 0xF014 is 2.0 (1 decimal) and 0xE0C8 is 2.00 (2 decimals)", () => {
    assert.deepEqual(decodeSfloat(0xf014), { ok: true, value: 2, mantissa: 20, exponent: -1, decimals: 1 });
    assert.deepEqual(decodeSfloat(0xe0c8), { ok: true, value: 2, mantissa: 200, exponent: -2, decimals: 2 });
    assert.deepEqual(decodeSfloat(0x1001), { ok: true, value: 10, mantissa: 1, exponent: 1, decimals: 0 });
  });

  it("maps special values to the HL7 PHD dataAbsentReason codes", () => {
    const expected: Record<MderSpecial, string> = {
      nan: "not-a-number",
      nres: "error",
      positive_infinity: "positive-infinity",
      negative_infinity: "negative-infinity",
      reserved: "error",
    };
    for (const [special, reason] of Object.entries(expected))
      assert.equal(dataAbsentReason(special as MderSpecial), reason);
  });

  it("decodes exact decimals (no binary-float residue) for every SFLOAT word", () => {
    for (let w = 0; w <= 0xffff; w++) {
      const n = decodeSfloat(w);
      if (!n.ok) continue;
      assert.equal(n.value, Number(`${n.mantissa}e${n.exponent}`));
      assert.ok(Number.isFinite(n.value));
    }
  });

  it("re-encodes every one of the 65536 SFLOAT words to itself", () => {
    for (let w = 0; w <= 0xffff; w++) {
      const n = decodeSfloat(w);
      assert.equal(encodeSfloat(n.ok ? { mantissa: n.mantissa, exponent: n.exponent } : n.special), w);
    }
  });

  it("re-encodes random FLOAT words to themselves", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (w) => {
        const n = decodeFloat(w);
        assert.equal(encodeFloat(n.ok ? { mantissa: n.mantissa, exponent: n.exponent } : n.special), w);
      }),
      { numRuns: 2000 },
    );
  });

  it("encodes numbers with the fewest decimals that hold them exactly", () => {
    assert.equal(encodeSfloat(94.3), 0xf3af);
    assert.equal(encodeSfloat(72), 0x0048);
    assert.equal(encodeSfloat(-1.5), 0xfff1);
    assert.equal(encodeSfloat(0.00095), 0xb05f);
    assert.equal(encodeFloat(36.4), 0xff00016c);
    assert.equal(encodeFloat(-1234), 0x00fffb2e);
    // 2047 at exponent 0 would be NaN: the encoder moves to exponent 1 (2050, the nearest it can say)
    assert.deepEqual(decodeSfloat(encodeSfloat(2047)), {
      ok: true,
      value: 2050,
      mantissa: 205,
      exponent: 1,
      decimals: 0,
    });
    assert.notEqual(encodeSfloat(-2046), SFLOAT_SPECIALS.negative_infinity);
    assert.notEqual(encodeFloat(8388607), FLOAT_SPECIALS.nan);
  });

  it("encodes every special value by name", () => {
    for (const s of Object.keys(SFLOAT_SPECIALS) as MderSpecial[]) {
      assert.deepEqual(decodeSfloat(encodeSfloat(s)), { ok: false, special: s });
      assert.deepEqual(decodeFloat(encodeFloat(s)), { ok: false, special: s });
    }
  });

  it("refuses what it cannot hold with RangeError", () => {
    assert.throws(() => encodeSfloat(Number.NaN), RangeError);
    assert.throws(() => encodeSfloat(Number.POSITIVE_INFINITY), RangeError);
    assert.throws(() => encodeSfloat(3e10), RangeError);
    assert.throws(() => encodeSfloat({ mantissa: 2048, exponent: -1 }), RangeError);
    assert.throws(() => encodeSfloat({ mantissa: 2047, exponent: 0 }), RangeError);
    assert.throws(() => decodeSfloat(0x10000), RangeError);
    assert.throws(() => decodeFloat(-1), RangeError);
  });

  it("round-trips random decimals within SFLOAT precision", () => {
    fc.assert(
      fc.property(fc.integer({ min: -2045, max: 2045 }), fc.integer({ min: -8, max: 7 }), (m, e) => {
        const value = Number(`${m}e${e}`);
        const n = decodeSfloat(encodeSfloat(value));
        assert.ok(n.ok);
        assert.equal(n.value, value);
      }),
      { numRuns: 2000 },
    );
  });
});
