/** Shared fixtures for the Merkle suites: the standard CT test leaves and a cheap "virtual" huge tree. */
import { hexToBytes } from "@noble/hashes/utils.js";
import type { HashReader } from "../../src/batcher/verifier/merkle.js";
import { leafHash, nodeHash, pow2 } from "../../src/batcher/verifier/merkle.js";

/** [RFC 6962 test leaves, reference §1.7] as used by CT, Trillian and transparency-dev/merkle. */
export const CT_LEAVES: readonly Uint8Array[] = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map((h) => hexToBytes(h));

/** Leaf hashes of `n` distinct synthetic entries. */
export function syntheticLeafHashes(n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(leafHash(new TextEncoder().encode(`leaf-${i}`)));
  return out;
}

/**
 * A consistent tree of any size up to 2^53 without materialising it: leaves before `target` hash to `a`,
 * leaf `target` to `c`, later leaves to `b`. A complete subtree is then all-a, all-b, or the single subtree
 * per level containing `target`, so every read costs O(level) and left/right order still matters.
 */
export function threeValueReader(target: number, a: Uint8Array, c: Uint8Array, b: Uint8Array): HashReader {
  const za: Uint8Array[] = [a];
  const zb: Uint8Array[] = [b];
  for (let l = 1; l <= 54; l++) {
    za.push(nodeHash(za[l - 1]!, za[l - 1]!));
    zb.push(nodeHash(zb[l - 1]!, zb[l - 1]!));
  }
  const read: HashReader = (level, index) => {
    const width = pow2(level);
    const start = index * width;
    if (start + width <= target) return za[level]!;
    if (start > target) return zb[level]!;
    if (level === 0) return c;
    return nodeHash(read(level - 1, index * 2), read(level - 1, index * 2 + 1));
  };
  return read;
}

/** Returns a copy of `proof` with bit `bit` of element `element` flipped. */
export function flipBit(proof: readonly Uint8Array[], element: number, bit: number): Uint8Array[] {
  const out = proof.map((p) => p.slice());
  out[element]![bit >> 3]! ^= 1 << (bit & 7);
  return out;
}
