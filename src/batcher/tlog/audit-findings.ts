/**
 * What `vitalog audit` reports (tlog-audit.ts and the table checks, audit-tables.ts). Finding kinds are wire
 * strings (`--json`), snake_case for the ones added with the table checks, and only ever added to:
 *
 * - the log itself: `modified`, `deleted`, `inserted`, `reordered` (a reading or event), `checkpoint`,
 *   `tree`;
 * - `alert_mismatch`: an `alert_events` row differs from its logged transition (who, when, via, the
 *   transition, the message), a logged transition has no row, or a row has no logged transition;
 * - `outbox_mismatch`: an `alert_outbox` row (a message to a durable sink) differs from its logged transition, has
 *   none, or names an erased subject, or a logged transition due for a durable sink, too young to have been pruned,
 *   has no row (audit-outbox.ts);
 * - `alert_state_mismatch`: an `alerts` row (the current state) differs from the state replayed from the
 *   logged transitions, or has none;
 * - `observation_mismatch`: a `clinician_observations` row differs from its logged `clinician_observation`
 *   event, has none, or a logged entry has no row;
 * - `device_mismatch`: the `devices` table differs from the bindings replayed from the device events
 *   (another subject, model or credential, a row without a logged binding, a logged binding without a row),
 *   or a logged unbinding names another subject than the binding the log holds;
 * - `reading_binding_mismatch`: a logged reading's subject is not the one its device was bound to in the log
 *   at the reading's leaf, or its device had no logged binding then (audit-devices.ts);
 * - `user_mismatch`: the `users` table differs from the users replayed from the user events (another role,
 *   display name, enabled state or credential, a row without a logged addition, a logged user without a
 *   row), or the log holds an event of a user it never added (audit-users.ts);
 * - `rejection_gap`: a sealed rejection sample was deleted without a logged eviction, or before an eviction
 *   that then removed fewer samples than the log had sealed;
 * - `rejection_mismatch`: a sample differs from its sealed digest, or was never sealed, or an eviction
 *   removed other samples than the oldest sealed ones or was not made necessary by them;
 * - `rejection_count_mismatch`: a per-minute rejection count differs from what the log sealed (lowered,
 *   raised, inserted), or was deleted without a logged prune, or a prune removed other counts than sealed;
 * - `erasure_mismatch`: the records an erasure left shredded differ from what its `subject_erased` event
 *   counts (something else deleted under cover of the erasure), or its `subject_alerts_purged` event found
 *   fewer rows than the log held for the subject (deleted before the erasure, outside it), or fewer limit or
 *   rules-in-force rows equal to what the log held (deleted or changed before the erasure);
 * - `rules_in_force_mismatch`: a logged `rules_in_force` event whose hash is not the hash of the rules it
 *   carries, or a `rules_in_force` row that is not the state of the last event logged for its scope (or has
 *   none), or a logged scope without its row, or an erased subject's row changed or deleted after the state its
 *   erasure recorded (audit-rules.ts);
 * - `subject_limits_mismatch`: a `subject_limits` row differs from the override, author or reason its last
 *   logged `subject_limits_changed` left, has none, outlived a logged reset, names an erased subject, or a logged
 *   change has no row;
 * - `table_unreadable`: a covered table cannot be read at all (dropped, or its schema changed), or an
 *   authentic logged event cannot be replayed into it.
 */
import type { LoggedEvent } from "./audit-events.js";

export type FindingKind =
  | "modified"
  | "deleted"
  | "inserted"
  | "reordered"
  | "checkpoint"
  | "tree"
  | "alert_mismatch"
  | "alert_state_mismatch"
  | "outbox_mismatch"
  | "observation_mismatch"
  | "device_mismatch"
  | "reading_binding_mismatch"
  | "user_mismatch"
  | "rejection_gap"
  | "rejection_mismatch"
  | "rejection_count_mismatch"
  | "erasure_mismatch"
  | "rules_in_force_mismatch"
  | "subject_limits_mismatch"
  | "table_unreadable";

/**
 * One problem. `ref` names the reading or event (log findings), or the row (table findings: an alert event
 * id, an alert id, a device id, a row id); `leafIndex` is the log leaf involved when known; `table` is set
 * for table findings.
 */
export interface Finding {
  readonly kind: FindingKind;
  readonly ref: string | null;
  readonly leafIndex: number | null;
  readonly detail: string;
  readonly table?: string;
}

/**
 * How much of one table the audit could compare with the log: `verified` rows matched it; `pending` rows
 * are not covered yet (rejection count increases a running gateway may still hold for its next seal, at
 * most about a minute's, audit-rejections.ts); `erased` rows belong to an erased subject, whose logged
 * events were shredded with its key, so they cannot be compared (they are not findings). Rows that are
 * findings are in none of the three.
 */
export interface TableCoverage {
  readonly table: string;
  readonly rows: number;
  readonly verified: number;
  readonly pending: number;
  readonly erased: number;
}

export type AddFinding = (finding: Finding) => void;

/**
 * One table's check against the log: sees every opened event in log order (it may write temporary tables
 * meanwhile), then compares the table with what it replayed.
 */
export interface TableCheck {
  onEvent(e: LoggedEvent): void;
  finish(add: AddFinding): TableCoverage[];
}

/** A stored or logged value as a finding quotes it. */
export function showValue(v: unknown): string {
  return v === null || v === undefined ? "null" : JSON.stringify(v);
}

/** A time (ms since the epoch) as a finding quotes it. */
export function isoTime(ms: unknown): string {
  const n = Number(ms);
  return Number.isFinite(n) && Math.abs(n) <= 8.64e15 ? new Date(n).toISOString() : String(ms);
}

/** A logged field as SQLite stores it (anything but a string or a number, e.g. a missing field, is NULL). */
export function scalar(v: unknown): string | number | null {
  return typeof v === "string" || typeof v === "number" ? v : null;
}
