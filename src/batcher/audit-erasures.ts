/**
 * `vitalog audit`: nothing is deleted silently under cover of an erasure. A `subject_erased` event
 * (erasure.ts) counts what the erasure shredded: `records` (the subject's sealed events plus its logged
 * readings) and `readings` (its logged readings, whose entries it kept in `tlog_erased`), under its
 * `key_ids`. An erased key is never used again, so those counts stay what they were: the log's event
 * records and kept entries under those keys must still add up to them. More means an opening was shredded,
 * or a reading deleted, that the erasure did not cover; fewer means a record of the erased subject was
 * deleted afterwards. (A shredded record under a key no erasure covers is named by the leaf pass.)
 */
import type { Database } from "better-sqlite3";
import type { LoggedEvent } from "./audit-events.js";
import type { AddFinding, TableCheck } from "./audit-findings.js";

export const SUBJECT_ERASED = "subject_erased";

export function erasuresCheck(db: Database): TableCheck {
  const erasures: { ref: string; leaf: number; keyIds: number[]; records: number; readings: number }[] = [];
  return {
    onEvent(e: LoggedEvent) {
      if (e.type !== SUBJECT_ERASED) return;
      const keyIds = Array.isArray(e.data.key_ids) ? e.data.key_ids.map(Number) : [];
      erasures.push({
        ref: e.ref,
        leaf: e.leafIndex,
        keyIds,
        records: Number(e.data.records),
        readings: Number(e.data.readings),
      });
    },
    finish(add: AddFinding) {
      for (const x of erasures) {
        if (x.keyIds.length === 0) continue;
        const marks = x.keyIds.map(() => "?").join(",");
        const events = db
          .prepare(`SELECT COUNT(*) FROM tlog_records WHERE key_id IN (${marks})`)
          .pluck()
          .get(...x.keyIds) as number;
        const kept = db
          .prepare(`SELECT COUNT(*) FROM tlog_erased WHERE key_id IN (${marks})`)
          .pluck()
          .get(...x.keyIds) as number;
        if (kept === x.readings && events + kept === x.records) continue;
        add({
          kind: "erasure_mismatch",
          ref: x.ref,
          leafIndex: x.leaf,
          detail:
            `the erasure logged ${x.records} record(s) shredded, ${x.readings} of them readings, under key(s) ` +
            `${x.keyIds.join(", ")}; the log now holds ${events + kept}, ${kept} of them readings`,
          table: "tlog_erased",
        });
      }
      return [];
    },
  };
}
