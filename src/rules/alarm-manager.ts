/**
 * Alarm lifecycle, in memory: raised → (silenced ⇄ raised) → acknowledged → resolved, with latching,
 * escalation and de-duplication [clinical.md §5.1 inactivation states, §5.2 mitigations, §5.3 IHE ACM].
 *
 * - One alert per condition key; repeated `active` updates only change priority (IHE ACM: one alert id
 *   reused for every update). A condition whose rule tracks its reason (`isReasonTracked`, NEWS2) and whose
 *   reason changed at the same priority is emitted as an `update`, so every sink shows the current text; a
 *   priority rise carries it in its `escalate`, a fall in its `deescalate` after the hold.
 * - Anti-flap hold: a cleared condition resolves only after staying clear for `clearHoldSec`; if it returns
 *   within the hold, the same alert simply continues and nothing is emitted. Priority de-escalation is
 *   damped by the same hold. A value flapping around a limit therefore yields one alert, not a storm.
 * - Latching (HIGH by default): when the condition ends unacknowledged, the alert stays as `latched` until
 *   someone acknowledges it. Never acknowledged automatically.
 * - Silence (ALARM PAUSED, time-limited): re-alarms when the pause ends if the condition is still active.
 * - Escalation: unacknowledged for `afterSec` → next recipient and optionally one priority up. A priority
 *   rise from the rule re-alarms an acknowledged or silenced alert.
 * - Restore after a restart (`restore`): the alerts persisted as not resolved are taken back with their ids,
 *   states and timers, without emitting anything. A restored condition that was active is "unconfirmed" until
 *   its rule reports it active again (then the same alert simply continues); if the rule has not done so
 *   within `restoreConfirmSec`, the condition counts as cleared and the normal clear hold follows (resolve,
 *   or latch if HIGH and unacknowledged).
 * Every transition is emitted synchronously to the listeners as an `AlertEvent` (wire snake_case).
 * Timed transitions happen in `tick()`: call it at least once a second.
 */
import { randomUUID } from "node:crypto";
import type { Clock } from "../clock.js";
import type {
  ActionResult,
  AlarmConfig,
  AlertEvent,
  AlertListener,
  AlertSnapshot,
  AlertState,
  AlertTransition,
  RestorableAlert,
  RestoreResult,
} from "./alert-event.js";
import {
  type AlertCategory,
  type AlertCondition,
  type AlertPriority,
  type ConditionUpdate,
  priorityRank,
  raisePriority,
} from "./rule.js";

interface AlertRecord {
  readonly alertId: string;
  condition: AlertCondition;
  rulePriority: AlertPriority;
  boost: number;
  priority: AlertPriority;
  state: AlertState;
  readonly raisedAtMs: number;
  notifiedAtMs: number;
  escalationLevel: number;
  recipient: string;
  isConditionActive: boolean;
  clearedAtMs: number | null;
  /** Condition ended and stayed ended through the hold. */
  hasEnded: boolean;
  pendingLower: { priority: AlertPriority; sinceMs: number } | null;
  silencedUntilMs: number | null;
  acknowledgedBy: string | null;
  /** Restored with an active condition its rule has not reported again yet: counts as cleared from then. */
  unconfirmedUntilMs: number | null;
  /** The condition reason the last emitted event's snapshot carried (what the sinks show now). */
  shownReason: string;
}

export interface AlarmManagerOptions {
  clock: Clock;
  newAlertId?: () => string;
  /** Called when a listener throws; the other listeners still get the event. Default: rethrown async. */
  onListenerError?: (error: unknown, event: AlertEvent) => void;
}

/** The alarm manager. All methods are synchronous and never wait for I/O. */
export class AlarmManager {
  readonly #config: AlarmConfig;
  readonly #clock: Clock;
  readonly #newId: () => string;
  readonly #onListenerError: (error: unknown, event: AlertEvent) => void;
  readonly #listeners = new Set<AlertListener>();
  readonly #byKey = new Map<string, AlertRecord>();
  readonly #byId = new Map<string, AlertRecord>();

  constructor(config: AlarmConfig, options: AlarmManagerOptions) {
    if (!(config.clearHoldSec >= 0) || !(config.silence.defaultSec > 0) || !(config.silence.maxSec > 0)) {
      throw new RangeError("alarms: clearHoldSec >= 0, silence.defaultSec and silence.maxSec > 0");
    }
    if (!(config.restoreConfirmSec > 0)) {
      throw new RangeError("alarms: restoreConfirmSec > 0");
    }
    this.#config = config;
    this.#clock = options.clock;
    this.#newId = options.newAlertId ?? randomUUID;
    this.#onListenerError =
      options.onListenerError ??
      ((error) => {
        queueMicrotask(() => {
          throw error;
        });
      });
  }

  /** Subscribes a synchronous listener; returns the unsubscribe function. */
  onEvent(listener: AlertListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Applies one rule output. */
  apply(update: ConditionUpdate): void {
    const now = this.#clock.now();
    if (update.type === "clear") {
      const rec = this.#byKey.get(update.key);
      if (!rec?.isConditionActive) return;
      rec.unconfirmedUntilMs = null;
      rec.isConditionActive = false;
      rec.clearedAtMs = now;
      rec.pendingLower = null;
      rec.condition = { ...rec.condition, reason: update.reason };
      if (this.#config.clearHoldSec === 0) this.#end(rec, now);
      return;
    }
    const c = update.condition;
    const rec = this.#byKey.get(c.key);
    if (!rec) {
      this.#raise(c, now);
      return;
    }
    rec.condition = c;
    rec.rulePriority = c.priority;
    rec.unconfirmedUntilMs = null;
    if (!rec.isConditionActive) {
      rec.isConditionActive = true;
      rec.clearedAtMs = null;
      if (rec.hasEnded) {
        // A latched alert whose condition came back: it is live again.
        rec.hasEnded = false;
        if (rec.state === "latched") {
          rec.state = "raised";
          rec.notifiedAtMs = now;
          this.#emit(rec, "re_alarm", now, null, `condition returned: ${c.reason}`);
        }
      }
    }
    const effective = raisePriority(c.priority, rec.boost);
    if (priorityRank(effective) > priorityRank(rec.priority)) {
      rec.priority = effective;
      rec.pendingLower = null;
      rec.notifiedAtMs = now;
      // [clinical.md §5.2] re-alarm when the priority escalates, even if acknowledged or silenced
      if (rec.state === "acknowledged" || rec.state === "silenced") {
        rec.state = "raised";
        rec.silencedUntilMs = null;
        rec.acknowledgedBy = null;
      }
      this.#emit(rec, "escalate", now, null, c.reason);
    } else if (priorityRank(effective) < priorityRank(rec.priority)) {
      if (rec.pendingLower?.priority !== effective) rec.pendingLower = { priority: effective, sinceMs: now };
    } else {
      rec.pendingLower = null;
      // compared with what the sinks last showed: a text that went and came back within a hold is no news
      if (c.isReasonTracked === true && c.reason !== rec.shownReason) {
        this.#emit(rec, "update", now, null, c.reason);
      }
    }
  }

  /** Acknowledges an alert: notification stops, the alert stays until its condition ends. */
  acknowledge(alertId: string, by: string): ActionResult {
    if (typeof by !== "string" || by.trim() === "") return { ok: false, error: "invalid_user" };
    const rec = this.#byId.get(alertId);
    if (!rec) return { ok: false, error: "unknown_alert" };
    if (rec.state === "acknowledged") return { ok: false, error: "already_acknowledged" };
    const now = this.#clock.now();
    rec.state = "acknowledged";
    rec.acknowledgedBy = by;
    rec.silencedUntilMs = null;
    this.#emit(rec, "acknowledge", now, by, rec.condition.reason);
    if (rec.hasEnded) this.#resolve(rec, now, by, "acknowledged after the condition ended");
    return { ok: true };
  }

  /** Pauses an unacknowledged alert for `durationSec` (default and cap from config); re-alarms after. */
  silence(alertId: string, by: string, durationSec?: number): ActionResult {
    if (typeof by !== "string" || by.trim() === "") return { ok: false, error: "invalid_user" };
    const rec = this.#byId.get(alertId);
    if (!rec) return { ok: false, error: "unknown_alert" };
    if (rec.state === "acknowledged") return { ok: false, error: "already_acknowledged" };
    const s = this.#config.silence;
    const sec = Math.min(s.maxSec, durationSec !== undefined && durationSec > 0 ? durationSec : s.defaultSec);
    const now = this.#clock.now();
    rec.state = "silenced";
    rec.silencedUntilMs = now + sec * 1000;
    this.#emit(rec, "silence", now, by, `silenced for ${sec} s`);
    return { ok: true };
  }

  /**
   * Takes back the alerts persisted before a restart (the `alerts` table), keeping their alert ids, condition
   * keys, states (raised, acknowledged, silenced until `silenced_until_ms`, latched), priorities, escalation
   * level and recipient, and who acknowledged. Pure and synchronous: no I/O, no events emitted (nothing
   * changed state; the transitions are already on record). Call once at start-up, before readings flow.
   *
   * - Resolved snapshots and alert ids already held are skipped.
   * - A later `active` report for the same condition key continues the restored alert (no new raise). If a
   *   live alert already holds the key, the restored one keeps its id but is not re-confirmed by the rule,
   *   so it ends through the hold below.
   * - A restored alert whose condition was active must be reported active again within
   *   `restoreConfirmSec`; otherwise it counts as cleared then and follows the clear hold (resolve, or
   *   latch when HIGH and unacknowledged). One restored with its condition ended starts the hold now.
   * - Silence and escalation timers run on from the stored `silenced_until_ms` and `notified_at_ms`: if
   *   they expired while the gateway was down, the next `tick` re-alarms or escalates.
   */
  restore(alerts: readonly RestorableAlert[]): RestoreResult {
    const now = this.#clock.now();
    const confirmMs = this.#config.restoreConfirmSec * 1000;
    let restored = 0;
    let skipped = 0;
    // newest first: of two open alerts for one key (should not happen), the newest owns the key
    const ordered = [...alerts].sort((a, b) => b.raised_at_ms - a.raised_at_ms);
    for (const a of ordered) {
      if (a.state === "resolved" || this.#byId.has(a.alert_id)) {
        skipped++;
        continue;
      }
      const rulePriority = a.rule_priority ?? a.priority;
      const isLatched = a.state === "latched";
      const isConditionActive = a.condition_active && !isLatched;
      const rec: AlertRecord = {
        alertId: a.alert_id,
        condition: {
          key: a.condition,
          ruleId: a.rule_id,
          subjectId: a.subject_id,
          deviceId: a.device_id,
          priority: rulePriority,
          category: a.category,
          reason: a.reason,
          observedAtMs: a.observed_at_ms ?? null,
        },
        rulePriority,
        boost: Math.max(0, priorityRank(a.priority) - priorityRank(rulePriority)),
        priority: a.priority,
        state: a.state,
        raisedAtMs: a.raised_at_ms,
        notifiedAtMs: a.notified_at_ms ?? a.raised_at_ms,
        escalationLevel: a.escalation_level,
        recipient: a.recipient,
        isConditionActive,
        clearedAtMs: isConditionActive ? null : now,
        hasEnded: isLatched,
        pendingLower: null,
        silencedUntilMs: a.state === "silenced" ? (a.silenced_until_ms ?? now) : null,
        acknowledgedBy: a.acknowledged_by,
        unconfirmedUntilMs: isConditionActive ? now + confirmMs : null,
        shownReason: a.reason,
      };
      this.#byId.set(rec.alertId, rec);
      if (!this.#byKey.has(a.condition)) this.#byKey.set(a.condition, rec);
      restored++;
    }
    return { restored, skipped };
  }

  /** Resolves every alert of a subject on an explicit discharge/unbinding by a user. */
  releaseSubject(subjectId: string, by: string): void {
    const now = this.#clock.now();
    for (const rec of [...this.#byId.values()]) {
      if (rec.condition.subjectId === subjectId) this.#resolve(rec, now, by, "subject released");
    }
  }

  /** Runs the timed transitions: hold expiry, de-escalation, silence expiry, escalation. */
  tick(): void {
    const now = this.#clock.now();
    for (const rec of [...this.#byId.values()]) {
      if (rec.unconfirmedUntilMs !== null && now >= rec.unconfirmedUntilMs) {
        // restored, and its rule has not reported the condition again since the restart: treat as a clear
        rec.unconfirmedUntilMs = null;
        rec.isConditionActive = false;
        rec.clearedAtMs = now;
        rec.pendingLower = null;
        rec.condition = { ...rec.condition, reason: "condition not reported again after a gateway restart" };
      }
      if (
        !rec.isConditionActive &&
        !rec.hasEnded &&
        now - rec.clearedAtMs! >= this.#config.clearHoldSec * 1000
      ) {
        this.#end(rec, now);
        if (rec.state === "resolved") continue;
      }
      if (rec.pendingLower && now - rec.pendingLower.sinceMs >= this.#config.clearHoldSec * 1000) {
        rec.priority = rec.pendingLower.priority;
        rec.pendingLower = null;
        this.#emit(rec, "deescalate", now, null, rec.condition.reason);
      }
      if (rec.state === "silenced" && now >= rec.silencedUntilMs!) {
        rec.silencedUntilMs = null;
        rec.notifiedAtMs = now;
        if (rec.hasEnded) {
          rec.state = "raised";
          this.#end(rec, now);
          continue;
        }
        rec.state = "raised";
        this.#emit(rec, "re_alarm", now, null, `silence ended, still active: ${rec.condition.reason}`);
      }
      this.#escalate(rec, now);
    }
  }

  /** Alerts not yet resolved, highest priority first, then oldest first. */
  active(filter: { category?: AlertCategory; subjectId?: string } = {}): AlertSnapshot[] {
    return [...this.#byId.values()]
      .filter((r) => filter.category === undefined || r.condition.category === filter.category)
      .filter((r) => filter.subjectId === undefined || r.condition.subjectId === filter.subjectId)
      .sort((a, b) => priorityRank(b.priority) - priorityRank(a.priority) || a.raisedAtMs - b.raisedAtMs)
      .map((r) => snapshot(r));
  }

  get(alertId: string): AlertSnapshot | undefined {
    const rec = this.#byId.get(alertId);
    return rec && snapshot(rec);
  }

  forCondition(key: string): AlertSnapshot | undefined {
    const rec = this.#byKey.get(key);
    return rec && snapshot(rec);
  }

  #raise(c: AlertCondition, now: number): void {
    const rec: AlertRecord = {
      alertId: this.#newId(),
      condition: c,
      rulePriority: c.priority,
      boost: 0,
      priority: c.priority,
      state: "raised",
      raisedAtMs: now,
      notifiedAtMs: now,
      escalationLevel: 0,
      recipient: this.#config.primaryRecipient,
      isConditionActive: true,
      clearedAtMs: null,
      hasEnded: false,
      pendingLower: null,
      silencedUntilMs: null,
      acknowledgedBy: null,
      unconfirmedUntilMs: null,
      shownReason: c.reason,
    };
    this.#byKey.set(c.key, rec);
    this.#byId.set(rec.alertId, rec);
    this.#emit(rec, "raise", now, null, c.reason);
  }

  /** The condition has ended for good (hold over): resolve, latch, or wait for the silence to end. */
  #end(rec: AlertRecord, now: number): void {
    rec.hasEnded = true;
    const isLatching = this.#config.latchingPriorities.includes(rec.priority);
    if (rec.state === "acknowledged" || !isLatching) {
      this.#resolve(rec, now, null, rec.condition.reason);
    } else if (rec.state === "raised") {
      rec.state = "latched";
      this.#emit(
        rec,
        "latch",
        now,
        null,
        `condition ended, latched until acknowledged: ${rec.condition.reason}`,
      );
    }
  }

  #resolve(rec: AlertRecord, now: number, by: string | null, reason: string): void {
    rec.state = "resolved";
    rec.silencedUntilMs = null;
    this.#byId.delete(rec.alertId);
    if (this.#byKey.get(rec.condition.key) === rec) this.#byKey.delete(rec.condition.key);
    this.#emit(rec, "resolve", now, by, reason);
  }

  #escalate(rec: AlertRecord, now: number): void {
    if (rec.state !== "raised" && rec.state !== "latched") return;
    const step = this.#config.escalation[rec.rulePriority][rec.escalationLevel];
    if (!step || now - rec.notifiedAtMs < step.afterSec * 1000) return;
    rec.escalationLevel += 1;
    rec.recipient = step.recipient;
    rec.notifiedAtMs = now;
    if (step.raisePriority) rec.boost += 1;
    const effective = raisePriority(rec.rulePriority, rec.boost);
    if (priorityRank(effective) > priorityRank(rec.priority)) rec.priority = effective;
    const waited = `unacknowledged for ${step.afterSec} s, escalated to ${step.recipient}`;
    this.#emit(rec, "escalate", now, null, `${waited}: ${rec.condition.reason}`);
  }

  #emit(rec: AlertRecord, transition: AlertTransition, now: number, by: string | null, reason: string): void {
    rec.shownReason = rec.condition.reason;
    const event: AlertEvent = { ...snapshot(rec), reason, transition, at_ms: now, by };
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }
}

function snapshot(r: AlertRecord): AlertSnapshot {
  return {
    alert_id: r.alertId,
    condition: r.condition.key,
    rule_id: r.condition.ruleId,
    subject_id: r.condition.subjectId,
    device_id: r.condition.deviceId,
    priority: r.priority,
    category: r.condition.category,
    state: r.state,
    reason: r.condition.reason,
    raised_at_ms: r.raisedAtMs,
    observed_at_ms: r.condition.observedAtMs ?? null,
    condition_active: r.isConditionActive,
    escalation_level: r.escalationLevel,
    recipient: r.recipient,
    silenced_until_ms: r.silencedUntilMs,
    acknowledged_by: r.acknowledgedBy,
  };
}
