/**
 * Durable alert state (migration 6): every transition, the latest state of every alert, clinician
 * observations, and the outbox of the durable sinks. All writes happen inside the gateway's group commit
 * (a commit writer), never on the alert path; delivery marks are flushed in small transactions of their own.
 */
import type { AuditEvent } from "../../core/ports.js";
import type { Db } from "../../db.js";
import { type AlertSnapshot, type RestorableAlert, unacknowledgedSince } from "../alert-event.js";
import {
  type Acvpu,
  ALERT_PRIORITIES,
  type AlertPriority,
  type ClinicianObservation,
  priorityRank,
} from "../rule.js";
import { OUTBOX_SINKS_EVENT } from "../rules-in-force-writer.js";
import { type AlertMessage, alertMessageOf, OBSERVATION_EVENT_TYPE } from "./alert-message.js";

export const ALERT_STORE_SQL = `
CREATE TABLE alert_events (
  row_id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  alert_id TEXT NOT NULL,
  transition TEXT NOT NULL,
  state TEXT NOT NULL,
  priority TEXT NOT NULL,
  category TEXT NOT NULL,
  rule_id TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  device_id TEXT,
  at_ms INTEGER NOT NULL,
  by TEXT,
  via TEXT,
  body TEXT NOT NULL
) STRICT;
CREATE INDEX alert_events_by_alert ON alert_events (alert_id, row_id);
CREATE INDEX alert_events_by_time ON alert_events (at_ms);
CREATE TABLE alerts (
  alert_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  priority TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  raised_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  snapshot TEXT NOT NULL
) STRICT;
CREATE INDEX alerts_open ON alerts (state, raised_at_ms);
CREATE TABLE alert_outbox (
  row_id INTEGER PRIMARY KEY,
  sink TEXT NOT NULL,
  event_id TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  delivered_at_ms INTEGER,
  dead_at_ms INTEGER,
  last_error TEXT,
  UNIQUE (sink, event_id)
) STRICT;
CREATE INDEX alert_outbox_pending ON alert_outbox (sink, row_id) WHERE delivered_at_ms IS NULL AND dead_at_ms IS NULL;
CREATE TABLE clinician_observations (
  row_id INTEGER PRIMARY KEY,
  subject_id TEXT NOT NULL,
  entered_by TEXT NOT NULL,
  via TEXT,
  observed_at_ms INTEGER NOT NULL,
  entered_at_ms INTEGER NOT NULL,
  supplemental_oxygen INTEGER,
  acvpu TEXT,
  spo2_scale INTEGER
) STRICT;
CREATE INDEX clinician_observations_by_subject ON clinician_observations (subject_id, observed_at_ms);
`;

/**
 * Delivered or dead outbox rows are pruned (at start-up) this long after their mark: until then every logged
 * transition keeps its row for each durable sink, which the audit relies on (batcher/tlog/audit-outbox.ts).
 */
export const OUTBOX_RETENTION_MS = 7 * 86_400_000;

/**
 * The log event a gateway records at start-up, before it restores or raises anything, when the set differs from
 * the last one logged (wire string): `data.sinks`, the names of the durable sinks each alert transition gets an
 * outbox row for, so the audit knows which transitions were due for which sink (batcher/tlog/audit-outbox.ts).
 */
export { OUTBOX_SINKS_EVENT };

/** Outcome of one outbox message, as known in memory (a delivery may finish before its row is committed). */
export type OutboxOutcome =
  | { delivered: true; atMs: number; attempts: number }
  | { dead: true; atMs: number; attempts: number; error: string };

/** A durable sink, as its outbox rows name it. */
export interface OutboxParticipant {
  readonly name: string;
}

/** A persisted, undelivered outbox message. */
export interface OutboxRow {
  eventId: string;
  message: AlertMessage;
  attempts: number;
}

/** Audit data of a clinician observation (wire snake_case). */
export interface ObservationData {
  subject_id: string;
  entered_by: string;
  via: string | null;
  observed_at_ms: number;
  entered_at_ms: number;
  supplemental_oxygen: boolean | null;
  acvpu: Acvpu | null;
  spo2_scale: 1 | 2 | null;
}

export class AlertStore {
  readonly #db: Db;
  readonly #participants: OutboxParticipant[] = [];
  readonly #insertEvent;
  readonly #upsertAlert;
  readonly #insertOutbox;
  readonly #insertObservation;
  readonly #markDelivered;
  readonly #markDead;
  readonly #pending;
  readonly #write;

  constructor(db: Db) {
    this.#db = db;
    this.#insertEvent = db.prepare(
      `INSERT OR IGNORE INTO alert_events (event_id, alert_id, transition, state, priority, category, rule_id,
       subject_id, device_id, at_ms, by, via, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#upsertAlert = db.prepare(
      `INSERT INTO alerts (alert_id, state, priority, subject_id, raised_at_ms, updated_at_ms, snapshot)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO UPDATE SET state = excluded.state,
       priority = excluded.priority, updated_at_ms = excluded.updated_at_ms, snapshot = excluded.snapshot
       WHERE excluded.updated_at_ms >= alerts.updated_at_ms`,
    );
    this.#insertOutbox = db.prepare(
      `INSERT OR IGNORE INTO alert_outbox (sink, event_id, body, created_at_ms, attempts, delivered_at_ms, dead_at_ms, last_error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insertObservation = db.prepare(
      `INSERT INTO clinician_observations (subject_id, entered_by, via, observed_at_ms, entered_at_ms,
       supplemental_oxygen, acvpu, spo2_scale) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#markDelivered = db.prepare(
      "UPDATE alert_outbox SET delivered_at_ms = ?, attempts = ? WHERE sink = ? AND event_id = ?",
    );
    this.#markDead = db.prepare(
      "UPDATE alert_outbox SET dead_at_ms = ?, attempts = ?, last_error = ? WHERE sink = ? AND event_id = ?",
    );
    this.#pending = db.prepare<[string], { event_id: string; body: string; attempts: number }>(
      `SELECT event_id, body, attempts FROM alert_outbox
       WHERE sink = ? AND delivered_at_ms IS NULL AND dead_at_ms IS NULL ORDER BY row_id`,
    );
    // inside the caller's transaction better-sqlite3 runs this in a SAVEPOINT: a throw rolls back its rows only
    this.#write = db.transaction(
      (events: readonly AuditEvent[], participants: readonly OutboxParticipant[]): void => {
        for (const e of events) {
          const m = alertMessageOf(e);
          if (m) {
            this.#writeTransition(m, participants);
            continue;
          }
          if (e.type === OBSERVATION_EVENT_TYPE) this.#writeObservation(e.data as unknown as ObservationData);
        }
      },
    );
  }

  /** Registers a durable sink: each alert transition committed from now on gets an outbox row for it. */
  addParticipant(p: OutboxParticipant): void {
    this.#participants.push(p);
  }

  /** The registered durable sinks. */
  get participants(): readonly OutboxParticipant[] {
    return this.#participants;
  }

  /** The {@link OUTBOX_SINKS_EVENT} of this run (the durable sinks registered now), at `atMs`. */
  sinksEvent(atMs: number): AuditEvent {
    const sinks = this.#participants.map((p) => p.name);
    return { type: OUTBOX_SINKS_EVENT, atMs, subjectId: null, deviceId: null, data: { sinks } };
  }

  /**
   * The group-commit writer: persists the alert transitions and clinician observations among `events`.
   * Runs inside the commit transaction, all or nothing: in a savepoint, so a throw (which the caller may
   * catch, keeping the commit) leaves none of this call's rows. MUST NOT throw for duplicates (INSERT OR
   * IGNORE). `participants`: the durable sinks to write outbox rows for (default: the registered ones); their
   * rows start undelivered, and each sink's outcome arrives as a later write command (`markOutcomes`).
   */
  write(
    events: readonly AuditEvent[],
    participants: readonly OutboxParticipant[] = this.#participants,
  ): void {
    this.#write(events, participants);
  }

  #writeObservation(o: ObservationData): void {
    this.#insertObservation.run(
      o.subject_id,
      o.entered_by,
      o.via,
      o.observed_at_ms,
      o.entered_at_ms,
      o.supplemental_oxygen === null ? null : o.supplemental_oxygen ? 1 : 0,
      o.acvpu,
      o.spo2_scale,
    );
  }

  #writeTransition(m: AlertMessage, participants: readonly OutboxParticipant[]): void {
    const body = JSON.stringify(m);
    this.#insertEvent.run(
      m.event_id,
      m.alert_id,
      m.transition,
      m.state,
      m.priority,
      m.category,
      m.rule_id,
      m.subject_id,
      m.device_id,
      m.at_ms,
      m.by,
      m.via,
      body,
    );
    this.#upsertAlert.run(m.alert_id, m.state, m.priority, m.subject_id, m.raised_at_ms, m.at_ms, body);
    // the delivery's outcome comes later, as its sink's write command (alert-commit-writer.ts)
    for (const p of participants)
      this.#insertOutbox.run(p.name, m.event_id, body, m.at_ms, 0, null, null, null);
  }

  /** Applies delivery outcomes in one transaction. Throws when the store is unavailable. */
  markOutcomes(marks: readonly { sink: string; eventId: string; outcome: OutboxOutcome }[]): void {
    this.#db.transaction(() => {
      for (const { sink, eventId, outcome: o } of marks) {
        if ("delivered" in o) this.#markDelivered.run(o.atMs, o.attempts, sink, eventId);
        else this.#markDead.run(o.atMs, o.attempts, o.error, sink, eventId);
      }
    })();
  }

  /** The sink's persisted, undelivered messages, oldest first. */
  pending(sink: string): OutboxRow[] {
    return this.#pending.all(sink).map((r) => ({
      eventId: r.event_id,
      message: JSON.parse(r.body) as AlertMessage,
      attempts: r.attempts,
    }));
  }

  /** Deletes delivered or dead outbox rows older than `beforeMs` (the transitions stay in alert_events). */
  prune(beforeMs: number): number {
    return this.#db
      .prepare(
        "DELETE FROM alert_outbox WHERE (delivered_at_ms IS NOT NULL AND delivered_at_ms < ?) OR (dead_at_ms IS NOT NULL AND dead_at_ms < ?)",
      )
      .run(beforeMs, beforeMs).changes;
  }

  /**
   * The alerts not resolved, for `AlarmManager.restore` at start-up: each one's last snapshot plus, replayed
   * from its transitions, when it last notified and its rule's own priority. `messages` are the last
   * AlertMessage of each (what the MQTT sink republishes as the retained per-alert topic).
   */
  restorable(): { alerts: RestorableAlert[]; messages: AlertMessage[] } {
    const events = this.#db.prepare<[string], { body: string }>(
      "SELECT body FROM alert_events WHERE alert_id = ? ORDER BY row_id",
    );
    const messages = this.#db
      .prepare<[], { snapshot: string }>(
        "SELECT snapshot FROM alerts WHERE state <> 'resolved' ORDER BY raised_at_ms",
      )
      .all()
      .map((r) => JSON.parse(r.snapshot) as AlertMessage);
    const alerts = messages.map((m) => {
      const { updated_at_ms: _u, ...snap } = snapshotOf(m);
      const history = events.all(m.alert_id).map((r) => JSON.parse(r.body) as AlertMessage);
      return { ...snap, ...replayTimers(history, m), unacknowledged_since_ms: unacknowledgedSince(history) };
    });
    return { alerts, messages };
  }

  /** The observation rows observed since `sinceMs`, oldest first, as stored. */
  observationRowsSince(sinceMs: number): ObservationRow[] {
    return this.#db
      .prepare<[number], ObservationRow>(
        "SELECT * FROM clinician_observations WHERE observed_at_ms >= ? ORDER BY observed_at_ms, row_id",
      )
      .all(sinceMs);
  }

  /**
   * Clinician observations observed since `sinceMs`, oldest first, as the table holds them (replayed into the
   * engine at start-up when the log is off; with the log on, alert-log-restore.ts replays the logged ones).
   */
  observationsSince(sinceMs: number): ClinicianObservation[] {
    return this.observationRowsSince(sinceMs).map((r) => ({
      subjectId: r.subject_id,
      enteredBy: r.entered_by,
      observedAtMs: r.observed_at_ms,
      enteredAtMs: r.entered_at_ms,
      supplementalOxygen: r.supplemental_oxygen === null ? undefined : r.supplemental_oxygen === 1,
      consciousness: (r.acvpu ?? undefined) as Acvpu | undefined,
      spo2Scale: (r.spo2_scale ?? undefined) as 1 | 2 | undefined,
    }));
  }
}

/** A `clinician_observations` row. */
export interface ObservationRow {
  row_id: number;
  subject_id: string;
  entered_by: string;
  via: string | null;
  observed_at_ms: number;
  entered_at_ms: number;
  supplemental_oxygen: number | null;
  acvpu: string | null;
  spo2_scale: number | null;
}

/**
 * From an alert's transitions, oldest first: when it last notified (raise, re-alarm, escalation) and the
 * rule's own priority (a ladder escalation may have boosted the alert above it).
 */
export function replayTimers(
  history: readonly AlertMessage[],
  last: AlertMessage,
): { notified_at_ms: number; rule_priority: AlertPriority } {
  const shift = (p: AlertPriority, steps: number) =>
    ALERT_PRIORITIES[Math.min(3, Math.max(1, priorityRank(p) + steps)) - 1]!;
  let rule: AlertPriority = last.priority;
  let boost = 0;
  let level = 0;
  let notified = last.raised_at_ms;
  for (const e of history) {
    if (e.transition === "raise") {
      rule = e.priority;
      boost = 0;
      level = e.escalation_level;
      notified = e.at_ms;
    } else if (e.transition === "escalate" && e.escalation_level > level) {
      // a rung of the ladder: may have raised the priority above the rule's
      boost = Math.max(boost, priorityRank(e.priority) - priorityRank(rule));
      level = e.escalation_level;
      notified = e.at_ms;
    } else if (e.transition === "escalate" || e.transition === "deescalate") {
      // the rule's priority changed; the boost stays on top of it
      rule = shift(e.priority, -boost);
      if (e.transition === "escalate") notified = e.at_ms;
    } else if (e.transition === "re_alarm") {
      notified = e.at_ms;
    }
  }
  return { notified_at_ms: notified, rule_priority: rule };
}

/** Read-only queries for the CLI (works on a read-only connection). */
export function openAlerts(db: Db): AlertSnapshot[] {
  return db
    .prepare<[], { snapshot: string }>(
      "SELECT snapshot FROM alerts WHERE state <> 'resolved' ORDER BY raised_at_ms",
    )
    .all()
    .map((r) => snapshotOf(JSON.parse(r.snapshot) as AlertMessage));
}

/** Transitions at or after `sinceMs`, newest first. */
export function recentAlertEvents(db: Db, sinceMs: number, limit: number): AlertMessage[] {
  return db
    .prepare<[number, number], { body: string }>(
      "SELECT body FROM alert_events WHERE at_ms >= ? ORDER BY row_id DESC LIMIT ?",
    )
    .all(sinceMs, limit)
    .map((r) => JSON.parse(r.body) as AlertMessage);
}

/** The snapshot part of a message (drops the transition fields). */
export function snapshotOf(m: AlertMessage): AlertSnapshot & { updated_at_ms: number } {
  const { transition: _t, at_ms, by: _b, via: _v, event_id: _e, v: _ver, gateway_id: _g, ...snap } = m;
  return { ...snap, updated_at_ms: at_ms };
}
