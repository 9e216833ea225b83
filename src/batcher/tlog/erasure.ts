/**
 * Subject erasure: the subject's alarm record is purged and its log record crypto-shredded, in one IMMEDIATE
 * transaction:
 * 1. the subject's rows are deleted from every table that names it outside the log: `alert_events`, `alerts`,
 *    `alert_outbox` (its messages to the durable sinks), `clinician_observations` and `subject_limits`. Before, the subject's
 *    logged events are opened (its key still exists) and counted, so the purge can say how many rows the log
 *    supports and how many it found: a row deleted (or, for its limits and rules in force, changed) earlier, by
 *    hand, is then told apart from the authorised purge (audit-erasures.ts). The subject's `rules_in_force` row
 *    (keyed by its tag, holding no subject id) stays; the purge records the state its last logged event left, so
 *    the audit can still compare the row after its events are shredded (audit-rules.ts). A
 *    `subject_alerts_purged` event (subject tag and counts, no subject id) records it;
 * 2. each logged reading of the subject leaves its id, entry (a salted commitment that reveals nothing once the
 *    salt is gone) and key id in `tlog_erased`, so the tree's entries can still be served and the audit can tell
 *    an erased leaf from a deleted one;
 * 3. the subject's rows in `readings` are deleted and its sealed event records dropped;
 * 4. every key of the subject is destroyed (wrapped key and subject id set to NULL; a tombstone row keeps only
 *    the storage-key MAC tag, so the erasure can be confirmed by whoever knows the id, and no key is ever made
 *    for the id again: subject-keys.ts) — with it every salt of the subject, which was derived from it;
 * 5. a `subject_erased` event (tag, key ids, counts — no subject id) is appended to the log.
 * The tree is unchanged, so every other subject's proofs still verify. Then the freed space is zeroed
 * (secure_delete), the file rebuilt (VACUUM: also drops stale copies left by earlier deletes, e.g. of the
 * subject's device bindings) and the WAL checkpointed and truncated, so no copy of the key or of the subject id
 * stays in the database files.
 *
 * Erasing a subject erased before purges what an older version left in the alert tables (the purge event says
 * so), and is refused (SUBJECT_ERASED) when nothing is left. With the daemon running, the command asks it first
 * (rules/subject-lifecycle.ts): its alarms end, nothing new is made for it, and its resolutions are committed
 * before this runs. Backups made before the erasure still hold the wrapped key: erase them per retention policy.
 */
import type { Database } from "better-sqlite3";
import { GatewayError } from "../../errors.js";
import { RULES_IN_FORCE_EVENT } from "../../rules/rules-in-force-writer.js";
import { AUDIT_EVENT_TYPES, OBSERVATION_EVENT_TYPE } from "../../rules/sinks/alert-message.js";
import { purgeSubjectLimits, SUBJECT_LIMITS_CHANGED } from "../../rules/subject-limits-sql.js";
import type { ReadingRow } from "../commit/reading-store.js";
import { canonicalize } from "../verifier/canonical-record.js";
import { type EventRow, openEvent, readingOpening } from "./leaf-openings.js";
import type { Tlog } from "./open-tlog.js";
import type { LogEvent } from "./record-log.js";
import type { SubjectKey } from "./subject-keys.js";

/** Event type of the purge of a subject's alarm record (audit-erasures.ts checks it). */
export const SUBJECT_ALERTS_PURGED = "subject_alerts_purged";

/** Rows of the subject deleted from each table (wire snake_case, as logged). */
export interface PurgedRows {
  alert_events: number;
  alerts: number;
  alert_outbox: number;
  clinician_observations: number;
  subject_limits: number;
}

/**
 * What the log held for the subject when it was purged: its logged alert transitions (`alert_events`), the alerts
 * they name (`alerts`) and its clinician entries (`clinician_observations`), and of those how many still had their
 * row (`*_with_rows`); the limits its last logged `subject_limits_changed` per vital left in force
 * (`subject_limits`) and how many rows still held exactly them, with their author and reason
 * (`subject_limits_with_rows`); whether a `rules_in_force` record of the subject was logged (`rules_in_force`, 0 or
 * 1), whether its row held the state the last one left (`rules_in_force_with_row`), and that state
 * (`rules_in_force_state`, the hash the row keeps, or null). Null when the subject's key was destroyed before
 * (nothing could be opened). Purge events logged before the limit and rules fields existed lack them.
 */
export interface LoggedForPurge {
  alert_events: number;
  alert_events_with_rows: number;
  alerts: number;
  alerts_with_rows: number;
  clinician_observations: number;
  subject_limits: number;
  subject_limits_with_rows: number;
  rules_in_force: number;
  rules_in_force_with_row: number;
  rules_in_force_state: string | null;
}

export interface ErasureResult {
  readonly keyIds: readonly number[];
  readonly records: number;
  readonly readingsDeleted: number;
  /** The `subject_erased` event; null when the subject had no key (only leftovers were purged). */
  readonly eventId: string | null;
  /** The subject was erased before: this run only purged what an older version left. */
  readonly isAlreadyErased: boolean;
  readonly purged: PurgedRows;
  readonly purgeEventId: string;
}

const ALERT_EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(AUDIT_EVENT_TYPES));
const PAGE_ROWS = 256;

/**
 * Erases `subjectId`. @throws SUBJECT_UNKNOWN (nothing of it), SUBJECT_ERASED (already erased and nothing left to
 * purge), DEVICE_EXISTS (still bound).
 */
export function eraseSubject(tlog: Tlog, subjectId: string, nowMs: number): ErasureResult {
  const { db, records } = tlog;
  db.pragma("secure_delete = ON");
  const run = db.transaction((): ErasureResult => {
    const bound = db
      .prepare("SELECT id FROM devices WHERE subject_id = ?")
      .pluck()
      .all(subjectId) as string[];
    if (bound.length > 0) {
      throw new GatewayError(
        "DEVICE_EXISTS",
        `device(s) ${bound.join(", ")} still bound to the subject; remove them first (vitalog devices remove)`,
      );
    }
    const tag = records.keys.tag(subjectId);
    const key = records.keys.existingKeyFor(subjectId);
    const logged = key === undefined ? null : loggedForPurge(tlog, key, subjectId);
    const purged = purgeAlertRecord(db, subjectId);
    let readingLeaves = 0;
    if (key !== undefined) {
      const keep = db.prepare("INSERT INTO tlog_erased (leaf_index, ref, key_id, entry) VALUES (?, ?, ?, ?)");
      const rows = db
        .prepare("SELECT * FROM readings WHERE subject_id = ? AND leaf_index IS NOT NULL")
        .all(subjectId) as ReadingRow[];
      for (const row of rows) {
        const opening = readingOpening(records.keys, row)!;
        keep.run(opening.leafIndex, row.id, key.keyId, opening.entry);
      }
      readingLeaves = rows.length;
    }
    const keyIds = records.keys.erase(subjectId, nowMs);
    const purgedAny = Object.values(purged).some((n) => n > 0);
    const isAlreadyErased =
      keyIds.length === 0 &&
      db
        .prepare("SELECT 1 FROM tlog_subject_keys WHERE subject_tag = ? AND erased_at_ms IS NOT NULL")
        .get(tag) !== undefined;
    if (keyIds.length === 0 && !purgedAny) {
      if (isAlreadyErased) throw new GatewayError("SUBJECT_ERASED", "subject was already erased");
      throw new GatewayError("SUBJECT_UNKNOWN", "no records of this subject in the log");
    }
    const marks = keyIds.map(() => "?").join(",");
    const shredded =
      keyIds.length === 0
        ? 0
        : db.prepare(`UPDATE tlog_records SET sealed = NULL WHERE key_id IN (${marks})`).run(...keyIds)
            .changes;
    const deleted = db.prepare("DELETE FROM readings WHERE subject_id = ?").run(subjectId).changes;
    const tagHex = tag.toString("hex");
    const events: LogEvent[] = [
      {
        type: SUBJECT_ALERTS_PURGED,
        atMs: nowMs,
        subjectId: null,
        deviceId: null,
        data: { subject_tag: tagHex, ...purged, logged },
      },
    ];
    if (keyIds.length > 0) {
      events.push({
        type: "subject_erased",
        atMs: nowMs,
        subjectId: null,
        deviceId: null,
        data: {
          subject_tag: tagHex,
          key_ids: keyIds,
          records: shredded + readingLeaves,
          readings: readingLeaves,
        },
      });
    }
    const { eventIds } = records.append([], events);
    return {
      keyIds,
      records: shredded + readingLeaves,
      readingsDeleted: deleted,
      eventId: keyIds.length > 0 ? eventIds[1]! : null,
      isAlreadyErased,
      purged,
      purgeEventId: eventIds[0]!,
    };
  });
  const result = run.immediate();
  db.exec("VACUUM");
  db.pragma("wal_checkpoint(TRUNCATE)");
  return result;
}

/** Deletes the subject's rows from the alert tables, the outbox, the clinician observations and its own limits. */
function purgeAlertRecord(db: Database, subjectId: string): PurgedRows {
  // an outbox row carries the subject only in its message (body), which may not be valid JSON if tampered with
  const alert_outbox = db
    .prepare(
      `DELETE FROM alert_outbox WHERE event_id IN (SELECT event_id FROM alert_events WHERE subject_id = ?)
         OR (CASE WHEN json_valid(body) THEN json_extract(body, '$.subject_id') END) = ?`,
    )
    .run(subjectId, subjectId).changes;
  return {
    alert_events: db.prepare("DELETE FROM alert_events WHERE subject_id = ?").run(subjectId).changes,
    alerts: db.prepare("DELETE FROM alerts WHERE subject_id = ?").run(subjectId).changes,
    alert_outbox,
    clinician_observations: db
      .prepare("DELETE FROM clinician_observations WHERE subject_id = ?")
      .run(subjectId).changes,
    // the patient's own limits (their changes are logged under the subject's key, shredded with it)
    subject_limits: purgeSubjectLimits(db, subjectId),
  };
}

/**
 * The subject's logged alert transitions, clinician entries, limit changes and rules in force, opened under its
 * key, and how many of them still have their row now (before the purge).
 */
function loggedForPurge(tlog: Tlog, key: SubjectKey, subjectId: string): LoggedForPurge {
  const { db, records } = tlog;
  const hasEventRow = db.prepare("SELECT 1 FROM alert_events WHERE event_id = ?").pluck();
  const hasAlertRow = db.prepare("SELECT 1 FROM alerts WHERE alert_id = ?").pluck();
  // a page at a time: the connection answers the row lookups below between pages
  const page = db.prepare<[number, number, number], EventRow>(
    `SELECT leaf_index, ref, key_id, entry, sealed FROM tlog_records
       WHERE key_id = ? AND sealed IS NOT NULL AND leaf_index > ? ORDER BY leaf_index LIMIT ?`,
  );
  const out: LoggedForPurge = {
    alert_events: 0,
    alert_events_with_rows: 0,
    alerts: 0,
    alerts_with_rows: 0,
    clinician_observations: 0,
    subject_limits: 0,
    subject_limits_with_rows: 0,
    rules_in_force: 0,
    rules_in_force_with_row: 0,
    rules_in_force_state: null,
  };
  const alertIds = new Set<string>();
  /** vital → what its last logged change left (override null: reset). */
  const limits = new Map<string, { override: unknown; by: unknown; why: unknown }>();
  const rows = function* () {
    let after = -1;
    for (;;) {
      const got = page.all(key.keyId, after, PAGE_ROWS);
      if (got.length === 0) return;
      yield* got;
      after = got.at(-1)!.leaf_index;
    }
  };
  for (const row of rows()) {
    const o = openEvent(records.keys, row);
    // a record that does not open is the leaf pass's finding, not the purge's
    if (o.status !== "opened") continue;
    let record: { event?: unknown; data?: Record<string, unknown> };
    try {
      record = JSON.parse(o.opening.record.toString("utf8"));
    } catch {
      continue;
    }
    if (record.event === OBSERVATION_EVENT_TYPE) out.clinician_observations++;
    if (record.event === SUBJECT_LIMITS_CHANGED && typeof record.data?.vital === "string") {
      const { vital, override, by, why } = record.data;
      limits.set(vital, { override: override ?? null, by, why });
    }
    if (record.event === RULES_IN_FORCE_EVENT && record.data?.scope === "subject") {
      out.rules_in_force = 1;
      out.rules_in_force_state = typeof record.data.hash === "string" ? record.data.hash : null;
    }
    if (typeof record.event !== "string" || !ALERT_EVENT_TYPES.has(record.event)) continue;
    const { event_id: eventId, alert_id: alertId } = record.data ?? {};
    if (typeof eventId !== "string" || typeof alertId !== "string") continue;
    out.alert_events++;
    if (hasEventRow.get(eventId) !== undefined) out.alert_events_with_rows++;
    alertIds.add(alertId);
  }
  out.alerts = alertIds.size;
  for (const id of alertIds) if (hasAlertRow.get(id) !== undefined) out.alerts_with_rows++;
  const limitRow = db.prepare<[string, string], { limits: string; changed_by: string; reason: string }>(
    "SELECT limits, changed_by, reason FROM subject_limits WHERE subject_id = ? AND vital = ?",
  );
  for (const [vital, l] of limits) {
    if (l.override === null) continue;
    out.subject_limits++;
    const row = limitRow.get(subjectId, vital);
    if (
      row !== undefined &&
      row.changed_by === l.by &&
      row.reason === l.why &&
      sameLimits(row.limits, l.override)
    )
      out.subject_limits_with_rows++;
  }
  if (out.rules_in_force_state !== null) {
    const scope = `subject:${records.keys.tag(subjectId).toString("hex")}`;
    const state = db.prepare("SELECT state FROM rules_in_force WHERE scope = ?").pluck().get(scope);
    if (state === out.rules_in_force_state) out.rules_in_force_with_row = 1;
  }
  return out;
}

/** Whether stored limits (JSON text) are the logged override. */
function sameLimits(stored: string, logged: unknown): boolean {
  try {
    return canonicalize(JSON.parse(stored)) === canonicalize(logged);
  } catch {
    return false;
  }
}
