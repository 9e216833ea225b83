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
 * erased subject is a finding: the erasure purges the subject's rows (erasure.ts), so one left names a subject
 * that should be gone (purged incompletely, by an older version: erase it again, which purges what is left), or
 * was put back afterwards. Rows deleted by the authorised purge are accounted for by its logged
 * `subject_alerts_purged` event (audit-erasures.ts); any other deletion leaves a logged transition without its
 * row, named here.
 */
import type { Database } from "better-sqlite3";
import { type AlertMessage, AUDIT_EVENT_TYPES } from "../../rules/sinks/alert-message.js";
import { canonicalize } from "../verifier/canonical-record.js";
import type { ErasedSubjects, LoggedEvent } from "./audit-events.js";
import {
  type AddFinding,
  isoTime,
  scalar,
  showValue,
  type TableCheck,
  type TableCoverage,
} from "./audit-findings.js";

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
  const what = (r: Row) => `${r.transition} of alert ${r.alert_id} at ${isoTime(r.at_ms)}`;
  const verified = compareReplayed(
    db,
    { replayed: "audit_alert_events", stored: table, key: "event_id", columns: EVENT_COLUMNS, json: "body" },
    {
      missing: (r) =>
        finding(
          String(r.event_id),
          Number(r.leaf),
          `logged transition (${what(r)}) has no alert_events row: deleted (or never written: see vitalog_alert_persist_failures_total)`,
        ),
      differs: (r, diffs) => finding(String(r.event_id), Number(r.leaf), `${what(r)}: ${diffs.join("; ")}`),
      jsonDiffers: "the stored message (body) differs from the logged one",
    },
  );
  const erasedRows = unloggedRows(
    db,
    { replayed: "audit_alert_events", stored: table, key: "event_id", at: "at_ms", order: "row_id" },
    erased,
    (r, isErased) =>
      finding(
        String(r.event_id),
        null,
        isErased
          ? `row (${what(r)}) names an erased subject: not purged by its erasure, or put back since (erase the subject again to purge it)`
          : `row (${what(r)}) has no logged transition: inserted, or its event_id changed`,
      ),
  );
  const rows = db.prepare("SELECT COUNT(*) FROM main.alert_events").pluck().get() as number;
  return { table, rows, verified, pending: 0, erased: erasedRows };
}

function checkAlerts(db: Database, erased: ErasedSubjects, add: AddFinding): TableCoverage {
  const table = "alerts";
  const finding = (ref: string, leaf: number | null, detail: string) =>
    add({ kind: "alert_state_mismatch", ref, leafIndex: leaf, detail, table });
  const verified = compareReplayed(
    db,
    { replayed: "audit_alerts", stored: table, key: "alert_id", columns: ALERT_COLUMNS, json: "snapshot" },
    {
      missing: (r) =>
        finding(
          String(r.alert_id),
          Number(r.leaf),
          `alert (${r.state} per its last logged transition) has no alerts row: deleted`,
        ),
      differs: (r, diffs) => finding(String(r.alert_id), Number(r.leaf), diffs.join("; ")),
      jsonDiffers: "the stored snapshot differs from the last logged message",
    },
  );
  const erasedRows = unloggedRows(
    db,
    { replayed: "audit_alerts", stored: table, key: "alert_id", at: "updated_at_ms", order: "alert_id" },
    erased,
    (r, isErased) =>
      finding(
        String(r.alert_id),
        null,
        isErased
          ? `alert (${r.state}) names an erased subject: not purged by its erasure, or put back since (erase the subject again to purge it)`
          : `alert (${r.state}) has no logged transition: inserted`,
      ),
  );
  const rows = db.prepare("SELECT COUNT(*) FROM main.alerts").pluck().get() as number;
  return { table, rows, verified, pending: 0, erased: erasedRows };
}

/**
 * Each replayed row (temporary table `replayed`, in leaf order) against the stored row with the same `key`:
 * column by column, then its JSON (`json`, the same column name in both). Calls `missing` for a replayed row
 * that has no stored row and `differs` with what differs; returns how many matched.
 */
function compareReplayed(
  db: Database,
  spec: { replayed: string; stored: string; key: string; columns: readonly string[]; json: string },
  on: { missing: (r: Row) => void; differs: (r: Row, diffs: string[]) => void; jsonDiffers: string },
): number {
  const rows = db.prepare(
    `SELECT l.*, a.${spec.key} AS a_key, ${spec.columns.map((c) => `a.${c} AS a_${c}`).join(", ")},
       a.${spec.json} AS a_json
     FROM temp.${spec.replayed} l LEFT JOIN main.${spec.stored} a ON a.${spec.key} = l.${spec.key} ORDER BY l.leaf`,
  );
  let verified = 0;
  for (const r of rows.iterate() as IterableIterator<Row>) {
    if (r.a_key === null) {
      on.missing(r);
      continue;
    }
    const diffs = spec.columns
      .filter((c) => r[c] !== r[`a_${c}`])
      .map((c) => `${c}: logged ${showValue(r[c])}, stored ${showValue(r[`a_${c}`])}`);
    if (diffs.length === 0 && !sameJson(String(r[spec.json]), r.a_json)) diffs.push(on.jsonDiffers);
    if (diffs.length > 0) on.differs(r, diffs);
    else verified++;
  }
  return verified;
}

/**
 * The stored rows that no replayed row has (by `key`, in `order`): each one is `unlogged`, told whether it belongs
 * to an erased subject (its `subject_id`, dated by `at`). Returns how many were an erased subject's.
 */
function unloggedRows(
  db: Database,
  spec: { replayed: string; stored: string; key: string; at: string; order: string },
  erased: ErasedSubjects,
  unlogged: (r: Row, isErased: boolean) => void,
): number {
  const rows = db.prepare(
    `SELECT * FROM main.${spec.stored} a
     WHERE NOT EXISTS (SELECT 1 FROM temp.${spec.replayed} l WHERE l.${spec.key} = a.${spec.key}) ORDER BY ${spec.order}`,
  );
  let erasedRows = 0;
  for (const r of rows.iterate() as IterableIterator<Row>) {
    const isErased = erased.covers(String(r.subject_id), Number(r[spec.at]));
    if (isErased) erasedRows++;
    unlogged(r, isErased);
  }
  return erasedRows;
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
