/**
 * The log's own map of its leaves, in leaf order, for `vitalog audit`: reading leaves from
 * `tlog_reading_ids` (one row per group commit) merged with event leaves from `tlog_records`.
 * Streams both tables; memory is one batch of ids. Also what the audit concludes where the map and the
 * readings disagree: which reading a leaf really holds, and readings the map does not account for.
 */

import type { Database } from "better-sqlite3";
import type { ReadingRow } from "../commit/reading-store.js";
import { type EventRow, readingOpening } from "./leaf-openings.js";
import { leafHashWithNodeCrypto } from "./record-crypto.js";
import type { SubjectKeys } from "./subject-keys.js";

export type MappedLeaf =
  | { readonly type: "reading"; readonly leafIndex: number; readonly ref: string }
  | { readonly type: "event"; readonly leafIndex: number; readonly ref: string; readonly row: EventRow };

function* readingLeaves(db: Database): Generator<MappedLeaf> {
  const batches = db.prepare("SELECT first_leaf, ids FROM tlog_reading_ids ORDER BY first_leaf");
  for (const b of batches.iterate() as IterableIterator<{ first_leaf: number; ids: string }>) {
    const ids = b.ids.split(",");
    for (let k = 0; k < ids.length; k++) yield { type: "reading", leafIndex: b.first_leaf + k, ref: ids[k]! };
  }
}

function* eventLeaves(db: Database): Generator<MappedLeaf> {
  const rows = db.prepare(
    "SELECT leaf_index, ref, key_id, entry, sealed FROM tlog_records ORDER BY leaf_index",
  );
  for (const row of rows.iterate() as IterableIterator<EventRow>) {
    yield { type: "event", leafIndex: row.leaf_index, ref: row.ref, row };
  }
}

/** Every mapped leaf in leaf order (a leaf claimed by both tables comes out twice). */
export function* leafMap(db: Database): Generator<MappedLeaf> {
  const a = readingLeaves(db);
  const b = eventLeaves(db);
  let x = a.next();
  let y = b.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && x.value.leafIndex <= y.value.leafIndex)) {
      yield x.value as MappedLeaf;
      x = a.next();
    } else {
      yield y.value;
      y = b.next();
    }
  }
}

/**
 * A reading leaf whose map entry does not lead to a row at that leaf (the row is gone, or claims another
 * leaf). Before blaming the named reading, `resolveMapEdits` looks for the row that claims the leaf.
 */
export interface MapSuspect {
  readonly leafIndex: number;
  /** The reading id the map names at the leaf. */
  readonly ref: string;
  /** The tree's stored leaf hash. */
  readonly stored: Uint8Array;
  /** Names the finding about `ref` when no intact reading claims the leaf. */
  readonly fallback: () => void;
}

type Add = (
  kind: "modified" | "deleted" | "inserted",
  ref: string | null,
  leafIndex: number | null,
  detail: string,
) => void;

/**
 * Names each suspect leaf by the reading that is really there: a row that claims the leaf and whose record
 * is the tree's leaf (so the reading is intact and only the map's entry was changed); without such a row,
 * the suspect's own finding. One scan of the readings that have a leaf, only when there are suspects.
 * Returns the leaves named here (so `unmappedReadings` does not name them again).
 */
export function resolveMapEdits(
  db: Database,
  keys: SubjectKeys,
  suspects: readonly MapSuspect[],
  add: Add,
): Set<number> {
  const named = new Set<number>();
  if (suspects.length === 0) return named;
  const at = new Map(suspects.map((s) => [s.leafIndex, s]));
  const claimants = new Map<number, ReadingRow>();
  const rows = db.prepare("SELECT * FROM readings WHERE leaf_index IS NOT NULL");
  for (const r of rows.iterate() as IterableIterator<ReadingRow>) {
    const s = at.get(r.leaf_index!);
    if (s !== undefined && r.id !== s.ref) claimants.set(s.leafIndex, r);
  }
  for (const s of suspects) {
    const row = claimants.get(s.leafIndex);
    const opening = row && readingOpening(keys, row, s.leafIndex);
    if (
      row === undefined ||
      opening === undefined ||
      !leafHashWithNodeCrypto(opening.entry).equals(s.stored)
    ) {
      s.fallback();
      continue;
    }
    named.add(s.leafIndex);
    add(
      "modified",
      row.id,
      s.leafIndex,
      `the log's map of leaves names ${s.ref} at leaf ${s.leafIndex}, where this reading is stored intact ` +
        "(its row claims the leaf and matches the tree's leaf hash): tlog_reading_ids modified",
    );
  }
  return named;
}

/**
 * Readings the log's map does not account for: no leaf at all (inserted behind the gateway's back), or
 * more rows claiming leaves than the map lists (a map entry removed: named with the leaves it left empty).
 * `named`: leaves already named (by `resolveMapEdits`).
 */
export function unmappedReadings(
  db: Database,
  readingLeaves: number,
  gaps: readonly number[],
  named: ReadonlySet<number>,
  add: Add,
): void {
  const unlogged = db
    .prepare("SELECT id FROM readings WHERE leaf_index IS NULL ORDER BY row_id")
    .pluck()
    .all() as string[];
  for (const id of unlogged)
    add("inserted", id, null, "reading is not in the log (inserted behind the gateway's back)");
  const withLeaf = db
    .prepare("SELECT COUNT(*) FROM readings WHERE leaf_index IS NOT NULL")
    .pluck()
    .get() as number;
  const erased = db.prepare("SELECT COUNT(*) FROM tlog_erased").pluck().get() as number;
  if (withLeaf + erased <= readingLeaves && gaps.length === 0) return;
  const inGap = new Set(gaps);
  const rows = db.prepare("SELECT id, leaf_index FROM readings WHERE leaf_index IS NOT NULL ORDER BY row_id");
  const mapped = db.prepare(
    "SELECT first_leaf, ids FROM tlog_reading_ids WHERE first_leaf <= ? ORDER BY first_leaf DESC LIMIT 1",
  );
  const done = new Set(named);
  for (const r of rows.iterate() as IterableIterator<{ id: string; leaf_index: number }>) {
    if (done.has(r.leaf_index)) continue;
    const batch = mapped.get(r.leaf_index) as { first_leaf: number; ids: string } | undefined;
    if (batch?.ids.split(",")[r.leaf_index - batch.first_leaf] === r.id) continue;
    done.add(r.leaf_index);
    add(
      inGap.has(r.leaf_index) ? "modified" : "inserted",
      r.id,
      r.leaf_index,
      inGap.has(r.leaf_index)
        ? `the log's map of leaves no longer lists this reading at leaf ${r.leaf_index} (tlog_reading_ids modified)`
        : `reading claims leaf ${r.leaf_index} but the log's map of leaves does not list it there`,
    );
  }
  for (const g of gaps)
    if (!done.has(g)) add("deleted", null, g, `leaf ${g} has no record in the log's map of leaves`);
}
