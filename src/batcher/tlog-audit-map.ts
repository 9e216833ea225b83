/**
 * The log's own map of its leaves, in leaf order, for `vitalog audit`: reading leaves from
 * `tlog_reading_ids` (one row per group commit) merged with event leaves from `tlog_records`.
 * Streams both tables; memory is one batch of ids.
 */
import type { Database } from "better-sqlite3";
import type { EventRow } from "./leaf-openings.js";

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
