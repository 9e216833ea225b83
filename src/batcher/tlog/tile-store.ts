/**
 * SQLite-backed append-only RFC 9162 log stored as [C2SP tlog-tiles] hash tiles: one row per tile, its hashes
 * in one BLOB (layout in tile-math.ts), so appending a batch of ~100 leaves writes one or two blobs, any
 * subtree hash is one point lookup of a tile, and tiles are served straight from the rows.
 *
 * Concurrency and durability contract:
 * - One TileStore per database connection. Several connections (or processes) may append to one database:
 *   `append` reads the stored (size, root) inside the caller's transaction.
 * - `append` MUST be called inside the caller's `db.transaction(...)`: it is synchronous, never awaits, and
 *   commits or rolls back with the caller's other writes. An in-memory right edge (the rightmost, partial
 *   tile of every level with its interior) is re-validated against the stored (size, root) on every call and
 *   reloaded when they differ, so a rolled-back transaction or another writer never leaves it stale.
 * - Full tiles never change; a small LRU cache of them serves proofs.
 * - Storage or integrity failures throw; callers stop the integrity path (never sign on a failed append).
 */
import type { Database, Statement } from "better-sqlite3";
import { assertHashList, assertIndex, bytesEqual, HASH_SIZE } from "../verifier/assert.js";
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  nodeHash,
  pow2,
  subtreeHash,
} from "../verifier/merkle.js";
import {
  auditTiles,
  extendInterior,
  FULL_TILE_BYTES,
  foldEdge,
  loadEdge,
  type NodeHash,
  newTileBuffer,
  nodePos,
  type TileBuffer,
  type TreeMismatch,
  tileId,
  tileRoot,
} from "./tile-math.js";
import { TILE_HEIGHT, TILE_WIDTH } from "./tiles.js";

/**
 * Schema, as one of the numbered migrations of src/migrations.ts (STRICT tables). `tlog_tiles.id` =
 * level·2^48 + index (one B-tree probe per tile); `level` and `idx` are virtual columns for humans. Tiles
 * are append-only by trigger: no delete, no second insert of an id (so no INSERT OR REPLACE), and an update
 * only when the new blob strictly extends the old one.
 */
export const TILE_STORE_MIGRATION = `
CREATE TABLE tlog_tiles (
  id INTEGER PRIMARY KEY CHECK (id >= 0),
  level INTEGER GENERATED ALWAYS AS (id / 281474976710656) VIRTUAL,
  idx INTEGER GENERATED ALWAYS AS (id % 281474976710656) VIRTUAL,
  hashes BLOB NOT NULL CHECK (length(hashes) % 32 = 0
    AND (length(hashes) BETWEEN 32 AND 8160 OR length(hashes) = ${FULL_TILE_BYTES}))
) STRICT;
CREATE TABLE tlog_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  size INTEGER NOT NULL CHECK (size >= 0),
  root BLOB NOT NULL CHECK (length(root) = 32)
) STRICT;
INSERT INTO tlog_state (id, size, root)
  VALUES (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
CREATE TRIGGER tlog_tiles_append_only_insert BEFORE INSERT ON tlog_tiles
  WHEN EXISTS (SELECT 1 FROM tlog_tiles WHERE id = NEW.id)
  BEGIN SELECT RAISE(ABORT, 'tlog_tiles is append-only'); END;
CREATE TRIGGER tlog_tiles_append_only_update BEFORE UPDATE ON tlog_tiles
  WHEN NEW.id IS NOT OLD.id OR length(NEW.hashes) <= length(OLD.hashes)
    OR substr(NEW.hashes, 1, length(OLD.hashes)) IS NOT OLD.hashes
  BEGIN SELECT RAISE(ABORT, 'tlog_tiles is append-only'); END;
CREATE TRIGGER tlog_tiles_append_only_delete BEFORE DELETE ON tlog_tiles
  BEGIN SELECT RAISE(ABORT, 'tlog_tiles is append-only'); END;
`;

/** Largest supported tree size (tile ids and indexes stay exact Numbers). */
export const MAX_STORE_SIZE = 2 ** 51;

/**
 * Result of {@link TileStore.audit}: the root recomputed from the stored leaf hashes, and the first stored
 * hash that is missing or disagrees, named as a tree node (level 0 = leaf index). When leaves are missing the
 * root covers only the leaves before the first missing one.
 */
export interface AuditResult {
  readonly size: number;
  readonly root: Uint8Array;
  readonly mismatch?: TreeMismatch;
}

/** Full tiles kept in memory for proofs (16 KB each). */
const CACHED_TILES = 128;

/** The leaves of an `append` as one packed buffer (validated: whole 32-byte hashes). */
function packLeaves(leafHashes: readonly Uint8Array[] | Uint8Array): Uint8Array {
  if (leafHashes instanceof Uint8Array) {
    if (leafHashes.length % HASH_SIZE !== 0)
      throw new RangeError(`packed leaf hashes must be a multiple of ${HASH_SIZE} bytes`);
    return leafHashes;
  }
  assertHashList(leafHashes, "leafHashes");
  return Buffer.concat(leafHashes);
}

function copyHash(buf: Uint8Array, pos: number): Uint8Array {
  return Buffer.from(buf.subarray(pos * HASH_SIZE, (pos + 1) * HASH_SIZE));
}

/** Append-only Merkle log over a better-sqlite3 connection with {@link TILE_STORE_MIGRATION} applied. */
export class TileStore {
  readonly #db: Database;
  readonly #nodeHash: NodeHash;
  readonly #getTile: Statement<[number], Buffer>;
  readonly #insertTile: Statement<[number, Uint8Array]>;
  readonly #updateTile: Statement<[Uint8Array, number]>;
  readonly #getState: Statement<[], { size: number; root: Uint8Array }>;
  readonly #setState: Statement<[number, Uint8Array]>;
  readonly #cache = new Map<number, Buffer>();
  #size = -1;
  #root: Uint8Array = EMPTY_ROOT;
  /** #edge[L] = the rightmost tile at level L (width 0…255) with its interior; one per level in use. */
  #edge: TileBuffer[] = [];

  /**
   * @param opts.nodeHash interior-node hash; MUST compute exactly [RFC 9162 §2.1.1]
   *   SHA-256(0x01 || left || right) (the gateway passes a node:crypto version; default @noble).
   */
  constructor(db: Database, opts: { nodeHash?: NodeHash } = {}) {
    this.#db = db;
    this.#nodeHash = opts.nodeHash ?? nodeHash;
    this.#getTile = db.prepare<[number], Buffer>("SELECT hashes FROM tlog_tiles WHERE id = ?").pluck();
    this.#insertTile = db.prepare<[number, Uint8Array]>("INSERT INTO tlog_tiles (id, hashes) VALUES (?, ?)");
    this.#updateTile = db.prepare<[Uint8Array, number]>("UPDATE tlog_tiles SET hashes = ? WHERE id = ?");
    this.#getState = db.prepare<[], { size: number; root: Uint8Array }>(
      "SELECT size, root FROM tlog_state WHERE id = 1",
    );
    this.#setState = db.prepare<[number, Uint8Array]>(
      "UPDATE tlog_state SET size = ?, root = ? WHERE id = 1",
    );
  }

  /** Current tree size (committed, or as seen inside the caller's open transaction). */
  size(): number {
    return this.#sync();
  }

  /** Current root hash. */
  root(): Uint8Array {
    this.#sync();
    return this.#root;
  }

  /**
   * Appends leaf hashes (already `leafHash(entry)`): an array of 32-byte hashes, or one buffer of n·32 bytes
   * holding them packed (the gateway's hot path: no object per leaf). MUST run inside `db.transaction`.
   * Writes each tile it changes once (a tile that fills is written with its interior) and the state once.
   * @returns the index of the first appended leaf and the new size and root.
   */
  append(leafHashes: readonly Uint8Array[] | Uint8Array): {
    firstIndex: number;
    size: number;
    root: Uint8Array;
  } {
    if (!this.#db.inTransaction) throw new TypeError("TileStore.append must run inside db.transaction()");
    const packed = packLeaves(leafHashes);
    const count = packed.length / HASH_SIZE;
    const firstIndex = this.#sync();
    if (firstIndex + count > MAX_STORE_SIZE) throw new RangeError("tree would exceed MAX_STORE_SIZE");
    if (count === 0) return { firstIndex, size: firstIndex, root: this.#root };
    this.#size = -1; // if anything below throws, the next call reloads the edge from storage
    let pending = packed;
    for (let level = 0; pending.length > 0; level++) {
      let tile = this.#edge[level] ?? newTileBuffer(0);
      const n = pending.length / HASH_SIZE;
      // [C2SP tlog-tiles] a full tile's root is the next entry one tile level up.
      const roots = Buffer.allocUnsafe(Math.floor((tile.width + n) / TILE_WIDTH) * HASH_SIZE);
      let rootCount = 0;
      let from = tile.width;
      for (let i = 0; i < n; ) {
        const take = Math.min(TILE_WIDTH - tile.width, n - i);
        tile.buf.set(pending.subarray(i * HASH_SIZE, (i + take) * HASH_SIZE), tile.width * HASH_SIZE);
        tile.width += take;
        i += take;
        if (tile.width < TILE_WIDTH) break;
        extendInterior(tile.buf, from, TILE_WIDTH, this.#nodeHash);
        roots.set(tileRoot(tile.buf, this.#nodeHash), rootCount++ * HASH_SIZE);
        this.#writeTile(level, tile);
        tile = newTileBuffer(tile.n + 1);
        from = 0;
      }
      extendInterior(tile.buf, from, tile.width, this.#nodeHash);
      if (tile.width > tile.stored) this.#writeTile(level, tile);
      this.#edge[level] = tile;
      pending = roots;
    }
    const size = firstIndex + count;
    const root = foldEdge(this.#edge, this.#nodeHash);
    this.#setState.run(size, root);
    this.#size = size;
    this.#root = root;
    return { firstIndex, size, root };
  }

  /** Hash of the complete subtree (level, index): leaves index·2^level … (index+1)·2^level − 1. */
  hashAt = (level: number, index: number): Uint8Array => {
    assertIndex(level, "level");
    assertIndex(index, "index");
    const size = this.#sync();
    if ((index + 1) * pow2(level) > size) {
      throw new RangeError(`subtree (${level}, ${index}) is not complete in a tree of ${size}`);
    }
    return this.#hashAt(level, index);
  };

  /** Root hash of the tree at an earlier (or the current) size, from stored hashes in O(log n) reads. */
  rootAt(size: number): Uint8Array {
    this.#checkSize(size);
    return size === 0 ? EMPTY_ROOT : subtreeHash(this.#hashAt, 0, size);
  }

  /** [RFC 9162 §2.1.3.1] inclusion proof of leaf `index` in the tree of `size` leaves (default: current). */
  inclusionProof(index: number, size = this.size()): Uint8Array[] {
    this.#checkSize(size);
    return inclusionProof(index, size, this.#hashAt);
  }

  /** [RFC 9162 §2.1.4.1] consistency proof from `size1` to `size2` (default: current). */
  consistencyProof(size1: number, size2 = this.size()): Uint8Array[] {
    this.#checkSize(size2);
    return consistencyProof(size1, size2, this.#hashAt);
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
    const size = this.#sync();
    if ((n * TILE_WIDTH + width) * pow2(level * TILE_HEIGHT) > size) {
      throw new RangeError(`tile ${level}/${n}.p/${width} is beyond tree size ${size}`);
    }
    return Buffer.from(this.#tileBytes(level, n).subarray(0, width * HASH_SIZE));
  }

  /** Stored leaf hashes of leaves [start, end). RangeError beyond the tree size. */
  leafHashes(start: number, end: number): Uint8Array[] {
    assertIndex(start, "start");
    assertIndex(end, "end");
    const size = this.#sync();
    if (start > end || end > size)
      throw new RangeError(`leaves [${start}, ${end}) are beyond tree size ${size}`);
    const out: Uint8Array[] = [];
    for (let i = start; i < end; ) {
      const n = Math.floor(i / TILE_WIDTH);
      const buf = this.#tileBytes(0, n);
      const stop = Math.min(end, (n + 1) * TILE_WIDTH);
      for (; i < stop; i++) out.push(copyHash(buf, i - n * TILE_WIDTH));
    }
    return out;
  }

  /**
   * Streams the stored leaf hashes 0 … size−1 (default: the stored size), one tile read per 256 leaves,
   * straight from the database (no cache, no open statement between yields, so the caller may query the
   * same connection while iterating). Yields views of freshly read blobs. Throws an Error naming a missing
   * tile.
   */
  *iterateLeafHashes(size?: number): Generator<Uint8Array, void, undefined> {
    const end = this.#auditSize(size);
    for (let n = 0; n * TILE_WIDTH < end; n++) {
      const width = Math.min(TILE_WIDTH, end - n * TILE_WIDTH);
      const blob = this.#getTile.get(tileId(0, n));
      if (blob === undefined || blob.length < width * HASH_SIZE) {
        throw new Error(`tlog_tiles: tile 0/${n} ${blob === undefined ? "is missing" : "is too short"}`);
      }
      for (let i = 0; i < width; i++) yield blob.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
    }
  }

  /**
   * Audit: recomputes the tree from the stored leaf hashes alone and checks every stored upper-tile entry and
   * stored interior hash against the recomputation (see {@link checkTile} for how a mismatch is named). Reads
   * storage directly (not the cache or the in-memory edge), so it works when the right edge is corrupt.
   * Leaves of the rightmost level-0 tile have no stored interior: a change there shows only in the root.
   * O(size) time, one tile buffer per level of memory.
   */
  audit(size?: number): AuditResult {
    const end = this.#auditSize(size);
    return {
      size: end,
      ...auditTiles(end, (level, n) => this.#getTile.get(tileId(level, n)), this.#nodeHash),
    };
  }

  /** Root recomputed from the stored leaf hashes only (see {@link audit}). */
  recomputeRoot(size?: number): Uint8Array {
    return this.audit(size).root;
  }

  /** HashReader over complete subtrees at the synced size (callers check completeness first). */
  #hashAt = (level: number, index: number): Uint8Array => {
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const j = level - tileLevel * TILE_HEIGHT;
    const perTile = pow2(TILE_HEIGHT - j);
    const n = Math.floor(index / perTile);
    return copyHash(this.#tileBytes(tileLevel, n), nodePos(j, index - n * perTile));
  };

  /** Bytes of tile (level, n) at the synced size: the in-memory edge tile, or a full tile (LRU cached). */
  #tileBytes(level: number, n: number): Buffer {
    const edge = this.#edge[level];
    if (edge !== undefined && edge.n === n) return edge.buf;
    const id = tileId(level, n);
    let blob = this.#cache.get(id);
    if (blob !== undefined) {
      this.#cache.delete(id); // LRU: re-insert as the newest
    } else {
      blob = this.#getTile.get(id);
      if (blob === undefined) throw new Error(`tlog_tiles is missing tile ${level}/${n}`);
      if (blob.length !== FULL_TILE_BYTES)
        throw new Error(`tlog_tiles: tile ${level}/${n} is not a full tile`);
      if (this.#cache.size >= CACHED_TILES) this.#cache.delete(this.#cache.keys().next().value!);
    }
    this.#cache.set(id, blob);
    return blob;
  }

  #writeTile(level: number, tile: TileBuffer): void {
    const id = tileId(level, tile.n);
    const bytes = tile.width === TILE_WIDTH ? tile.buf : tile.buf.subarray(0, tile.width * HASH_SIZE);
    if (tile.stored === 0) this.#insertTile.run(id, bytes);
    else if (this.#updateTile.run(bytes, id).changes !== 1)
      throw new Error(`tlog_tiles is missing tile ${level}/${tile.n}`);
    tile.stored = tile.width;
  }

  #checkSize(size: number): void {
    assertIndex(size, "size");
    const current = this.#sync();
    if (size > current) throw new RangeError(`size ${size} exceeds tree size ${current}`);
  }

  /** `size` (default: the stored size) checked against the stored size, without loading the right edge. */
  #auditSize(size: number | undefined): number {
    const state = this.#getState.get();
    if (state === undefined) throw new Error("tlog_state row is missing: TILE_STORE_MIGRATION not applied");
    if (size === undefined) return state.size;
    assertIndex(size, "size");
    if (size > state.size) throw new RangeError(`size ${size} exceeds tree size ${state.size}`);
    return size;
  }

  /** Re-validates the cached right edge against the stored state; on change reloads it, drops the cache. */
  #sync(): number {
    const state = this.#getState.get();
    if (state === undefined) throw new Error("tlog_state row is missing: TILE_STORE_MIGRATION not applied");
    if (state.size !== this.#size || !bytesEqual(state.root, this.#root)) {
      this.#size = -1;
      this.#cache.clear(); // full tiles read inside a rolled-back transaction must not survive it
      const edge = loadEdge(state.size, (level, n) => this.#getTile.get(tileId(level, n)), this.#nodeHash);
      const root = foldEdge(edge, this.#nodeHash);
      if (!bytesEqual(root, state.root)) {
        throw new Error(`stored right edge does not match the stored root at size ${state.size}`);
      }
      this.#edge = edge;
      this.#size = state.size;
      this.#root = root;
    }
    return this.#size;
  }
}
