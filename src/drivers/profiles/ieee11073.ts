/**
 * IEEE 11073-20601 MDER numeric types SFLOAT (16-bit, `medfloat16`) and FLOAT (32-bit, `medfloat32`).
 * value = mantissa × 10^exponent, both two's complement [clinical.md §1.2].
 * Special values are never numbers: they decode to an explicit `special` reason.
 */

/** The reserved special values; each maps to a FHIR dataAbsentReason (see `dataAbsentReason`). */
export type MderSpecial = "nan" | "nres" | "positive_infinity" | "negative_infinity" | "reserved";

/** A decoded SFLOAT/FLOAT: a finite number with its precision, or a special value. */
export type MderNumber =
  | {
      readonly ok: true;
      readonly value: number;
      readonly mantissa: number;
      readonly exponent: number;
      /** Decimal places the device sent: max(0, −exponent). `0xE0C8` is 2.00 → 2. */
      readonly decimals: number;
    }
  | { readonly ok: false; readonly special: MderSpecial };

// [IEEE 11073-20601] / [clinical.md §1.2] special values, all with exponent 0; compare the whole word.
export const SFLOAT_SPECIALS: Readonly<Record<MderSpecial, number>> = {
  nan: 0x07ff,
  nres: 0x0800,
  positive_infinity: 0x07fe,
  negative_infinity: 0x0802,
  reserved: 0x0801,
};

export const FLOAT_SPECIALS: Readonly<Record<MderSpecial, number>> = {
  nan: 0x007fffff,
  nres: 0x00800000,
  positive_infinity: 0x007ffffe,
  negative_infinity: 0x00800002,
  reserved: 0x00800001,
};

const SFLOAT_BY_WORD = new Map<number, MderSpecial>(
  Object.entries(SFLOAT_SPECIALS).map(([k, v]) => [v, k as MderSpecial]),
);
const FLOAT_BY_WORD = new Map<number, MderSpecial>(
  Object.entries(FLOAT_SPECIALS).map(([k, v]) => [v, k as MderSpecial]),
);

/** [HL7 PHD IG, MDER FLOATs and SFLOATs] FHIR Observation.dataAbsentReason for a special value. */
export function dataAbsentReason(
  special: MderSpecial,
): "not-a-number" | "error" | "positive-infinity" | "negative-infinity" {
  switch (special) {
    case "nan":
      return "not-a-number";
    case "positive_infinity":
      return "positive-infinity";
    case "negative_infinity":
      return "negative-infinity";
    default:
      // [clinical.md §1.2] NRes and the reserved value both map to `error`
      return "error";
  }
}

/** mantissa × 10^exponent, correctly rounded (decimal string parse, so 943e-1 is exactly 94.3). */
export function scaleDecimal(mantissa: number, exponent: number): number {
  const text = String(mantissa);
  const e = text.indexOf("e");
  if (e < 0) return Number(`${text}e${exponent}`);
  return Number(`${text.slice(0, e)}e${Number(text.slice(e + 1)) + exponent}`);
}

function finite(mantissa: number, exponent: number): MderNumber {
  return {
    ok: true,
    value: scaleDecimal(mantissa, exponent),
    mantissa,
    exponent,
    decimals: Math.max(0, -exponent),
  };
}

/** Decodes a 16-bit SFLOAT word (already assembled from its two LE octets). */
export function decodeSfloat(word: number): MderNumber {
  if (!Number.isInteger(word) || word < 0 || word > 0xffff)
    throw new RangeError("SFLOAT word must be a uint16");
  const special = SFLOAT_BY_WORD.get(word);
  if (special) return { ok: false, special };
  const exponent = (word >> 12) & 0x0f;
  const mantissa = word & 0x0fff;
  // [clinical.md §1.2] 4-bit signed exponent, 12-bit signed mantissa
  return finite(
    mantissa >= 0x0800 ? mantissa - 0x1000 : mantissa,
    exponent >= 0x08 ? exponent - 0x10 : exponent,
  );
}

/** Decodes a 32-bit FLOAT word (already assembled from its four LE octets). */
export function decodeFloat(word: number): MderNumber {
  if (!Number.isInteger(word) || word < 0 || word > 0xffffffff)
    throw new RangeError("FLOAT word must be a uint32");
  const special = FLOAT_BY_WORD.get(word);
  if (special) return { ok: false, special };
  const exponent = Math.floor(word / 0x1000000);
  const mantissa = word % 0x1000000;
  // [clinical.md §1.2] int8 exponent (bits 31–24), 24-bit signed mantissa
  return finite(
    mantissa >= 0x800000 ? mantissa - 0x1000000 : mantissa,
    exponent >= 0x80 ? exponent - 0x100 : exponent,
  );
}

/** What an encoder accepts for an SFLOAT/FLOAT field. */
export type MderInput = number | MderSpecial | { readonly mantissa: number; readonly exponent: number };

interface Layout {
  name: string;
  mantissaBits: number;
  exponentBits: number;
  expMin: number;
  expMax: number;
  specials: Readonly<Record<MderSpecial, number>>;
}

const SFLOAT: Layout = {
  name: "SFLOAT",
  mantissaBits: 12,
  exponentBits: 4,
  expMin: -8,
  expMax: 7,
  specials: SFLOAT_SPECIALS,
};
const FLOAT: Layout = {
  name: "FLOAT",
  mantissaBits: 24,
  exponentBits: 8,
  expMin: -128,
  expMax: 127,
  specials: FLOAT_SPECIALS,
};

function fits(l: Layout, mantissa: number, exponent: number): boolean {
  const half = 2 ** (l.mantissaBits - 1);
  // With exponent 0, the top two and bottom three mantissas are the special values.
  const lo = exponent === 0 ? -half + 3 : -half;
  const hi = exponent === 0 ? half - 3 : half - 1;
  return (
    Number.isInteger(mantissa) &&
    mantissa >= lo &&
    mantissa <= hi &&
    exponent >= l.expMin &&
    exponent <= l.expMax
  );
}

function pack(l: Layout, mantissa: number, exponent: number): number {
  const m = mantissa < 0 ? mantissa + 2 ** l.mantissaBits : mantissa;
  const e = exponent < 0 ? exponent + 2 ** l.exponentBits : exponent;
  return e * 2 ** l.mantissaBits + m;
}

function encode(l: Layout, input: MderInput): number {
  if (typeof input === "string") {
    const word = l.specials[input];
    if (word === undefined) throw new RangeError(`unknown ${l.name} special value ${JSON.stringify(input)}`);
    return word;
  }
  if (typeof input === "object") {
    if (!fits(l, input.mantissa, input.exponent)) {
      throw new RangeError(`${l.name} cannot hold ${input.mantissa}e${input.exponent}`);
    }
    return pack(l, input.mantissa, input.exponent);
  }
  if (!Number.isFinite(input))
    throw new RangeError(`${l.name} encodes finite numbers; use a special value instead`);
  // Fewest decimals that represent the value exactly; else the most precise approximation that fits.
  for (let e = Math.min(l.expMax, 20); e >= Math.max(l.expMin, -20); e--) {
    const m = Math.round(scaleDecimal(input, -e));
    if (fits(l, m, e) && scaleDecimal(m, e) === input) return pack(l, m, e);
  }
  for (let e = Math.max(l.expMin, -20); e <= l.expMax; e++) {
    const m = Math.round(scaleDecimal(input, -e));
    if (fits(l, m, e)) return pack(l, m, e);
  }
  throw new RangeError(`${l.name} cannot hold ${input}`);
}

/** Encodes an SFLOAT word. Numbers get the fewest decimals that hold them exactly (RangeError if too large). */
export function encodeSfloat(input: MderInput): number {
  return encode(SFLOAT, input);
}

/** Encodes a FLOAT word. Numbers get the fewest decimals that hold them exactly (RangeError if too large). */
export function encodeFloat(input: MderInput): number {
  return encode(FLOAT, input);
}
