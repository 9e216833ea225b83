/**
 * Tiny argument assertions for the batcher's pure crypto code (the noble way): a bad argument is a bug in
 * the caller, so these throw TypeError (wrong type) or RangeError (right type, value out of range).
 */

/** Byte length of a SHA-256 hash, the only hash this log uses. */
export const HASH_SIZE = 32;

/** Asserts `value` is a Uint8Array, of exactly `length` bytes when given. */
export function assertBytes(value: unknown, name: string, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`${name} must be ${length} bytes, got ${value.length}`);
  }
}

/** Asserts `value` is a 32-byte SHA-256 hash. */
export function assertHash(value: unknown, name: string): asserts value is Uint8Array {
  assertBytes(value, name, HASH_SIZE);
}

/** Asserts `value` is an array of 32-byte hashes. */
export function assertHashList(value: unknown, name: string): asserts value is readonly Uint8Array[] {
  if (!Array.isArray(value)) throw new TypeError(`${name} must be an array of hashes`);
  for (let i = 0; i < value.length; i++) assertHash(value[i], `${name}[${i}]`);
}

/**
 * Asserts `value` is a non-negative safe integer (0 ≤ value ≤ 2^53 − 1). Tree sizes and indexes are plain
 * Numbers, exact up to 2^53; arithmetic on them uses Math.floor and powers of two, never 32-bit operators.
 */
export function assertIndex(value: unknown, name: string): asserts value is number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number`);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
  }
}

/** Asserts `value` is a non-negative bigint. */
export function assertBigIndex(value: unknown, name: string): asserts value is bigint {
  if (typeof value !== "bigint") throw new TypeError(`${name} must be a bigint`);
  if (value < 0n) throw new RangeError(`${name} must be non-negative, got ${value}`);
}

/** Asserts `value` is a string. */
export function assertString(value: unknown, name: string): asserts value is string {
  if (typeof value !== "string") throw new TypeError(`${name} must be a string`);
}

/** Byte-wise equality. Not constant-time: every value compared here is public (hashes, roots). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
