/**
 * SQLite-backed append-only RFC 9162 log in the shape of golang.org/x/mod/sumdb/tlog: every complete-subtree
 * hash is stored once, keyed by its stored-hash index, so appends are pure INSERTs at the end of one B-tree
 * (≈2 rows per leaf), any subtree hash is one point lookup, and C2SP tlog-tiles are read straight out of it.
 *
 * Concurrency and durability contract:
 * - One TileStore per database connection; it is the only writer of its tables.
 * - `append` MUST be called inside the caller's `db.transaction(...)`: it is synchronous, never awaits, and
 *   commits or rolls back with the caller's other writes. An in-memory right edge (frontier) makes it
 *   O(log n) per leaf; it is re-validated against the stored (size, root) on every call, so a rolled-back
 *   transaction never leaves it stale.
 * - Storage or integrity failures throw; callers stop the integrity path (never sign on a failed append).
 */
import type { Database, Statement } from "better-sqlite3";
import { assertHash, assertIndex, bytesEqual } from "./assert.js";
import { consistencyProof, EMPTY_ROOT, inclusionProof, nodeHash, pow2, subtreeHash } from "./merkle.js";
import { TILE_HEIGHT, TILE_WIDTH } from "./tiles.js";

/** Schema for the lead's numbered migrations (STRICT tables; hashes are append-only by trigger). */
export const TILE_STORE_MIGRATION = `
CREATE TABLE tlog_hashes (
  id INTEGER PRIMARY KEY,
  hash BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
CREATE TABLE tlog_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  size INTEGER NOT NULL CHECK (size >= 0),
  root BLOB NOT NULL CHECK (length(root) = 32)
) STRICT;
INSERT INTO tlog_state (id, size, root)
  VALUES (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
CREATE TRIGGER tlog_hashes_append_only_update BEFORE UPDATE ON tlog_hashes
  BEGIN SELECT RAISE(ABORT, 'tlog_hashes is append-only'); END;
CREATE TRIGGER tlog_hashes_append_only_delete BEFORE DELETE ON tlog_hashes
  BEGIN SELECT RAISE(ABORT, 'tlog_hashes is append-only'); END;
`;

/** Largest supported tree size: stored-hash indexes (≈ 2·size) must stay exact Numbers. */
export const MAX_STORE_SIZE = 2 ** 51;

/** [golang.org/x/mod/sumdb/tlog StoredHashIndex] on Numbers; exact while the result is < 2^53. */
export function storedIndex(level: number, n: number): number {
  let m = n;
  for (let l = level; l > 0; l--) m = 2 * m + 1;
  let i = 0;
  for (; m > 0; m = Math.floor(m / 2)) i += m;
  return i + level;
}

/** Result of {@link TileStore.audit}. `mismatch` names the first stored hash that is missing or wrong. */
export interface AuditResult {
  readonly size: number;
  readonly root: Uint8Array;
  readonly mismatch?: {
    readonly level: number;
    readonly index: number;
    readonly reason: "missing" | "modified";
  };
}

interface FrontierNode {
  level: number;
  hash: Uint8Array;
}

/** Append-only Merkle log over a better-sqlite3 connection with {@link TILE_STORE_MIGRATION} applied. */
export class TileStore {
  readonly #db: Database;
  readonly #getHash: Statement<[number], Uint8Array>;
  readonly #insertHash: Statement<[number, Uint8Array]>;
  readonly #getState: Statement<[], { size: number; root: Uint8Array }>;
  readonly #setState: Statement<[number, Uint8Array]>;
  readonly #scan: Statement<[number], { id: number; hash: Uint8Array }>;
  #size = -1;
  #root: Uint8Array = EMPTY_ROOT;
  #frontier: FrontierNode[] = [];
  readonly #nodeHash: (left: Uint8Array, right: Uint8Array) => Uint8Array;

  /**
   * @param opts.nodeHash interior-node hash for appends; MUST compute exactly [RFC 9162 §2.1.1]
   *   SHA-256(0x01 || left || right) (the gateway passes a node:crypto version; default @noble).
   */
  constructor(db: Database, opts: { nodeHash?: (left: Uint8Array, right: Uint8Array) => Uint8Array } = {}) {
    this.#db = db;
    this.#nodeHash = opts.nodeHash ?? nodeHash;
    this.#getHash = db.prepare<[number], Uint8Array>("SELECT hash FROM tlog_hashes WHERE id = ?").pluck();
    this.#insertHash = db.prepare<[number, Uint8Array]>("INSERT INTO tlog_hashes (id, hash) VALUES (?, ?)");
    this.#getState = db.prepare<[], { size: number; root: Uint8Array }>(
      "SELECT size, root FROM tlog_state WHERE id = 1",
    );
    this.#setState = db.prepare<[number, Uint8Array]>(
      "UPDATE tlog_state SET size = ?, root = ? WHERE id = 1",
    );
    this.#scan = db.prepare<[number], { id: number; hash: Uint8Array }>(
      "SELECT id, hash FROM tlog_hashes WHERE id < ? ORDER BY id",
    );
  }

  /** Current tree size (committed, or as seen inside the caller's open transaction). */
  size(): number {
    return this.#sync().size;
  }

  /** Current root hash. */
  root(): Uint8Array {
    this.#sync();
    return this.#root;
  }

  /**
   * Appends leaf hashes (already `leafHash(entry)`, 32 bytes each). MUST run inside `db.transaction`.
   * @returns the index of the first appended leaf and the new size and root.
   */
  append(leafHashes: readonly Uint8Array[]): { firstIndex: number; size: number; root: Uint8Array } {
    if (!this.#db.inTransaction) throw new TypeError("TileStore.append must run inside db.transaction()");
    if (!Array.isArray(leafHashes)) throw new TypeError("leafHashes must be an array");
    for (let i = 0; i < leafHashes.length; i++) assertHash(leafHashes[i], `leafHashes[${i}]`);
    const { size: firstIndex } = this.#sync();
    if (firstIndex + leafHashes.length > MAX_STORE_SIZE)
      throw new RangeError("tree would exceed MAX_STORE_SIZE");
    let size = firstIndex;
    let id = storedIndex(0, size);
    for (const leaf of leafHashes) {
      // [golang.org/x/mod/sumdb/tlog StoredHashes] the leaf, then every parent it completes, in order.
      this.#insertHash.run(id++, leaf);
      this.#frontier.push({ level: 0, hash: leaf });
      for (;;) {
        const n = this.#frontier.length;
        const right = this.#frontier[n - 1]!;
        const left = this.#frontier[n - 2];
        if (left === undefined || left.level !== right.level) break;
        const parent = { level: left.level + 1, hash: this.#nodeHash(left.hash, right.hash) };
        this.#frontier.splice(n - 2, 2, parent);
        this.#insertHash.run(id++, parent.hash);
      }
      size++;
    }
    const root = this.#foldFrontier();
    this.#setState.run(size, root);
    this.#size = size;
    this.#root = root;
    return { firstIndex, size, root };
  }

  /** Hash of the complete subtree (level, index): leaves index·2^level … (index+1)·2^level − 1. */
  hashAt = (level: number, index: number): Uint8Array => {
    assertIndex(level, "level");
    assertIndex(index, "index");
    if ((index + 1) * pow2(level) > this.#sync().size) {
      throw new RangeError(`subtree (${level}, ${index}) is not complete in a tree of ${this.#size}`);
    }
    return this.#read(level, index);
  };

  /** Root hash of the tree at an earlier (or the current) size, from stored hashes in O(log n) reads. */
  rootAt(size: number): Uint8Array {
    this.#checkSize(size);
    return size === 0 ? EMPTY_ROOT : subtreeHash(this.hashAt, 0, size);
  }

  /** [RFC 9162 §2.1.3.1] inclusion proof of leaf `index` in the tree of `size` leaves (default: current). */
  inclusionProof(index: number, size = this.size()): Uint8Array[] {
    this.#checkSize(size);
    return inclusionProof(index, size, this.hashAt);
  }

  /** [RFC 9162 §2.1.4.1] consistency proof from `size1` to `size2` (default: current). */
  consistencyProof(size1: number, size2 = this.size()): Uint8Array[] {
    this.#checkSize(size2);
    return consistencyProof(size1, size2, this.hashAt);
  }

  /**
   * [C2SP tlog-tiles] bytes of tile (level, n) at `width` hashes (256 = full tile; fewer = the `.p/<width>`
   * partial tile, which is a prefix of the full one). Throws RangeError if the tree is too small for it.
   */
  readTile(level: number, n: number, width = TILE_WIDTH): Uint8Array {
    assertIndex(level, "level");
    assertIndex(n, "n");
    if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH)
      throw new RangeError("width must be 1…256");
    const treeLevel = level * TILE_HEIGHT;
    const first = n * TILE_WIDTH;
    if ((first + width) * pow2(treeLevel) > this.#sync().size) {
      throw new RangeError(`tile ${level}/${n}.p/${width} is beyond tree size ${this.#size}`);
    }
    const out = new Uint8Array(width * 32);
    for (let i = 0; i < width; i++) out.set(this.#read(treeLevel, first + i), i * 32);
    return out;
  }

  /**
   * Audit: recomputes the tree from the stored leaf hashes alone, checks every stored interior hash against
   * the recomputation, and returns the recomputed root at `size` with the first missing or modified hash.
   * O(size) time, O(log size) memory (one streaming scan).
   */
  audit(size = this.size()): AuditResult {
    this.#checkSize(size);
    const frontier: FrontierNode[] = [];
    let leaves = 0;
    let expectId = 0;
    let expect: { level: number; index: number; hash?: Uint8Array } = { level: 0, index: 0 };
    const pending: { level: number; index: number; hash: Uint8Array }[] = [];
    const limit = storedIndex(0, size); // = stored hash count at `size`
    for (const row of this.#scan.iterate(limit)) {
      if (row.id !== expectId) return auditResult(size, frontier, expect, "missing");
      if (expect.hash === undefined) {
        frontier.push({ level: 0, hash: row.hash });
        leaves++;
        for (;;) {
          const n = frontier.length;
          const right = frontier[n - 1]!;
          const left = frontier[n - 2];
          if (left === undefined || left.level !== right.level) break;
          const parent = { level: left.level + 1, hash: nodeHash(left.hash, right.hash) };
          frontier.splice(n - 2, 2, parent);
          pending.push({
            level: parent.level,
            index: Math.floor((leaves - 1) / pow2(parent.level)),
            hash: parent.hash,
          });
        }
      } else if (!bytesEqual(row.hash, expect.hash)) {
        return auditResult(size, frontier, expect, "modified");
      }
      expectId++;
      expect = pending.shift() ?? { level: 0, index: leaves };
    }
    if (leaves < size) return auditResult(size, frontier, expect, "missing");
    return { size, root: fold(frontier) };
  }

  /** Root recomputed from the stored leaf hashes only (see {@link audit}). */
  recomputeRoot(size = this.size()): Uint8Array {
    return this.audit(size).root;
  }

  #read(level: number, index: number): Uint8Array {
    const h = this.#getHash.get(storedIndex(level, index));
    if (h === undefined) throw new Error(`tlog_hashes is missing the hash at level ${level}, index ${index}`);
    return h;
  }

  #checkSize(size: number): void {
    assertIndex(size, "size");
    if (size > this.#sync().size) throw new RangeError(`size ${size} exceeds tree size ${this.#size}`);
  }

  /** Re-validates the cached right edge against the stored state; reloads it after a rollback. */
  #sync(): { size: number } {
    const state = this.#getState.get();
    if (state === undefined) throw new Error("tlog_state row is missing: TILE_STORE_MIGRATION not applied");
    if (state.size !== this.#size || !bytesEqual(state.root, this.#root)) {
      this.#frontier = this.#loadFrontier(state.size);
      const root = this.#foldFrontier();
      if (!bytesEqual(root, state.root)) {
        throw new Error(`stored right edge does not match the stored root at size ${state.size}`);
      }
      this.#size = state.size;
      this.#root = root;
    }
    return { size: this.#size };
  }

  /** The complete subtrees for the set bits of `size`, tallest first. */
  #loadFrontier(size: number): FrontierNode[] {
    const out: FrontierNode[] = [];
    let start = 0;
    for (let level = Math.floor(Math.log2(Math.max(size, 1))) + 1; level >= 0; level--) {
      const width = pow2(level);
      if (start + width <= size) {
        out.push({ level, hash: this.#read(level, start / width) });
        start += width;
      }
    }
    return out;
  }

  #foldFrontier(): Uint8Array {
    return fold(this.#frontier);
  }
}

function fold(frontier: readonly FrontierNode[]): Uint8Array {
  if (frontier.length === 0) return EMPTY_ROOT;
  let acc = frontier[frontier.length - 1]!.hash;
  for (let i = frontier.length - 2; i >= 0; i--) acc = nodeHash(frontier[i]!.hash, acc);
  return acc;
}

function auditResult(
  size: number,
  frontier: readonly FrontierNode[],
  at: { level: number; index: number },
  reason: "missing" | "modified",
): AuditResult {
  return { size, root: fold(frontier), mismatch: { level: at.level, index: at.index, reason } };
}
