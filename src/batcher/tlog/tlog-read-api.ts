/**
 * Read functions for the C2SP tlog-tiles static API, for an HTTP layer to serve later
 * (`<prefix>/checkpoint`, `<prefix>/tile/<L>/<N>[.p/<W>]`, `<prefix>/tile/entries/<N>[.p/<W>]`).
 * Everything returned is public: checkpoints, hashes and salted 32-byte entries only.
 *
 * Contract: `read(path)` MUST return undefined for a path that is not (yet) available (HTTP 404) and
 * MUST NOT return a partial tile that the current tree size does not fully cover.
 */
import type { CheckpointStore } from "./checkpoint-store.js";
import type { LeafOpenings } from "./leaf-openings.js";
import type { TileStore } from "./tile-store.js";
import { parseTilePath, TILE_WIDTH } from "./tiles.js";

/** One resource of the static API. */
export interface TlogResource {
  readonly contentType: "text/plain; charset=utf-8" | "application/octet-stream";
  readonly body: Uint8Array;
  /** Full tiles and bundles never change; the checkpoint does. */
  readonly isImmutable: boolean;
}

/** Serves the log's public resources from SQLite. */
export class TlogReadApi {
  readonly #tiles: TileStore;
  readonly #checkpoints: CheckpointStore;
  readonly #openings: LeafOpenings;

  constructor(tiles: TileStore, checkpoints: CheckpointStore, openings: LeafOpenings) {
    this.#tiles = tiles;
    this.#checkpoints = checkpoints;
    this.#openings = openings;
  }

  /** `checkpoint`: the latest signed checkpoint note. */
  checkpoint(): TlogResource | undefined {
    const cp = this.#checkpoints.latest();
    if (cp === undefined) return undefined;
    return {
      contentType: "text/plain; charset=utf-8",
      body: new TextEncoder().encode(cp.note),
      isImmutable: false,
    };
  }

  /** [C2SP tlog-tiles] entry bundle N (width entries): `uint16 BE length || entry` each. */
  entryBundle(n: number, width = TILE_WIDTH): Uint8Array | undefined {
    const first = n * TILE_WIDTH;
    if (first + width > this.#checkpointedSize()) return undefined;
    const rows = this.#openings.entries(first, first + width);
    if (rows === undefined) return undefined;
    const out = new Uint8Array(width * 34);
    rows.forEach((e, i) => {
      out[i * 34] = 0;
      out[i * 34 + 1] = 32;
      out.set(e, i * 34 + 2);
    });
    return out;
  }

  /** Resolves a path relative to the log prefix (`checkpoint`, `tile/…`, `tile/entries/…`). */
  read(path: string): TlogResource | undefined {
    if (path === "checkpoint") return this.checkpoint();
    try {
      const isEntries = path.startsWith("tile/entries/");
      const tile = parseTilePath(isEntries ? `tile/0/${path.slice("tile/entries/".length)}` : path);
      const n = Number(tile.n);
      const body = isEntries ? this.entryBundle(n, tile.width) : this.#hashTile(tile.level, n, tile.width);
      if (body === undefined) return undefined;
      return { contentType: "application/octet-stream", body, isImmutable: tile.width === TILE_WIDTH };
    } catch {
      return undefined;
    }
  }

  #hashTile(level: number, n: number, width: number): Uint8Array | undefined {
    try {
      return this.#tiles.readTile(level, n, width);
    } catch {
      return undefined;
    }
  }

  /** Only what a signed checkpoint covers is served (tiles beyond it would be unverifiable). */
  #checkpointedSize(): number {
    return this.#checkpoints.latest()?.size ?? 0;
  }
}
