/**
 * What the gateway takes back at start-up (the alerts not resolved, the last day's clinician observations)
 * is what the tamper-evident log's events support, not what the tables say: a row forged into a stopped
 * gateway's `alerts` table must not become a live alarm, a forged ACVPU entry must not move a NEWS2 score,
 * and an alarm whose row was deleted must not vanish.
 *
 * Choice, for clinical safety: the gateway starts (refusing to start would silence every alarm on the ward
 * for the sake of one forged row) and restores the LOGGED state: each alert the log holds as not resolved,
 * from its last logged message (timers replayed from its logged transitions), and each logged observation.
 * Every row that disagrees is reported loudly: one error line each, a counter per table, and a failing
 * `/healthz` check naming the rows until the next start (rules/create-rules.ts). The rows themselves are
 * left as found: they are evidence, and `vitalog audit` names them.
 *
 * Cost: the log's events are opened from the oldest of (a day ago, the oldest stored open alert's raise);
 * an alert the log holds as open but with no event in that window and whose row was deleted is not
 * restored (its rule raises it again while its condition lasts; `audit` names the deletion).
 * Rows of an erased subject are neither restored nor reported: its events were shredded, its alarms end.
 */
import { canonicalize } from "../../batcher/verifier/canonical-record.js";
import { type RestorableAlert, unacknowledgedSince } from "../alert-event.js";
import type { Acvpu, ClinicianObservation } from "../rule.js";
import { type AlertMessage, AUDIT_EVENT_TYPES, OBSERVATION_EVENT_TYPE } from "./alert-message.js";
import { type AlertStore, type ObservationData, replayTimers, snapshotOf } from "./alert-store.js";

/** The log as the restore reads it (the composition root builds it from the attached log). */
export interface LoggedEventSource {
  /** Visits the opened events logged at or after `sinceMs`, in log order. */
  scan(sinceMs: number, visit: (e: { type: string; data: Readonly<Record<string, unknown>> }) => void): void;
  /** True when a row of `subjectId` dated `atMs` was written before that subject was erased. */
  isErased(subjectId: string, atMs: number): boolean;
}

/** A stored row that the log does not support as stored. */
export interface RestoreDiscrepancy {
  readonly table: "alerts" | "clinician_observations";
  /** The alert id, or the observation's row id (null for a logged observation without a row). */
  readonly ref: string | null;
  readonly problem: string;
}

/** What to restore, and where the tables disagreed with the log. */
export interface VerifiedRestore {
  readonly alerts: RestorableAlert[];
  /** The last logged message of each restored alert (the MQTT sink republishes them). */
  readonly messages: AlertMessage[];
  readonly observations: ClinicianObservation[];
  readonly discrepancies: RestoreDiscrepancy[];
}

const ALERT_EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(AUDIT_EVENT_TYPES));
const DAY_MS = 86_400_000;

/**
 * The state to restore (see the module comment). `observationsSinceMs`: the observations replayed are those
 * observed since then.
 */
export function restoreFromLog(
  store: AlertStore,
  log: LoggedEventSource,
  nowMs: number,
  observationsSinceMs: number,
): VerifiedRestore {
  const stored = store.restorable().messages;
  const since = Math.min(nowMs - DAY_MS, observationsSinceMs, ...stored.map((m) => m.raised_at_ms));
  // per alert: its logged transitions, and the one the store keeps as its state (the store's upsert rule:
  // a transition older than the kept one does not replace it)
  const replayed = new Map<string, { history: AlertMessage[]; last: AlertMessage }>();
  const logged: { data: ObservationData; order: number }[] = [];
  log.scan(since, (e) => {
    if (ALERT_EVENT_TYPES.has(e.type)) {
      const m = e.data as unknown as AlertMessage;
      if (typeof m.alert_id !== "string") return;
      const r = replayed.get(m.alert_id);
      if (r === undefined) replayed.set(m.alert_id, { history: [m], last: m });
      else {
        r.history.push(m);
        if (m.at_ms >= r.last.at_ms) r.last = m;
      }
    } else if (e.type === OBSERVATION_EVENT_TYPE) {
      const o = e.data as unknown as ObservationData;
      if (o.observed_at_ms >= observationsSinceMs) logged.push({ data: o, order: logged.length });
    }
  });
  const discrepancies: RestoreDiscrepancy[] = [];
  const storedById = new Map(stored.map((m) => [m.alert_id, m]));
  const messages: AlertMessage[] = [];
  const alerts: RestorableAlert[] = [];
  const open = new Set<string>();
  for (const [alertId, { history, last }] of replayed) {
    if (last.state === "resolved") continue;
    open.add(alertId);
    const row = storedById.get(alertId);
    if (row === undefined)
      discrepancies.push({
        table: "alerts",
        ref: alertId,
        problem: "open in the log but missing or resolved in the table: restored from the log",
      });
    else if (canonicalize(row) !== canonicalize(last))
      discrepancies.push({
        table: "alerts",
        ref: alertId,
        problem: "its row differs from its last logged transition: restored as logged",
      });
    const { updated_at_ms: _u, ...snap } = snapshotOf(last);
    alerts.push({
      ...snap,
      ...replayTimers(history, last),
      unacknowledged_since_ms: unacknowledgedSince(history),
    });
    messages.push(last);
  }
  for (const m of stored) {
    if (open.has(m.alert_id) || log.isErased(m.subject_id, m.at_ms)) continue;
    discrepancies.push({
      table: "alerts",
      ref: m.alert_id,
      problem: "open in the table but not in the log (forged, or resolved): not restored",
    });
  }
  messages.sort((a, b) => a.raised_at_ms - b.raised_at_ms);
  return {
    alerts,
    messages,
    observations: observationsOf(store, log, logged, observationsSinceMs, discrepancies),
    discrepancies,
  };
}

/** The logged observations to replay; rows the log does not hold, and logged ones without a row, reported. */
function observationsOf(
  store: AlertStore,
  log: LoggedEventSource,
  logged: readonly { data: ObservationData; order: number }[],
  sinceMs: number,
  discrepancies: RestoreDiscrepancy[],
): ClinicianObservation[] {
  // stored as 1/0/NULL (alert-store.ts)
  const oxygen = (v: boolean | number | null | undefined) =>
    v === null || v === undefined ? null : v === true || v === 1 ? 1 : 0;
  const key = (o: {
    subject_id: string;
    entered_by: string;
    via: string | null;
    observed_at_ms: number;
    entered_at_ms: number;
    supplemental_oxygen: boolean | number | null;
    acvpu: string | null;
    spo2_scale: number | null;
  }) =>
    JSON.stringify([
      o.subject_id,
      o.entered_by,
      o.via ?? null,
      o.observed_at_ms,
      o.entered_at_ms,
      oxygen(o.supplemental_oxygen),
      o.acvpu ?? null,
      o.spo2_scale ?? null,
    ]);
  const unmatched = new Map<string, number>();
  for (const { data } of logged) {
    const k = key(data);
    unmatched.set(k, (unmatched.get(k) ?? 0) + 1);
  }
  for (const row of store.observationRowsSince(sinceMs)) {
    const k = key(row);
    const left = unmatched.get(k) ?? 0;
    if (left > 0) unmatched.set(k, left - 1);
    else if (!log.isErased(row.subject_id, row.entered_at_ms))
      discrepancies.push({
        table: "clinician_observations",
        ref: String(row.row_id),
        problem: "entry not in the log (forged or modified): not replayed into NEWS2",
      });
  }
  for (const [, left] of unmatched)
    for (let i = 0; i < left; i++)
      discrepancies.push({
        table: "clinician_observations",
        ref: null,
        problem: "logged entry missing from the table: replayed from the log",
      });
  return [...logged]
    .sort((a, b) => a.data.observed_at_ms - b.data.observed_at_ms || a.order - b.order)
    .map(({ data: o }) => ({
      subjectId: o.subject_id,
      enteredBy: o.entered_by,
      observedAtMs: o.observed_at_ms,
      enteredAtMs: o.entered_at_ms,
      supplementalOxygen: o.supplemental_oxygen ?? undefined,
      consciousness: (o.acvpu ?? undefined) as Acvpu | undefined,
      spo2Scale: o.spo2_scale ?? undefined,
    }));
}
