/**
 * Alert wire types (snake_case, only ever added to) and the alarm-manager configuration. Consumers (sinks,
 * the log, the CLI, the retained "active set" MQTT message) depend on this file, not on the manager.
 */
import type { AlertCategory, AlertPriority } from "./rule.js";

/** Alert state after a transition (wire strings). */
export type AlertState = "raised" | "silenced" | "acknowledged" | "latched" | "resolved";
/** What happened (wire strings, aligned with IHE ACM event phases start/escalate/deescalate/end). */
export type AlertTransition =
  | "raise"
  | "silence"
  | "re_alarm"
  | "acknowledge"
  | "escalate"
  | "deescalate"
  | "latch"
  | "resolve"
  /** The condition changed at the same priority (e.g. a new NEWS2 total): the alert's text follows it. */
  | "update";

/** The queryable state of one alert (retained "active set" message, `vitalog alerts`). Wire snake_case. */
export interface AlertSnapshot {
  readonly alert_id: string;
  /** The condition key (de-duplication key). */
  readonly condition: string;
  readonly rule_id: string;
  readonly subject_id: string;
  readonly device_id: string | null;
  readonly priority: AlertPriority;
  readonly category: AlertCategory;
  readonly state: AlertState;
  readonly reason: string;
  /** When the alert was raised (gateway clock, ms since the Unix epoch); unchanged by later transitions. */
  readonly raised_at_ms: number;
  /**
   * When the value that triggered the condition was measured (its observation time, which can be earlier than
   * the raise by the persistence delay or the device's buffering); null when no single measured value did (a
   * technical condition), absent only in snapshots stored before the field existed.
   */
  readonly observed_at_ms?: number | null;
  /** false while the condition has ended but the alert is held, latched or acknowledged. */
  readonly condition_active: boolean;
  readonly escalation_level: number;
  readonly recipient: string;
  readonly silenced_until_ms: number | null;
  readonly acknowledged_by: string | null;
}

/**
 * A persisted alert handed to `AlarmManager.restore` after a restart: its last snapshot (from the `alerts`
 * table) plus what the snapshot does not carry. Wire snake_case, like the snapshot.
 */
export interface RestorableAlert extends AlertSnapshot, ConditionReasons {
  /** When the alert last notified (raise, re-alarm, escalation); the escalation timer runs from here. Default `raised_at_ms`. */
  readonly notified_at_ms?: number;
  /** The rule's own priority, without escalation boosts (picks the escalation ladder). Default `priority`. */
  readonly rule_priority?: AlertPriority;
  /**
   * Since when nobody has acknowledged it: the raise, or the last re-alarm of an acknowledged alert (what the
   * escalation text counts "unacknowledged for" from). Default `raised_at_ms`.
   */
  readonly unacknowledged_since_ms?: number;
}

/** Outcome of `AlarmManager.restore`. */
export interface RestoreResult {
  /** Alerts now held by the manager. */
  restored: number;
  /** Ignored: resolved, or an alert id the manager already holds. */
  skipped: number;
}

/**
 * One lifecycle transition. `by` is the user for acknowledge/silence/release, else null. Its times: `at_ms`
 * when this transition happened, `raised_at_ms` when the alert was raised, `observed_at_ms` when the value
 * behind it was measured.
 */
export interface AlertEvent extends AlertSnapshot, ConditionReasons {
  readonly transition: AlertTransition;
  /** When this transition happened (gateway clock). */
  readonly at_ms: number;
  readonly by: string | null;
}

/**
 * The condition's own reasons, apart from a transition's text (`reason`, which may add "unacknowledged for …"
 * or "silenced for …"): what a restart takes back, so restored text is never built on lifecycle text. Present
 * in every event; absent only in messages stored before the fields existed.
 */
export interface ConditionReasons {
  /** The condition as its rule last reported it (when ended, the rule's clear reason). */
  readonly condition_reason?: string;
  /** The last reason its rule reported while the condition was active: what happened. */
  readonly active_reason?: string;
}

/**
 * One rung of the escalation ladder. The step is taken `afterSec` after the alert's last notification while it
 * stays raised or latched: the raise, the previous step, a priority rise of its rule, or a re-alarm (after a
 * silence, on a worsening, or a latched condition returning). Acknowledged or silenced, it takes no step.
 */
export interface EscalationStep {
  /** Seconds since the last notification (raise, priority rise, re-alarm or previous step). */
  afterSec: number;
  recipient: string;
  raisePriority: boolean;
}

/** Alarm-manager configuration (plain data, part of the YAML schema). */
export interface AlarmConfig {
  clearHoldSec: number;
  latchingPriorities: AlertPriority[];
  silence: { defaultSec: number; maxSec: number };
  primaryRecipient: string;
  /** Ladder per priority (the rule's priority picks the ladder). */
  escalation: Record<AlertPriority, EscalationStep[]>;
  /**
   * After a restart, a restored alert whose condition was active must be reported active again by its rule
   * within this many seconds (the rules' persistence windows start afresh); otherwise its condition counts
   * as cleared and it goes through the normal clear hold (resolve, or latch if HIGH). Default 120.
   */
  restoreConfirmSec: number;
}

export const DEFAULT_ALARM_CONFIG: AlarmConfig = {
  clearHoldSec: 30,
  latchingPriorities: ["high"],
  // [clinical.md §5.2] pause timers are commonly 1–3 min
  silence: { defaultSec: 120, maxSec: 300 },
  primaryRecipient: "primary_nurse",
  restoreConfirmSec: 120,
  escalation: {
    high: [
      { afterSec: 60, recipient: "charge_nurse", raisePriority: false },
      { afterSec: 120, recipient: "rapid_response_team", raisePriority: false },
    ],
    medium: [{ afterSec: 180, recipient: "charge_nurse", raisePriority: true }],
    low: [{ afterSec: 900, recipient: "charge_nurse", raisePriority: false }],
  },
};

/**
 * From an alert's transitions, oldest first: since when nobody has acknowledged it (its raise, or the first
 * transition that left the acknowledged state, a re-alarm or a priority rise). Feeds `unacknowledged_since_ms`
 * of a `RestorableAlert`, so the escalation text stays true across a restart. Undefined for an empty history.
 */
export function unacknowledgedSince(history: readonly AlertEvent[]): number | undefined {
  let since: number | undefined;
  let wasAcknowledged = false;
  for (const e of history) {
    if (e.transition === "raise" || (wasAcknowledged && e.state !== "acknowledged")) since = e.at_ms;
    wasAcknowledged = e.state === "acknowledged";
  }
  return since;
}

export type AlertListener = (event: AlertEvent) => void;
export type ActionResult =
  | { ok: true }
  | { ok: false; error: "unknown_alert" | "already_acknowledged" | "invalid_user" };
