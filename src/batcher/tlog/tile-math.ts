/**
 * Pure helpers for the tile blobs of {@link TileStore} (tile-store.ts): ids, the blob layout, in-tile hashing
 * and the per-tile audit check. Node-only (Buffer), like the store.
 *
 * Blob layout of tile (L, N), in 32-byte hashes:
 * - `[0, W)`: the W entries = tree level 8·L, indexes N·256 … N·256+W−1. These are exactly the [C2SP
 *   tlog-tiles] tile bytes; a partial tile (W < 256) is stored as W·32 bytes, a prefix of the full tile.
 * - `[256, 510)`, only once the tile is full: its interior, in-tile level j = 1…7 (tree level 8·L+j)
 *   from hash `512 − 2^(9−j)` on, `256 / 2^j` hashes each (128 + 64 + … + 2 = 254), so proofs read
 *   them instead of rehashing. A full tile is 16,320 bytes; its root (tree level 8·L+8) is an entry of
 *   the tile above.
 */
import { HASH_SIZE } from "../verifier/assert.js";
import { EMPTY_ROOT } from "../verifier/merkle.js";
import { TILE_HEIGHT, TILE_WIDTH } from "./tiles.js";

/** Interior-node hash, [RFC 9162 §2.1.1] SHA-256(0x01 || left || right). */
export type NodeHash = ((left: Uint8Array, right: Uint8Array) => Uint8Array) & {
  /**
   * Optional allocation-free form for children stored side by side: hashes `buf[childrenAt, childrenAt+64)`
   * (left then right) and writes the node hash into `out` at byte `offset`.
   */
  pairInto?: (buf: Buffer, childrenAt: number, out: Buffer, offset: number) => void;
};

/** Bytes of a stored full tile: 256 entries and 254 interior hashes. */
export const FULL_TILE_BYTES = (2 * TILE_WIDTH - 2) * HASH_SIZE;

/** Tile levels a tree of up to 2^51 leaves uses: 0…6 (256^7 = 2^56). */
export const TILE_LEVELS = 7;

/** `tlog_tiles.id` of tile (level, n): level·2^48 + n (exact: n < 2^43 for 2^51 leaves). */
export function tileId(level: number, n: number): number {
  return level * 2 ** 48 + n;
}

/** LEVEL_START[j] = 512 − 2^(9−j): where in-tile level j starts in a blob, in hashes. */
const LEVEL_START = Array.from(
  { length: TILE_HEIGHT + 1 },
  (_, j) => 2 * TILE_WIDTH - 2 ** (TILE_HEIGHT + 1 - j),
);

/** Position (in hashes) in a tile blob of in-tile node (j, q); j = 0 are the entries. */
export function nodePos(j: number, q: number): number {
  return LEVEL_START[j]! + q;
}

/** A view of the hash at position `pos` of a tile buffer. */
export function hashView(buf: Uint8Array, pos: number): Uint8Array {
  return buf.subarray(pos * HASH_SIZE, (pos + 1) * HASH_SIZE);
}

/**
 * Tile `n` of some level in memory: `buf` (FULL_TILE_BYTES) holds `width` entries and their interior;
 * `stored` is how many of the entries the database holds (maintained by the store's right edge).
 */
export interface TileBuffer {
  n: number;
  width: number;
  stored: number;
  buf: Buffer;
}

/** An empty tile buffer for tile `n`. */
export function newTileBuffer(n: number): TileBuffer {
  return { n, width: 0, stored: 0, buf: Buffer.alloc(FULL_TILE_BYTES) };
}

/** Computes the in-tile nodes completed when the entries grow from `from` to `to` (interior of [0, to)). */
export function extendInterior(buf: Uint8Array, from: number, to: number, h: NodeHash): void {
  const pairInto = Buffer.isBuffer(buf) ? h.pairInto : undefined;
  for (let j = 1; j < TILE_HEIGHT; j++) {
    const span = 2 ** j;
    for (let q = Math.floor(from / span); q < Math.floor(to / span); q++) {
      // the two children (j−1, 2q) and (j−1, 2q+1) are adjacent in the blob
      const children = nodePos(j - 1, 2 * q);
      if (pairInto) pairInto(buf as Buffer, children * HASH_SIZE, buf as Buffer, nodePos(j, q) * HASH_SIZE);
      else buf.set(h(hashView(buf, children), hashView(buf, children + 1)), nodePos(j, q) * HASH_SIZE);
    }
  }
}

/** Root of a full tile (tree level 8·L+8), from its two in-tile level-7 nodes. */
export function tileRoot(buf: Uint8Array, h: NodeHash): Uint8Array {
  return h(hashView(buf, nodePos(TILE_HEIGHT - 1, 0)), hashView(buf, nodePos(TILE_HEIGHT - 1, 1)));
}

/**
 * The right edge of a tree of `size` leaves: for every tile level in use, its rightmost tile (partial, width
 * 0…255) read with `read` and its interior computed. Throws an Error naming a tile that is missing or does
 * not hold exactly its width.
 */
export function loadEdge(
  size: number,
  read: (level: number, n: number) => Buffer | undefined,
  h: NodeHash,
): TileBuffer[] {
  const edge: TileBuffer[] = [];
  for (let level = 0; level < TILE_LEVELS; level++) {
    const count = Math.floor(size / 2 ** (level * TILE_HEIGHT));
    if (count === 0) break;
    const tile = newTileBuffer(Math.floor(count / TILE_WIDTH));
    const width = count - tile.n * TILE_WIDTH;
    if (width > 0) {
      const blob = read(level, tile.n);
      if (blob === undefined || blob.length !== width * HASH_SIZE) {
        throw new Error(`tlog_tiles: tile ${level}/${tile.n} does not hold ${width} hashes at size ${size}`);
      }
      tile.buf.set(blob);
      tile.width = tile.stored = width;
      extendInterior(tile.buf, 0, width, h);
    }
    edge.push(tile);
  }
  return edge;
}

/**
 * [RFC 9162 §2.1.1] root of the tree whose right edge is `edge` (edge[L] = the rightmost, partial tile at
 * level L with its interior): the complete subtrees for the set bits of each width, folded right to left.
 */
export function foldEdge(edge: readonly { width: number; buf: Uint8Array }[], h: NodeHash): Uint8Array {
  let acc: Uint8Array | undefined;
  for (const { width, buf } of edge) {
    for (let j = 0; j < TILE_HEIGHT; j++) {
      if (Math.floor(width / 2 ** j) % 2 === 0) continue;
      // Bit j of the width: the subtree of 2^j entries starting at width with bits 0…j cleared.
      const part = hashView(buf, nodePos(j, 2 * Math.floor(width / 2 ** (j + 1))));
      acc = acc === undefined ? part : h(part, acc);
    }
  }
  return acc === undefined ? EMPTY_ROOT : new Uint8Array(acc);
}

/** A tree node (level, index) whose stored hash is missing or disagrees with the recomputation. */
export interface TreeMismatch {
  readonly level: number;
  readonly index: number;
  readonly reason: "missing" | "modified";
}

/**
 * Compares the recomputed tile `rec` (entries [0, width) and their interior) with the stored blob: entries
 * of upper tiles (level ≥ 1; level-0 entries are the leaves the recomputation starts from), then interior
 * nodes level by level (stored only for full tiles). Returns the lowest first node that differs.
 *
 * A level-1 node over two leaves differs both when it was modified and when one of its leaves was. If its
 * stored parent still equals the hash of the stored level-1 pair, the stored interior corroborates it and the
 * leaves are named: `{ level: 0, index }` with `index` the even leaf of the pair (leaf `index` or `index + 1`
 * changed; only the entries can tell which).
 */
export function checkTile(
  level: number,
  t: TileBuffer,
  stored: Buffer | undefined,
  h: NodeHash,
): TreeMismatch | undefined {
  const base = TILE_HEIGHT * level;
  const first = t.n * TILE_WIDTH;
  if (stored === undefined) return { level: base, index: first, reason: "missing" };
  if (level > 0) {
    const have = Math.min(TILE_WIDTH, Math.floor(stored.length / HASH_SIZE));
    for (let i = 0; i < t.width; i++) {
      if (i >= have) return { level: base, index: first + i, reason: "missing" };
      if (!same(t.buf, stored, i, i + 1)) return { level: base, index: first + i, reason: "modified" };
    }
  }
  if (stored.length !== FULL_TILE_BYTES) {
    if (t.width < TILE_WIDTH) return undefined; // a partial tile has no stored interior
    const reason = stored.length < FULL_TILE_BYTES ? "missing" : "modified";
    return { level: base + 1, index: first / 2, reason };
  }
  for (let j = 1; j < TILE_HEIGHT; j++) {
    const count = Math.floor(t.width / 2 ** j);
    if (same(t.buf, stored, nodePos(j, 0), nodePos(j, count))) continue;
    for (let q = 0; q < count; q++) {
      if (same(t.buf, stored, nodePos(j, q), nodePos(j, q + 1))) continue;
      if (level === 0 && j === 1) {
        const p = Math.floor(q / 2);
        const pair = h(hashView(stored, nodePos(1, 2 * p)), hashView(stored, nodePos(1, 2 * p + 1)));
        if (same(pair, stored, 0, 1, nodePos(2, p)))
          return { level: 0, index: first + 2 * q, reason: "modified" };
      }
      return { level: base + j, index: first / 2 ** j + q, reason: "modified" };
    }
  }
  return undefined;
}

/**
 * Streaming audit of the stored tiles of a tree of `size` leaves (see TileStore.audit): rebuilds every tile
 * from the level-0 tiles (`read(0, n)`), checks each stored tile with {@link checkTile} once it is complete
 * (full, or the rightmost at the end) and folds the root. One tile buffer per level of memory.
 */
export function auditTiles(
  size: number,
  read: (level: number, n: number) => Buffer | undefined,
  h: NodeHash,
): { root: Uint8Array; mismatch?: TreeMismatch } {
  const rec: TileBuffer[] = [newTileBuffer(0)];
  let mismatch: TreeMismatch | undefined;
  const complete = (level: number, t: TileBuffer, stored: Buffer | undefined): void => {
    extendInterior(t.buf, 0, TILE_WIDTH, h);
    mismatch ??= checkTile(level, t, stored, h);
    const root = tileRoot(t.buf, h);
    t.n++;
    t.width = 0;
    const up = rec[level + 1] ?? newTileBuffer(0);
    rec[level + 1] = up;
    up.buf.set(root, up.width * HASH_SIZE);
    if (++up.width === TILE_WIDTH) complete(level + 1, up, read(level + 1, up.n));
  };
  let leaves = size;
  const bottom = rec[0]!;
  for (let n = 0; n * TILE_WIDTH < leaves; n++) {
    const width = Math.min(TILE_WIDTH, leaves - n * TILE_WIDTH);
    const stored = read(0, n);
    const have = Math.min(width, Math.floor((stored?.length ?? 0) / HASH_SIZE));
    if (have < width) {
      // The tree cannot be rebuilt past a missing leaf: the root covers the leaves before it.
      mismatch ??= { level: 0, index: n * TILE_WIDTH + have, reason: "missing" };
      leaves = n * TILE_WIDTH + have;
    }
    if (stored !== undefined) bottom.buf.set(stored.subarray(0, have * HASH_SIZE));
    bottom.width = have;
    if (have === TILE_WIDTH) complete(0, bottom, stored);
  }
  for (let level = 0; level < rec.length; level++) {
    const t = rec[level]!;
    if (t.width === 0) continue;
    extendInterior(t.buf, 0, t.width, h);
    mismatch ??= checkTile(level, t, read(level, t.n), h);
  }
  const root = foldEdge(rec, h);
  return mismatch === undefined ? { root } : { root, mismatch };
}

/** Byte equality of hashes [from, to) of `a` with the same positions of `b` (offset by `bAt` hashes). */
function same(a: Uint8Array, b: Buffer, from: number, to: number, bAt = from): boolean {
  const len = (to - from) * HASH_SIZE;
  return b.compare(a, from * HASH_SIZE, from * HASH_SIZE + len, bAt * HASH_SIZE, bAt * HASH_SIZE + len) === 0;
}
