/**
 * C2SP tlog-tiles v0.1.0 geometry (tile height 8, width ≤ 256) and the stored-hash index of
 * golang.org/x/mod/sumdb/tlog. All index arithmetic is bigint: exact for every int64 tree size.
 *
 * A tile at level L, index N holds hashes of tree level 8·L with indexes N·256 … N·256 + W − 1; the hash
 * at position i is MTH(D[(N·256+i)·256^L : (N·256+i+1)·256^L]).
 */
import { assertBigIndex } from "../verifier/assert.js";

/** Tile height in tree levels. */
export const TILE_HEIGHT = 8;
/** Hashes in a full tile. */
export const TILE_WIDTH = 256;
const W = 256n;

/** Coordinates of one tile: level, index and width (1…256; < 256 is a partial tile). */
export interface Tile {
  readonly level: number;
  readonly n: bigint;
  readonly width: number;
}

/** 256^level as a bigint. */
function span(level: number): bigint {
  return 1n << BigInt(TILE_HEIGHT * level);
}

/**
 * [C2SP tlog-tiles] encodes a tile index in zero-padded 3-digit groups, every group but the last prefixed
 * by "x": 1234067 → "x001/x234/067", 1000 → "x001/000", 0 → "000".
 */
export function encodeTileIndex(n: bigint): string {
  assertBigIndex(n, "n");
  const groups: string[] = [];
  let rest = n;
  do {
    groups.unshift((rest % 1000n).toString().padStart(3, "0"));
    rest /= 1000n;
  } while (rest > 0n);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join("/");
}

/** The tile's path: `tile/<L>/<N>` or `tile/<L>/<N>.p/<W>` for a partial tile. */
export function tilePath(tile: Tile): string {
  assertTile(tile);
  const base = `tile/${tile.level}/${encodeTileIndex(tile.n)}`;
  return tile.width === TILE_WIDTH ? base : `${base}.p/${tile.width}`;
}

/**
 * Parses a tile path (without the log prefix). Hash tiles only; `tile/entries/…` is not a hash tile.
 * @throws SyntaxError for anything but a canonical path.
 */
export function parseTilePath(path: string): Tile {
  const m = /^tile\/(0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/.exec(path);
  if (m === null) throw new SyntaxError(`not a tile path: ${path}`);
  const level = Number(m[1]);
  const groups = m[2]!.split("/").map((g) => g.replace(/^x/, ""));
  // Canonical: no leading all-zero group ("x000/…" would alias a shorter path).
  if (groups.length > 1 && groups[0] === "000") throw new SyntaxError(`non-canonical tile index: ${path}`);
  const n = BigInt(groups.join(""));
  const width = m[3] === undefined ? TILE_WIDTH : Number(m[3]);
  if (level > 63 || (m[3] !== undefined && width > 255))
    throw new SyntaxError(`tile path out of range: ${path}`);
  return { level, n, width };
}

function assertTile(tile: Tile): void {
  if (!Number.isInteger(tile.level) || tile.level < 0 || tile.level > 63)
    throw new RangeError("tile level must be 0…63");
  assertBigIndex(tile.n, "tile.n");
  if (!Number.isInteger(tile.width) || tile.width < 1 || tile.width > TILE_WIDTH) {
    throw new RangeError("tile width must be 1…256");
  }
}

/** Number of hashes at tile level `level` in a tree of `size` leaves: floor(size / 256^level). */
export function hashCountAtLevel(size: bigint, level: number): bigint {
  assertBigIndex(size, "size");
  return size / span(level);
}

/**
 * The tiles of a tree of `size` leaves, level by level: for each level, the count of full tiles and the
 * width of the rightmost partial tile (0 when none). [C2SP tlog-tiles] partial tiles MUST NOT be hashed
 * into the level above, so a level exists only while it has at least one hash.
 */
export function tileLevels(size: bigint): { level: number; fullTiles: bigint; partialWidth: number }[] {
  assertBigIndex(size, "size");
  const out: { level: number; fullTiles: bigint; partialWidth: number }[] = [];
  for (let level = 0; level <= 63; level++) {
    const count = hashCountAtLevel(size, level);
    if (count === 0n) break;
    out.push({ level, fullTiles: count / W, partialWidth: Number(count % W) });
  }
  return out;
}

/** The rightmost tile at each level for `size` (full or partial): what a client fetches for the right edge. */
export function rightEdgeTiles(size: bigint): Tile[] {
  return tileLevels(size).map(({ level, fullTiles, partialWidth }) =>
    partialWidth > 0
      ? { level, n: fullTiles, width: partialWidth }
      : { level, n: fullTiles - 1n, width: TILE_WIDTH },
  );
}

/**
 * Tiles created or grown when the tree grows from `oldSize` to `newSize` (as Go's tlog.NewTiles): every
 * tile whose content at `newSize` differs from (or did not exist at) `oldSize`, at its `newSize` width.
 */
export function newTiles(oldSize: bigint, newSize: bigint): Tile[] {
  assertBigIndex(oldSize, "oldSize");
  assertBigIndex(newSize, "newSize");
  if (oldSize > newSize) throw new RangeError("oldSize exceeds newSize");
  const out: Tile[] = [];
  for (let level = 0; level <= 63; level++) {
    const oldCount = hashCountAtLevel(oldSize, level);
    const newCount = hashCountAtLevel(newSize, level);
    if (newCount === oldCount) {
      if (newCount === 0n) break;
      continue;
    }
    for (let n = oldCount / W; n * W < newCount; n++) {
      const end = (n + 1n) * W < newCount ? (n + 1n) * W : newCount;
      out.push({ level, n, width: Number(end - n * W) });
    }
  }
  return out;
}

/** The level-0 tile holding leaf `index`, at the width it has in a tree of `size` leaves. */
export function tileForLeaf(index: bigint, size: bigint): Tile {
  assertBigIndex(index, "index");
  if (index >= size) throw new RangeError("leaf index out of range");
  const n = index / W;
  const end = (n + 1n) * W < size ? (n + 1n) * W : size;
  return { level: 0, n, width: Number(end - n * W) };
}

/**
 * [golang.org/x/mod/sumdb/tlog StoredHashIndex] position of the hash (tree level `level`, index `n`) in the
 * append-ordered sequence of all complete-subtree hashes: leaf n's hash, then the parents it completes.
 */
export function storedHashIndex(level: number, n: bigint): bigint {
  if (!Number.isInteger(level) || level < 0 || level > 63) throw new RangeError("level must be 0…63");
  assertBigIndex(n, "n");
  // Level L's n'th hash is written right after level L+1's 2n+1'th hash.
  let m = n;
  for (let l = level; l > 0; l--) m = 2n * m + 1n;
  // Level 0's m'th hash is written at m + m/2 + m/4 + …
  let i = 0n;
  for (; m > 0n; m >>= 1n) i += m;
  return i + BigInt(level);
}

/** [golang.org/x/mod/sumdb/tlog StoredHashCount] number of stored hashes for a tree of `size` leaves. */
export function storedHashCount(size: bigint): bigint {
  assertBigIndex(size, "size");
  if (size === 0n) return 0n;
  let count = storedHashIndex(0, size - 1n) + 1n;
  for (let i = size - 1n; (i & 1n) !== 0n; i >>= 1n) count++;
  return count;
}

/** [golang.org/x/mod/sumdb/tlog SplitStoredHashIndex] inverse of {@link storedHashIndex}. */
export function splitStoredHashIndex(index: bigint): { level: number; n: bigint } {
  assertBigIndex(index, "index");
  // Find the largest leaf n with storedHashIndex(0, n) ≤ index, by binary search (exact, no floats).
  let lo = 0n;
  let hi = index + 1n;
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (storedHashIndex(0, mid) <= index) lo = mid;
    else hi = mid;
  }
  const level = Number(index - storedHashIndex(0, lo));
  return { level, n: lo >> BigInt(level) };
}
