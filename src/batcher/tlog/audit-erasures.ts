/**
 * `vitalog audit`: nothing is deleted silently under cover of an erasure. A `subject_erased` event
 * (erasure.ts) counts what the erasure shredded: `records` (the subject's sealed events plus its logged
 * readings) and `readings` (its logged readings, whose entries it kept in `tlog_erased`), under its
 * `key_ids`. An erased key is never used again, so those counts stay what they were: the log's event
 * records and kept entries under those keys must still add up to them. More means an opening was shredded,
 * or a reading deleted, that the erasure did not cover; fewer means a record of the erased subject was
 * deleted afterwards. (A shredded record under a key no erasure covers is named by the leaf pass.)
 *
 * The erasure's purge of the subject's alarm record (erasure.ts) is authorised by its `subject_alerts_purged`
 * event, logged in the same transaction: it counts the rows it deleted and, opened under the subject's key just
 * before, the subject's logged alert transitions, alerts, clinician entries, limits in force and rules in force,
 * and how many of them still had their row (for limits and rules in force: a row equal to the logged state). A
 * logged one without its row then was deleted (or changed) before the erasure, outside it (or never written: see
 * vitalog_alert_persist_failures_total), and is a finding, although the rows and the events are gone now: a
 * deletion by tampering is not hidden by the erasure that follows it. A row of the erased subject left in a table
 * is named by that table's check (audit-alerts.ts, audit-observations.ts, audit-outbox.ts, audit-rules.ts).
 */
import type { Database } from "better-sqlite3";
import type { LoggedEvent } from "./audit-events.js";
import type { AddFinding, TableCheck } from "./audit-findings.js";
import { SUBJECT_ALERTS_PURGED } from "./erasure.js";

export const SUBJECT_ERASED = "subject_erased";

/** A purge's counts, as logged (erasure.ts `PurgedRows` and `LoggedForPurge`). */
interface PurgeCounts {
  ref: string;
  leaf: number;
  tag: string;
  alertEvents: number;
  alerts: number;
  observations: number;
  logged: Record<string, unknown> | null;
}

export function erasuresCheck(db: Database): TableCheck {
  const erasures: { ref: string; leaf: number; keyIds: number[]; records: number; readings: number }[] = [];
  const purges: PurgeCounts[] = [];
  return {
    onEvent(e: LoggedEvent) {
      if (e.type === SUBJECT_ALERTS_PURGED) {
        const logged = e.data.logged;
        purges.push({
          ref: e.ref,
          leaf: e.leafIndex,
          tag: String(e.data.subject_tag),
          alertEvents: Number(e.data.alert_events),
          alerts: Number(e.data.alerts),
          observations: Number(e.data.clinician_observations),
          logged: logged !== null && typeof logged === "object" ? (logged as Record<string, unknown>) : null,
        });
        return;
      }
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
      for (const p of purges) checkPurge(p, add);
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

/** A purge that found fewer rows than the log held for the subject: the missing ones were deleted before it. */
function checkPurge(p: PurgeCounts, add: AddFinding): void {
  if (p.logged === null) return;
  const n = (k: string) => Number(p.logged![k] ?? 0);
  const gaps = [
    {
      table: "alert_events",
      what: "alert transition(s)",
      logged: n("alert_events"),
      found: n("alert_events_with_rows"),
    },
    { table: "alerts", what: "alert(s)", logged: n("alerts"), found: n("alerts_with_rows") },
    {
      table: "clinician_observations",
      what: "clinician entr(ies)",
      logged: n("clinician_observations"),
      found: Math.min(n("clinician_observations"), p.observations),
    },
    // the limits and the rules in force: a row counts only when it held what the log left (equal, same author)
    {
      table: "subject_limits",
      what: "limit(s) in force",
      logged: n("subject_limits"),
      found: n("subject_limits_with_rows"),
      changed: true,
    },
    {
      table: "rules_in_force",
      what: "rules in force record",
      logged: n("rules_in_force"),
      found: n("rules_in_force_with_row"),
      changed: true,
    },
  ];
  for (const g of gaps) {
    if (g.found >= g.logged) continue;
    const gone = "changed" in g ? "deleted or changed" : "deleted";
    add({
      kind: "erasure_mismatch",
      ref: p.ref,
      leafIndex: p.leaf,
      detail:
        `the purge of an erased subject's alarm record (tag ${p.tag.slice(0, 16)}…) found ${g.found} ${g.table} row(s) ` +
        `for ${g.logged} logged ${g.what}: ${g.logged - g.found} ${gone} before the erasure, outside it` +
        ("changed" in g ? "" : " (or never written: see vitalog_alert_persist_failures_total)"),
      table: g.table,
    });
  }
}
