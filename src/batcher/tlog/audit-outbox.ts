/**
 * `vitalog audit`: `alert_outbox` (the messages of the durable sinks: webhook, HL7 over MLLP) against the log.
 * Every alert transition is committed with one outbox row per durable sink registered in that run, in the same
 * transaction as its logged event and its `alert_events` row (rules/sinks/alert-store.ts `write`), its `body`
 * the whole message as logged; a delivery or a dead-lettering only marks the row (`markOutcomes`). A row is
 * deleted by two things only: the start-up prune, which takes delivered or dead rows whose mark is older than
 * {@link OUTBOX_RETENTION_MS} (a mark is never earlier than its transition), and the erasure of the row's subject,
 * whose logged events are shredded with its key (erasure.ts). So:
 * - each row must have its logged transition (by `event_id`) and the same message in its `body`: a row without
 *   one was inserted (or its event id changed); a row naming an erased subject was not purged by its erasure, or
 *   put back since;
 * - a logged transition that was due for a durable sink must have that sink's row when it is younger than the
 *   retention at the time of the audit (`nowMs`): no prune can have taken it, delivered or not; a row deleted by
 *   hand leaves a message that is never delivered. Transitions older than the retention may have been pruned
 *   after their delivery, and are not judged.
 * Which transitions were due for a sink: a gateway whose durable sinks differ from the last set logged logs the
 * new set at start-up, before any transition of its own (`alert_outbox_sinks`, alert-store.ts; its row in
 * `rules_in_force` says which set was logged last, audit-rules.ts). A transition is judged for a sink both the
 * event before it and the next one (if any) name: a transition of a new run can be logged just before that run's
 * event (a reading that came as the broker started), so a sink added or removed at that restart is not judged
 * across it. Before the first such event (a log written by an older version), a sink is judged from its first row
 * whose transition is logged to its last one.
 * The replay is kept in a temporary table (the history can be large).
 */
import type { Database } from "better-sqlite3";
import { type AlertMessage, AUDIT_EVENT_TYPES } from "../../rules/sinks/alert-message.js";
import { OUTBOX_RETENTION_MS, OUTBOX_SINKS_EVENT } from "../../rules/sinks/alert-store.js";
import { canonicalize } from "../verifier/canonical-record.js";
import type { ErasedSubjects, LoggedEvent } from "./audit-events.js";
import { isoTime, scalar, type TableCheck, type TableCoverage } from "./audit-findings.js";

/** What the outbox comparison needs beyond the database. */
export interface OutboxAuditOptions {
  /** The time of the audit (ms since the epoch): transitions younger than the retention must keep their rows. */
  readonly nowMs: number;
}

/** One run's `alert_outbox_sinks` event: its leaf and the sinks it names. */
interface Run {
  leaf: number;
  sinks: ReadonlySet<string>;
}

const TABLE = "alert_outbox";
const ALERT_EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(AUDIT_EVENT_TYPES));

const SETUP = `
DROP TABLE IF EXISTS temp.audit_outbox_events;
CREATE TEMP TABLE audit_outbox_events (
  event_id TEXT PRIMARY KEY, leaf INTEGER NOT NULL, at_ms, transition, alert_id, body TEXT NOT NULL
);
CREATE INDEX temp.audit_outbox_events_by_leaf ON audit_outbox_events (leaf);
`;

interface OutboxRow {
  row_id: number;
  sink: string;
  event_id: string;
  body: string;
  created_at_ms: number;
  leaf: number | null;
  logged: string | null;
}

export function outboxCheck(db: Database, erased: ErasedSubjects, opts: OutboxAuditOptions): TableCheck {
  db.exec(SETUP);
  const insert = db.prepare(
    `INSERT OR IGNORE INTO temp.audit_outbox_events (event_id, leaf, at_ms, transition, alert_id, body)
     VALUES (?, ?, ?, ?, ?, ?)`,
  );
  const runs: Run[] = [];
  return {
    onEvent(e: LoggedEvent) {
      if (e.type === OUTBOX_SINKS_EVENT) {
        const sinks = Array.isArray(e.data.sinks) ? e.data.sinks.map(String) : [];
        runs.push({ leaf: e.leafIndex, sinks: new Set(sinks) });
        return;
      }
      if (!ALERT_EVENT_TYPES.has(e.type)) return;
      const m = e.data as unknown as AlertMessage;
      if (typeof m.event_id !== "string") return;
      const x = m as unknown as Record<string, unknown>;
      insert.run(
        m.event_id,
        e.leafIndex,
        scalar(x.at_ms),
        scalar(x.transition),
        scalar(x.alert_id),
        canonicalize(m),
      );
    },
    finish(add): TableCoverage[] {
      const hasTable =
        db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(TABLE) !==
        undefined;
      if (!hasTable) return [{ table: TABLE, rows: 0, verified: 0, pending: 0, erased: 0 }];
      const finding = (ref: string, leafIndex: number | null, detail: string) =>
        add({ kind: "outbox_mismatch", ref, leafIndex, detail, table: TABLE });
      const rows = db.prepare(
        `SELECT o.row_id, o.sink, o.event_id, o.body, o.created_at_ms, l.leaf, l.body AS logged
         FROM main.alert_outbox o LEFT JOIN temp.audit_outbox_events l ON l.event_id = o.event_id ORDER BY o.row_id`,
      );
      let count = 0;
      let verified = 0;
      for (const r of rows.iterate() as IterableIterator<OutboxRow>) {
        count++;
        const ref = `${r.sink} ${r.event_id}`;
        if (r.leaf === null || r.logged === null) {
          const subject = subjectOf(r.body);
          finding(
            ref,
            null,
            subject !== undefined && erased.covers(subject, Number(r.created_at_ms))
              ? "row names an erased subject: not purged by its erasure, or put back since (erase the subject again to purge it)"
              : "row has no logged transition: inserted, or its event_id changed",
          );
          continue;
        }
        if (!sameJson(r.logged, r.body)) {
          finding(ref, r.leaf, "the stored message (body) differs from the logged transition");
          continue;
        }
        verified++;
      }
      missingRows(db, opts, runs, finding);
      return [{ table: TABLE, rows: count, verified, pending: 0, erased: 0 }];
    },
  };
}

/** Names each logged transition that was due for a durable sink, could not have been pruned, and has no row. */
function missingRows(
  db: Database,
  opts: OutboxAuditOptions,
  runs: readonly Run[],
  finding: (ref: string, leafIndex: number | null, detail: string) => void,
): void {
  /** [sink, first leaf, last leaf] judged. */
  const ranges: [string, number, number][] = [];
  runs.forEach((run, i) => {
    const next = runs[i + 1];
    for (const sink of run.sinks) {
      if (next === undefined) ranges.push([sink, run.leaf, Number.MAX_SAFE_INTEGER]);
      else if (next.sinks.has(sink)) ranges.push([sink, run.leaf, next.leaf]);
    }
  });
  // a log from before the sinks were recorded: each sink from its first logged row to its last
  const firstRun = runs[0]?.leaf ?? Number.MAX_SAFE_INTEGER;
  const spans = db
    .prepare(
      `SELECT o.sink AS sink, min(l.leaf) AS first, max(l.leaf) AS last
       FROM main.alert_outbox o JOIN temp.audit_outbox_events l ON l.event_id = o.event_id
       WHERE l.leaf < ? GROUP BY o.sink`,
    )
    .all(firstRun) as { sink: string; first: number; last: number }[];
  for (const s of spans) ranges.push([s.sink, s.first, s.last]);
  const missing = db.prepare<
    [number, number, number, string],
    { event_id: string; leaf: number; at_ms: number; transition: string; alert_id: string }
  >(
    `SELECT l.event_id, l.leaf, l.at_ms, l.transition, l.alert_id FROM temp.audit_outbox_events l
     WHERE l.leaf >= ? AND l.leaf <= ? AND l.at_ms >= ?
       AND NOT EXISTS (SELECT 1 FROM main.alert_outbox o WHERE o.sink = ? AND o.event_id = l.event_id)
     ORDER BY l.leaf`,
  );
  const prunableBefore = opts.nowMs - OUTBOX_RETENTION_MS;
  const retentionDays = OUTBOX_RETENTION_MS / 86_400_000;
  for (const [sink, first, last] of ranges) {
    for (const m of missing.iterate(first, last, prunableBefore, sink)) {
      finding(
        `${sink} ${m.event_id}`,
        m.leaf,
        `logged transition (${m.transition} of alert ${m.alert_id} at ${isoTime(m.at_ms)}) has no ${sink} outbox row: ` +
          `deleted (a row is pruned only ${retentionDays} days after its delivery), so it is not delivered if it was pending ` +
          "(or never written: see vitalog_alert_persist_failures_total)",
      );
    }
  }
}

/** The subject a stored message names, if its body is a message at all. */
function subjectOf(body: string): string | undefined {
  try {
    const m = JSON.parse(body) as { subject_id?: unknown };
    return typeof m.subject_id === "string" ? m.subject_id : undefined;
  } catch {
    return undefined;
  }
}

/** Whether stored JSON text holds the same value as the logged canonical text. */
function sameJson(canonical: string, stored: string): boolean {
  try {
    return canonicalize(JSON.parse(stored)) === canonical;
  } catch {
    return false;
  }
}
