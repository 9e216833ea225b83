/**
 * `vitalog audit`: the alert tables against the log. Every alert transition (raise, silence, acknowledgement
 * …) is a logged event whose data is the whole message (rules/sinks/alert-message.ts), committed in the same
 * transaction as its `alert_events` row and its `alerts` upsert (alert-store.ts). So:
 * - each logged transition must have its `alert_events` row, equal column by column (who: `by`, when:
 *   `at_ms`, `via`, the transition, state, priority …) and in its message (`body`);
 * - each row must have its logged transition;
 * - `alerts` (the current state) must equal the state replayed from the logged transitions with the
 *   store's own upsert rule.
 * The replay is kept in temporary tables (the history can be large; memory stays bounded). A row of an
 * erased subject cannot be compared (its events were shredded with its key): counted, not a finding.
 */
import type { Database } from "better-sqlite3";
import { type AlertMessage, AUDIT_EVENT_TYPES } from "../rules/sinks/alert-message.js";
import type { ErasedSubjects, LoggedEvent } from "./audit-events.js";
import {
  type AddFinding,
  isoTime,
  scalar,
  showValue,
  type TableCheck,
  type TableCoverage,
} from "./audit-findings.js";
import { canonicalize } from "./canonical-record.js";

/** The columns of `alert_events` a logged message determines (besides `body`). */
const EVENT_COLUMNS = [
  "alert_id",
  "transition",
  "state",
  "priority",
  "category",
  "rule_id",
  "subject_id",
  "device_id",
  "at_ms",
  "by",
  "via",
] as const;
const ALERT_COLUMNS = ["state", "priority", "subject_id", "raised_at_ms", "updated_at_ms"] as const;

type Row = Record<string, unknown>;

const ALERT_EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(AUDIT_EVENT_TYPES));

const SETUP = `
DROP TABLE IF EXISTS temp.audit_alert_events;
DROP TABLE IF EXISTS temp.audit_alerts;
CREATE TEMP TABLE audit_alert_events (
  event_id TEXT PRIMARY KEY, leaf INTEGER NOT NULL, alert_id, transition, state, priority, category, rule_id,
  subject_id, device_id, at_ms, by, via, body TEXT NOT NULL
);
CREATE TEMP TABLE audit_alerts (
  alert_id TEXT PRIMARY KEY, leaf INTEGER NOT NULL, state, priority, subject_id, raised_at_ms, updated_at_ms,
  snapshot TEXT NOT NULL
);
`;

export function alertTablesCheck(db: Database, erased: ErasedSubjects): TableCheck {
  db.exec(SETUP);
  const insertEvent = db.prepare(
    `INSERT OR IGNORE INTO temp.audit_alert_events (event_id, leaf, alert_id, transition, state, priority,
       category, rule_id, subject_id, device_id, at_ms, by, via, body) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
  );
  // the store's upsert (alert-store.ts), replayed: a transition older than the stored state does not win
  const upsertAlert = db.prepare(
    `INSERT INTO temp.audit_alerts (alert_id, leaf, state, priority, subject_id, raised_at_ms, updated_at_ms,
       snapshot) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (alert_id) DO UPDATE SET leaf = excluded.leaf,
       state = excluded.state, priority = excluded.priority, updated_at_ms = excluded.updated_at_ms,
       snapshot = excluded.snapshot WHERE excluded.updated_at_ms >= audit_alerts.updated_at_ms`,
  );
  return {
    onEvent(e: LoggedEvent) {
      if (!ALERT_EVENT_TYPES.has(e.type)) return;
      const m = e.data as unknown as AlertMessage;
      if (typeof m.event_id !== "string" || typeof m.alert_id !== "string") return;
      const body = canonicalize(m);
      const x = m as unknown as Record<string, unknown>;
      insertEvent.run(m.event_id, e.leafIndex, ...EVENT_COLUMNS.map((c) => scalar(x[c])), body);
      upsertAlert.run(
        m.alert_id,
        e.leafIndex,
        scalar(x.state),
        scalar(x.priority),
        scalar(x.subject_id),
        scalar(x.raised_at_ms),
        scalar(x.at_ms),
        body,
      );
    },
    finish(add) {
      return [checkEvents(db, erased, add), checkAlerts(db, erased, add)];
    },
  };
}

function checkEvents(db: Database, erased: ErasedSubjects, add: AddFinding): TableCoverage {
  const table = "alert_events";
  const finding = (ref: string, leaf: number | null, detail: string) =>
    add({ kind: "alert_mismatch", ref, leafIndex: leaf, detail, table });
  let verified = 0;
  let erasedRows = 0;
  const logged = db.prepare(
    `SELECT l.*, a.row_id AS a_row_id, ${EVENT_COLUMNS.map((c) => `a.${c} AS a_${c}`).join(", ")},
       a.body AS a_body
     FROM temp.audit_alert_events l LEFT JOIN main.alert_events a ON a.event_id = l.event_id ORDER BY l.leaf`,
  );
  for (const r of logged.iterate() as IterableIterator<Row>) {
    const what = `${r.transition} of alert ${r.alert_id} at ${isoTime(r.at_ms)}`;
    if (r.a_row_id === null) {
      finding(
        String(r.event_id),
        Number(r.leaf),
        `logged transition (${what}) has no alert_events row: deleted (or never written: see vitalog_alert_persist_failures_total)`,
      );
      continue;
    }
    const diffs = EVENT_COLUMNS.filter((c) => r[c] !== r[`a_${c}`]).map(
      (c) => `${c}: logged ${showValue(r[c])}, stored ${showValue(r[`a_${c}`])}`,
    );
    if (diffs.length === 0 && !sameJson(String(r.body), r.a_body))
      diffs.push("the stored message (body) differs from the logged one");
    if (diffs.length > 0) finding(String(r.event_id), Number(r.leaf), `${what}: ${diffs.join("; ")}`);
    else verified++;
  }
  const unlogged = db.prepare(
    `SELECT event_id, alert_id, transition, subject_id, at_ms FROM main.alert_events a
     WHERE NOT EXISTS (SELECT 1 FROM temp.audit_alert_events l WHERE l.event_id = a.event_id) ORDER BY row_id`,
  );
  for (const r of unlogged.iterate() as IterableIterator<Row>) {
    if (erased.covers(String(r.subject_id), Number(r.at_ms))) {
      erasedRows++;
      continue;
    }
    finding(
      String(r.event_id),
      null,
      `row (${r.transition} of alert ${r.alert_id} at ${isoTime(r.at_ms)}) has no logged transition: inserted, or its event_id changed`,
    );
  }
  const rows = db.prepare("SELECT COUNT(*) FROM main.alert_events").pluck().get() as number;
  return { table, rows, verified, pending: 0, erased: erasedRows };
}

function checkAlerts(db: Database, erased: ErasedSubjects, add: AddFinding): TableCoverage {
  const table = "alerts";
  const finding = (ref: string, leaf: number | null, detail: string) =>
    add({ kind: "alert_state_mismatch", ref, leafIndex: leaf, detail, table });
  let verified = 0;
  let erasedRows = 0;
  const replayed = db.prepare(
    `SELECT l.*, a.alert_id AS a_alert_id, ${ALERT_COLUMNS.map((c) => `a.${c} AS a_${c}`).join(", ")},
       a.snapshot AS a_snapshot
     FROM temp.audit_alerts l LEFT JOIN main.alerts a ON a.alert_id = l.alert_id ORDER BY l.leaf`,
  );
  for (const r of replayed.iterate() as IterableIterator<Row>) {
    if (r.a_alert_id === null) {
      finding(
        String(r.alert_id),
        Number(r.leaf),
        `alert (${r.state} per its last logged transition) has no alerts row: deleted`,
      );
      continue;
    }
    const diffs = ALERT_COLUMNS.filter((c) => r[c] !== r[`a_${c}`]).map(
      (c) => `${c}: logged ${showValue(r[c])}, stored ${showValue(r[`a_${c}`])}`,
    );
    if (diffs.length === 0 && !sameJson(String(r.snapshot), r.a_snapshot))
      diffs.push("the stored snapshot differs from the last logged message");
    if (diffs.length > 0) finding(String(r.alert_id), Number(r.leaf), diffs.join("; "));
    else verified++;
  }
  const unlogged = db.prepare(
    `SELECT alert_id, state, subject_id, updated_at_ms FROM main.alerts a
     WHERE NOT EXISTS (SELECT 1 FROM temp.audit_alerts l WHERE l.alert_id = a.alert_id) ORDER BY alert_id`,
  );
  for (const r of unlogged.iterate() as IterableIterator<Row>) {
    if (erased.covers(String(r.subject_id), Number(r.updated_at_ms))) {
      erasedRows++;
      continue;
    }
    finding(String(r.alert_id), null, `alert (${r.state}) has no logged transition: inserted`);
  }
  const rows = db.prepare("SELECT COUNT(*) FROM main.alerts").pluck().get() as number;
  return { table, rows, verified, pending: 0, erased: erasedRows };
}

/** Whether stored JSON text holds the same value as the logged canonical text. */
function sameJson(canonical: string, stored: unknown): boolean {
  if (typeof stored !== "string") return false;
  try {
    return canonicalize(JSON.parse(stored)) === canonical;
  } catch {
    return false;
  }
}
