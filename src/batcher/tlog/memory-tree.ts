/**
 * An in-memory RFC 9162 tree keeping every complete-subtree hash, level by level. It is the reference model
 * the SQLite tile store is checked against, and a convenient proof source for small trees and tests.
 * Memory: about 2 hashes per leaf.
 */
import { assertHash, assertIndex } from "../verifier/assert.js";
import { consistencyProof, EMPTY_ROOT, inclusionProof, nodeHash, subtreeHash } from "../verifier/merkle.js";

/** Growable in-memory Merkle tree. Not thread-safe; append-only. */
export class MemoryTree {
  /** levels[l][i] = MTH of the complete subtree of 2^l leaves starting at leaf i·2^l. */
  readonly #levels: Uint8Array[][] = [[]];

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#levels[0]!.length;
  }

  /** Appends one leaf hash (already `leafHash(entry)`), completing parents as they fill. */
  append(leafHash: Uint8Array): void {
    assertHash(leafHash, "leafHash");
    let level = 0;
    let hash = leafHash;
    for (;;) {
      const row = this.#levels[level] ?? [];
      this.#levels[level] = row;
      row.push(hash);
      if (row.length % 2 !== 0) return;
      hash = nodeHash(row[row.length - 2]!, hash);
      level++;
    }
  }

  /** Hash of the complete subtree (level, index); throws RangeError if it does not exist yet. */
  hashAt = (level: number, index: number): Uint8Array => {
    assertIndex(level, "level");
    assertIndex(index, "index");
    const h = this.#levels[level]?.[index];
    if (h === undefined) throw new RangeError(`no complete subtree at level ${level}, index ${index}`);
    return h;
  };

  /** Root hash at `size` (default: the current size). */
  root(size = this.size): Uint8Array {
    this.#checkSize(size);
    return size === 0 ? EMPTY_ROOT : subtreeHash(this.hashAt, 0, size);
  }

  /** [RFC 9162 §2.1.3.1] inclusion proof for leaf `index` in the tree of `size` leaves. */
  inclusionProof(index: number, size = this.size): Uint8Array[] {
    this.#checkSize(size);
    return inclusionProof(index, size, this.hashAt);
  }

  /** [RFC 9162 §2.1.4.1] consistency proof from `size1` to `size2`. */
  consistencyProof(size1: number, size2 = this.size): Uint8Array[] {
    this.#checkSize(size2);
    return consistencyProof(size1, size2, this.hashAt);
  }

  #checkSize(size: number): void {
    assertIndex(size, "size");
    if (size > this.size) throw new RangeError(`size ${size} exceeds tree size ${this.size}`);
  }
}
