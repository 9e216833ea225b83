/**
 * RFC 9162 (= RFC 6962) SHA-256 Merkle tree: hashing, proof generation and proof verification.
 *
 * Pure and browser-safe (@noble/hashes only). Tree sizes and indexes are plain Numbers exact up to
 * 2^53 − 1: all index arithmetic uses Math.floor, `% 2` and powers of two, never JavaScript's 32-bit
 * bit operators (which silently wrap at 2^31).
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { assertBytes, assertHashList, assertIndex, HASH_SIZE } from "./assert.js";

/**
 * Reads the hash of a complete, aligned subtree: the Merkle Tree Hash of the `2^level` leaves
 * `D[index·2^level : (index+1)·2^level]`. Level 0 returns leaf hashes.
 *
 * Contract: implementations MUST return a 32-byte hash for every subtree they are asked for (proof
 * generation only asks for subtrees inside the requested tree size) and MUST throw, not return a
 * placeholder, when the hash is unavailable.
 */
export type HashReader = (level: number, index: number) => Uint8Array;

/** [RFC 9162 §2.1.1] MTH({}) = SHA-256 of the empty string. */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/** [RFC 9162 §2.1.1] Leaf hash: SHA-256(0x00 || entry). */
export function leafHash(entry: Uint8Array): Uint8Array {
  assertBytes(entry, "entry");
  const buf = new Uint8Array(entry.length + 1);
  buf[0] = 0x00;
  buf.set(entry, 1);
  return sha256(buf);
}

/** [RFC 9162 §2.1.1] Interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + 2 * HASH_SIZE);
  buf[0] = 0x01;
  buf.set(left, 1);
  buf.set(right, 1 + HASH_SIZE);
  return sha256(buf);
}

/** 2^level as an exact Number (level ≤ 53). */
export function pow2(level: number): number {
  return 2 ** level;
}

/** Largest k = 2^j with k < n (so k < n ≤ 2k), for n ≥ 2. [RFC 9162 §2.1.1] split point; not n/2. */
export function splitPoint(n: number): number {
  assertIndex(n, "n");
  if (n < 2) throw new RangeError(`split point needs n >= 2, got ${n}`);
  let k = pow2(Math.floor(Math.log2(n - 1)));
  // Math.log2 may round near powers of two for large n: correct both ways.
  while (k >= n) k /= 2;
  while (k * 2 < n) k *= 2;
  return k;
}

/** True when n is an exact power of two (1, 2, 4, …). */
export function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  return pow2(Math.round(Math.log2(n))) === n;
}

/** log2 of an exact power of two. */
function log2Exact(k: number): number {
  return Math.round(Math.log2(k));
}

/** [RFC 9162 §2.1.1] Merkle Tree Hash of a list of leaf hashes (not raw entries). */
export function rootOf(leafHashes: readonly Uint8Array[]): Uint8Array {
  assertHashList(leafHashes, "leafHashes");
  if (leafHashes.length === 0) return EMPTY_ROOT;
  return mth(leafHashes, 0, leafHashes.length);
}

function mth(leaves: readonly Uint8Array[], lo: number, hi: number): Uint8Array {
  if (hi - lo === 1) return leaves[lo]!;
  const k = splitPoint(hi - lo);
  return nodeHash(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

/**
 * MTH(D[start : start+size]) for a subtree of the RFC tree shape, i.e. `start` is a multiple of the largest
 * power of two ≤ `size` (every range PATH and PROOF recurse into has that form). The subtree splits into the
 * complete subtrees given by the set bits of `size`, tallest first, folded from the right.
 */
export function subtreeHash(read: HashReader, start: number, size: number): Uint8Array {
  assertIndex(start, "start");
  assertIndex(size, "size");
  if (size === 0) return EMPTY_ROOT;
  const parts: Uint8Array[] = [];
  let lo = start;
  let rest = size;
  while (rest > 0) {
    const level = Math.floor(Math.log2(rest));
    let k = pow2(level);
    let lv = level;
    if (k > rest) {
      k /= 2;
      lv -= 1;
    }
    if (lo % k !== 0) throw new RangeError(`subtree [${start}, ${start + size}) is not aligned`);
    parts.push(read(lv, lo / k));
    lo += k;
    rest -= k;
  }
  let acc = parts[parts.length - 1]!;
  for (let i = parts.length - 2; i >= 0; i--) acc = nodeHash(parts[i]!, acc);
  return acc;
}

/**
 * [RFC 9162 §2.1.3.1] Inclusion proof PATH(index, D[size]), ordered leaf sibling first, root child last.
 * Reads O(log size) hashes.
 */
export function inclusionProof(index: number, size: number, read: HashReader): Uint8Array[] {
  assertIndex(index, "index");
  assertIndex(size, "size");
  if (index >= size) throw new RangeError(`index ${index} out of range for tree size ${size}`);
  const path: Uint8Array[] = [];
  let lo = 0;
  let n = size;
  let m = index;
  while (n > 1) {
    const k = splitPoint(n);
    if (m < k) {
      // PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
      path.push(subtreeHash(read, lo + k, n - k));
      n = k;
    } else {
      // PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
      path.push(read(log2Exact(k), lo / k));
      lo += k;
      m -= k;
      n -= k;
    }
  }
  return path.reverse();
}

/**
 * [RFC 9162 §2.1.4.1] Consistency proof PROOF(size1, D[size2]). Empty when size1 = size2 or size1 = 0
 * (nothing to prove; the verifier handles both trivially, as Sigsum's does).
 */
export function consistencyProof(size1: number, size2: number, read: HashReader): Uint8Array[] {
  assertIndex(size1, "size1");
  assertIndex(size2, "size2");
  if (size1 > size2) throw new RangeError(`size1 ${size1} exceeds size2 ${size2}`);
  if (size1 === 0 || size1 === size2) return [];
  const proof: Uint8Array[] = [];
  let lo = 0;
  let n = size2;
  let m = size1;
  let isWholeOldTree = true; // the RFC's flag b
  while (m !== n) {
    const k = splitPoint(n);
    if (m <= k) {
      // SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
      proof.push(subtreeHash(read, lo + k, n - k));
      n = k;
    } else {
      // SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
      proof.push(read(log2Exact(k), lo / k));
      lo += k;
      m -= k;
      n -= k;
      isWholeOldTree = false;
    }
  }
  // SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}
  if (!isWholeOldTree) proof.push(subtreeHash(read, lo, m));
  return proof.reverse();
}

/** A HashReader over an in-memory list of leaf hashes (recomputes each subtree; for tests and small trees). */
export function memoryReader(leafHashes: readonly Uint8Array[]): HashReader {
  return (level, index) => {
    const width = pow2(level);
    const start = index * width;
    if (start + width > leafHashes.length) throw new RangeError(`subtree (${level}, ${index}) is incomplete`);
    return mth(leafHashes, start, start + width);
  };
}
