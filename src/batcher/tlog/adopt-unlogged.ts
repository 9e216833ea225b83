/**
 * The one way a stored reading that did not come through ingest enters the log: an operator's explicit,
 * logged adoption (`vitalog tlog adopt-unlogged`). The gateway never appends what it finds in its
 * database at start-up. A `readings` row without a leaf was either stored while `tlog.enabled` was
 * false or inserted behind the gateway's back; nothing in the row tells the two apart, so `audit` names
 * every such row (`inserted`) until a person decides.
 *
 * Adoption, in one IMMEDIATE transaction: every reading without a leaf, in storage order, is appended to
 * the log (leaf indexes size, size+1, …, as ingest would have), followed by one `readings_adopted`
 * event naming the leaves it adopted, how many, who authorised it and why. Then a checkpoint is signed
 * over the result. The adopted readings stay marked in the log for good: `audit` lists every adoption.
 */

import type { Database } from "better-sqlite3";
import type { ReadingRow } from "../commit/reading-store.js";
import { signNextCheckpoint } from "./checkpoint-store.js";
import type { Tlog } from "./open-tlog.js";
import { readingFromRow } from "./reading-record.js";

/** The event type of an adoption (a wire string: never renamed). */
export const READINGS_ADOPTED = "readings_adopted";

/** What an adoption appended. */
export interface AdoptionResult {
  /** Readings adopted (0: nothing to adopt, nothing appended). */
  readonly count: number;
  /** Leaves of the adopted readings, first and last; null when none. */
  readonly firstLeaf: number | null;
  readonly lastLeaf: number | null;
  /** The `readings_adopted` event's id; null when none. */
  readonly eventId: string | null;
  /** Size of the checkpoint signed after the adoption; null when nothing was signed. */
  readonly checkpointSize: number | null;
}

/** Readings stored without a leaf (what `audit` names `inserted` and an adoption would append). */
export function unloggedReadingCount(db: Database): number {
  return db.prepare("SELECT COUNT(*) FROM readings WHERE leaf_index IS NULL").pluck().get() as number;
}

/**
 * Adopts every reading without a leaf (see the module comment). `by`: who authorised it; `reason`: why
 * (both recorded in the event).
 */
export function adoptUnlogged(
  tlog: Tlog,
  opts: { by: string; reason: string; nowMs: number },
  batch = 4096,
): AdoptionResult {
  const { db, records } = tlog;
  const select = db.prepare(
    `SELECT row_id, id, device_id, subject_id, device_seq, kind, loinc, value, unit, device_time_ms,
       observed_at_ms, received_at_ms, flags, mdc, leaf_index FROM readings
     WHERE leaf_index IS NULL ORDER BY row_id LIMIT ?`,
  );
  const setLeaf = db.prepare("UPDATE readings SET leaf_index = ? WHERE row_id = ? AND leaf_index IS NULL");
  const adopted = db
    .transaction(() => {
      const firstLeaf = records.tiles.size();
      let count = 0;
      for (;;) {
        const rows = select.all(batch) as ReadingRow[];
        if (rows.length === 0) break;
        const first = records.tiles.size();
        // [RecordLog contract] readings are stored at size, size+1, … before they are appended
        for (let i = 0; i < rows.length; i++) setLeaf.run(first + i, rows[i]!.row_id);
        records.append(rows.map(readingFromRow), []);
        count += rows.length;
      }
      if (count === 0) return { count, firstLeaf: null, lastLeaf: null, eventId: null };
      const lastLeaf = firstLeaf + count - 1;
      const { eventIds } = records.append(
        [],
        [
          {
            type: READINGS_ADOPTED,
            atMs: opts.nowMs,
            subjectId: null,
            deviceId: null,
            data: { by: opts.by, reason: opts.reason, count, first_leaf: firstLeaf, last_leaf: lastLeaf },
          },
        ],
      );
      return { count, firstLeaf, lastLeaf, eventId: eventIds[0]! };
    })
    .immediate();
  if (adopted.count === 0) return { ...adopted, checkpointSize: null };
  const cp = signNextCheckpoint({
    db,
    tiles: records.tiles,
    store: tlog.checkpoints,
    origin: tlog.origin,
    signers: [tlog.signer],
    nowMs: opts.nowMs,
  });
  return { ...adopted, checkpointSize: cp?.size ?? null };
}
