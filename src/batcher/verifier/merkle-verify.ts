/**
 * RFC 9162 proof verification, step by step as the RFC specifies it (§2.1.3.2 and §2.1.4.2), on Numbers
 * exact up to 2^53: "LSB(x)" is `x % 2 === 1` and "right-shift" is `Math.floor(x / 2)`.
 *
 * Sizes are NOT bound by these proofs: a proof valid for (m, n, root_n) can also verify as (m, n+1, root_n).
 * Callers MUST take `size` and `root` from one signed checkpoint, never from a field next to the proof.
 */
import { assertHash, assertHashList, assertIndex, bytesEqual } from "./assert.js";
import { EMPTY_ROOT, isPowerOfTwo, nodeHash } from "./merkle.js";

/** State after running the RFC's iteration: the computed hash(es) and the final `sn`. */
export interface InclusionSteps {
  readonly root: Uint8Array;
  readonly sn: number;
}

/** State after running the consistency iteration of §2.1.4.2 steps 1–6. */
export interface ConsistencySteps {
  readonly firstRoot: Uint8Array;
  readonly secondRoot: Uint8Array;
  readonly sn: number;
}

const half = (x: number): number => Math.floor(x / 2);
const lsb = (x: number): boolean => x % 2 === 1;

/**
 * [RFC 9162 §2.1.3.2] steps 1–4 only. Returns undefined where the RFC says "fail" before step 5.
 * Low-level building block: a result is NOT a verified proof until `sn === 0` and `root` equals the
 * trusted root (step 5). Use {@link verifyInclusion}.
 */
export function runInclusionSteps(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): InclusionSteps | undefined {
  assertHash(leafHash, "leafHash");
  assertIndex(index, "index");
  assertIndex(size, "size");
  assertHashList(proof, "proof");
  // 1. leaf_index >= tree_size fails
  if (index >= size) return undefined;
  // 2. fn = leaf_index, sn = tree_size - 1
  let fn = index;
  let sn = size - 1;
  // 3. r = hash
  let r = leafHash;
  // 4. for each p in inclusion_path
  for (const p of proof) {
    // 4a. [RFC 9162 §2.1.3.2] the path is longer than the tree is deep
    if (sn === 0) return undefined;
    if (lsb(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return { root: r, sn };
}

/** [RFC 9162 §2.1.3.2] True iff `proof` proves `leafHash` at `index` in the tree (`size`, `root`). */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  assertHash(root, "root");
  const steps = runInclusionSteps(leafHash, index, size, proof);
  // 5. [RFC 9162 §2.1.3.2] sn must reach 0 and r must equal root_hash
  return steps !== undefined && steps.sn === 0 && bytesEqual(steps.root, root);
}

/**
 * [RFC 9162 §2.1.4.2] steps 1–6 for 0 < size1 < size2. Returns undefined where the RFC says "fail".
 * Low-level building block: callers MUST also check step 7 (both roots and `sn === 0`); use
 * {@link verifyConsistency}.
 */
export function runConsistencySteps(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
): ConsistencySteps | undefined {
  assertIndex(size1, "size1");
  assertIndex(size2, "size2");
  assertHashList(proof, "proof");
  assertHash(root1, "root1");
  if (!(size1 > 0 && size1 < size2)) throw new RangeError("runConsistencySteps needs 0 < size1 < size2");
  // 1. empty consistency_path fails
  if (proof.length === 0) return undefined;
  // 2. if first is an exact power of 2, prepend first_hash
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  // 3. fn = first - 1, sn = second - 1
  let fn = size1 - 1;
  let sn = size2 - 1;
  // 4. if LSB(fn) is set, right-shift both until LSB(fn) is not set
  while (lsb(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5. fr = sr = first value
  let fr = path[0]!;
  let sr = path[0]!;
  // 6. for each subsequent c
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return undefined;
    if (lsb(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return { firstRoot: fr, secondRoot: sr, sn };
}

/**
 * [RFC 9162 §2.1.4.2] True iff `proof` shows the tree (`size2`, `root2`) extends (`size1`, `root1`).
 * Trivial cases outside the RFC precondition 0 < size1 < size2, handled as Sigsum does:
 * size1 = size2 needs an empty proof and equal roots; size1 = 0 needs an empty proof and
 * root1 = SHA-256(""); size1 > size2 never verifies.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  assertIndex(size1, "size1");
  assertIndex(size2, "size2");
  assertHashList(proof, "proof");
  assertHash(root1, "root1");
  assertHash(root2, "root2");
  if (size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2);
  if (size1 === 0) return proof.length === 0 && bytesEqual(root1, EMPTY_ROOT);
  const steps = runConsistencySteps(size1, size2, proof, root1);
  // 7. [RFC 9162 §2.1.4.2] fr = first_hash, sr = second_hash, and sn must reach 0
  return (
    steps !== undefined &&
    steps.sn === 0 &&
    bytesEqual(steps.firstRoot, root1) &&
    bytesEqual(steps.secondRoot, root2)
  );
}
