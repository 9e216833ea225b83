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
 *   A technical condition's text describes the equipment's state now ("contact lost since …"), so its end is
 *   emitted at once as an `update` with the rule's "ended" text, and its return within the hold as an
 *   `update` with the active text: no sink shows a technical condition that no longer holds.
 * - What an alert is about (its snapshot's `reason`, what `/active` and a reconnecting station show): the
 *   condition's reason while active; once it ended "condition ended (…); was: …" (a technical alert in its hold
 *   shows its rule's "…: ended, …" text).
 * - Clock steps: every kept time is wall time; on a step of the wall clock (`clockStepped`, clock.ts) all are
 *   moved with it, so holds, silences and escalation waits keep their true length.
 * - Latching (HIGH by default): when the condition ends unacknowledged, the alert stays as `latched` until
 *   someone acknowledges it. Never acknowledged automatically. The latch, and every later text of the alert,
 *   carries both the current condition and what it was while active ("…; was: Heart rate 170 /min above …").
 * - Silence (ALARM PAUSED, time-limited): its notice keeps the clinical reason and adds the silence; re-alarms
 *   when the pause ends if the condition is still active.
 * - Escalation ladder: a step is taken `afterSec` after the last notification (the raise, the previous step, a
 *   priority rise, a re-alarm) while the alert is raised or latched. Its text states the real time
 *   unacknowledged: since the raise, or since the re-alarm that ended the last acknowledgement (a silence is
 *   not an acknowledgement and does not restart that count). A re-alarm keeps the recipient the ladder had
 *   reached: a worsening alert never goes to fewer people than it already reached.
 * - Re-alarm of an acknowledged or silenced alert [clinical.md §5.2]: when its rule's priority rises, and when
 *   its condition's `severity` (NEWS2: the total) rises by at least the condition's `realarmOnRise` above its
 *   value at the acknowledgement or silence, at the same priority.
 * - Restore after a restart (`restore`): the alerts persisted as not resolved are taken back with their ids,
 *   states, timers and the condition's own reasons (each event carries `condition_reason` and `active_reason`
 *   beside the transition's text), without emitting anything. A restored condition that was active is "unconfirmed" until
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
  raisedAtMs: number;
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
  /** The reason its rule last reported while the condition was active: what happened, kept after it ends. */
  activeReason: string;
  /** Since when nobody has acknowledged it: the raise, or the re-alarm that ended an acknowledgement. */
  unacknowledgedSinceMs: number;
  /** The condition's severity when it was last acknowledged or silenced; null while neither holds. */
  baselineSeverity: number | null;
  /**
   * Ended by a clinician's change (`isEndedByChange`): no further ladder step until its condition returns.
   * Not persisted: after a restart a latched alert takes its remaining steps.
   */
  isLadderStopped?: boolean;
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
      rec.isLadderStopped = update.isEndedByChange === true;
      if (this.#config.clearHoldSec === 0 || rec.isLadderStopped) this.#end(rec, now);
      else if (rec.condition.category === "technical" && rec.state !== "resolved") {
        // a technical condition's text describes the equipment now ("contact lost since …"): through the
        // clear hold every sink must show that it ended, not the condition that no longer holds
        this.#emit(rec, "update", now, null, update.reason);
      }
      return;
    }
    const c = update.condition;
    const rec = this.#byKey.get(c.key);
    if (!rec) {
      this.#raise(c, now);
      return;
    }
    rec.condition = c;
    rec.activeReason = c.reason;
    rec.rulePriority = c.priority;
    rec.unconfirmedUntilMs = null;
    rec.isLadderStopped = false;
    // a technical condition back within its clear hold: the sinks were told it ended, so they hear it is back
    const isTechnicalBack = !rec.isConditionActive && !rec.hasEnded && c.category === "technical";
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
      if (rec.state === "acknowledged" || rec.state === "silenced") this.#unpause(rec, now);
      this.#emit(rec, "escalate", now, null, c.reason);
      return;
    }
    const isSamePriority = priorityRank(effective) === priorityRank(rec.priority);
    if (!isSamePriority) {
      if (rec.pendingLower?.priority !== effective) rec.pendingLower = { priority: effective, sinceMs: now };
    } else rec.pendingLower = null;
    const isPaused = rec.state === "acknowledged" || rec.state === "silenced";
    // restored paused (the baseline is not persisted): the first severity reported is the baseline
    if (isPaused && rec.baselineSeverity === null && c.severity !== undefined) {
      rec.baselineSeverity = c.severity.value;
    }
    const baseline = rec.baselineSeverity;
    if (
      isPaused &&
      baseline !== null &&
      c.severity !== undefined &&
      c.severity.value - baseline >= c.severity.realarmOnRise
    ) {
      // [clinical.md §5.2] re-alarm when the value worsens by a configured delta, at the same priority too
      const since = rec.state === "acknowledged" ? "acknowledged" : "silenced";
      this.#unpause(rec, now);
      rec.notifiedAtMs = now;
      this.#emit(
        rec,
        "re_alarm",
        now,
        null,
        `worse than when ${since} (${baseline} → ${c.severity.value}): ${c.reason}`,
      );
    } else if (
      isSamePriority &&
      (c.isReasonTracked === true || isTechnicalBack) &&
      c.reason !== rec.shownReason
    ) {
      // compared with what the sinks last showed: a text that went and came back within a hold is no news
      this.#emit(rec, "update", now, null, c.reason);
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
    rec.baselineSeverity = rec.condition.severity?.value ?? null;
    this.#emit(rec, "acknowledge", now, by, this.#whatHappened(rec));
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
    rec.baselineSeverity = rec.condition.severity?.value ?? null;
    this.#emit(rec, "silence", now, by, `silenced for ${sec} s by ${by}: ${this.#whatHappened(rec)}`);
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
   *   they expired while the gateway was down, the next `tick` re-alarms or escalates. The time unacknowledged
   *   counts from `unacknowledged_since_ms` (default `raised_at_ms`).
   * - The condition's reason is `condition_reason` and what it was while active `active_reason`; a snapshot
   *   stored before those existed gives only `reason`, the last transition's text.
   * - The severity at the last acknowledgement or silence is not persisted: the first severity the rule
   *   reports after the restart is the baseline a worsening is measured from.
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
      // the condition's own reason; a message stored before it was recorded has only the transition's text
      const reason = a.condition_reason ?? a.reason;
      const rec: AlertRecord = {
        alertId: a.alert_id,
        condition: {
          key: a.condition,
          ruleId: a.rule_id,
          subjectId: a.subject_id,
          deviceId: a.device_id,
          priority: rulePriority,
          category: a.category,
          reason,
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
        shownReason: reason,
        activeReason: a.active_reason ?? reason,
        unacknowledgedSinceMs: a.unacknowledged_since_ms ?? a.raised_at_ms,
        // not persisted: the first severity its rule reports after the restart becomes the baseline
        baselineSeverity: null,
      };
      this.#byId.set(rec.alertId, rec);
      if (!this.#byKey.has(a.condition)) this.#byKey.set(a.condition, rec);
      restored++;
    }
    return { restored, skipped };
  }

  /**
   * Resolves every alert of a subject at once, latched, silenced or escalating alike, on an explicit discharge
   * or erasure by a user: nothing of the subject is left to escalate. `reason` says why (the resolve text).
   * Returns how many alerts it resolved.
   */
  releaseSubject(subjectId: string, by: string | null, reason = "subject released"): number {
    const now = this.#clock.now();
    let resolved = 0;
    for (const rec of [...this.#byId.values()]) {
      if (rec.condition.subjectId !== subjectId) continue;
      this.#resolve(rec, now, by, reason);
      resolved++;
    }
    return resolved;
  }

  /**
   * Resolves at once, with `reason`, every technical alert raised from the device (battery, silence, contact,
   * signal …): the device was removed or bound to another subject, so its state says nothing of the patient any
   * more, and its alarms must neither latch nor wait out the clear hold. A physiological alert stays: it is the
   * patient's, whichever device measured it. `subjectId`: only the device's alerts of that subject. Returns how
   * many alerts it resolved.
   */
  releaseDevice(deviceId: string, reason: string, by: string | null = null, subjectId?: string): number {
    const now = this.#clock.now();
    let resolved = 0;
    for (const rec of [...this.#byId.values()]) {
      if (rec.condition.deviceId !== deviceId || rec.condition.category !== "technical") continue;
      if (subjectId !== undefined && rec.condition.subjectId !== subjectId) continue;
      this.#resolve(rec, now, by, reason);
      resolved++;
    }
    return resolved;
  }

  /**
   * The wall clock was stepped by `deltaMs` (clock.ts `watchClockSteps`): every time kept is moved with it, so
   * the clear hold, de-escalation hold, silence, escalation wait, restart confirmation and the time
   * unacknowledged keep their true elapsed length. A step back neither prolongs a silence nor holds off an
   * escalation; a step forward fires neither early. Emits nothing.
   */
  clockStepped(deltaMs: number): void {
    if (!Number.isFinite(deltaMs)) throw new RangeError("clockStepped: deltaMs must be finite");
    const shift = (ms: number | null) => (ms === null ? null : ms + deltaMs);
    for (const rec of this.#byId.values()) {
      rec.raisedAtMs += deltaMs;
      rec.notifiedAtMs += deltaMs;
      rec.unacknowledgedSinceMs += deltaMs;
      rec.clearedAtMs = shift(rec.clearedAtMs);
      rec.silencedUntilMs = shift(rec.silencedUntilMs);
      rec.unconfirmedUntilMs = shift(rec.unconfirmedUntilMs);
      if (rec.pendingLower) rec.pendingLower.sinceMs += deltaMs;
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
        rec.baselineSeverity = null;
        rec.notifiedAtMs = now;
        if (rec.hasEnded) {
          rec.state = "raised";
          this.#end(rec, now);
          continue;
        }
        rec.state = "raised";
        // within the clear hold the condition may already have ended: say so rather than "still active"
        const ended = rec.isConditionActive ? "silence ended, still active" : "silence ended";
        this.#emit(rec, "re_alarm", now, null, `${ended}: ${this.#whatHappened(rec)}`);
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
      activeReason: c.reason,
      unacknowledgedSinceMs: now,
      baselineSeverity: null,
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
        `condition ended, latched until acknowledged: ${rec.condition.reason}${wasOf(rec)}`,
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
    if ((rec.state !== "raised" && rec.state !== "latched") || rec.isLadderStopped === true) return;
    const step = this.#config.escalation[rec.rulePriority][rec.escalationLevel];
    if (!step || now - rec.notifiedAtMs < step.afterSec * 1000) return;
    rec.escalationLevel += 1;
    rec.recipient = step.recipient;
    rec.notifiedAtMs = now;
    if (step.raisePriority) rec.boost += 1;
    const effective = raisePriority(rec.rulePriority, rec.boost);
    if (priorityRank(effective) > priorityRank(rec.priority)) rec.priority = effective;
    const waitedSec = Math.round((now - rec.unacknowledgedSinceMs) / 1000);
    const waited = `unacknowledged for ${waitedSec} s, escalated to ${step.recipient}`;
    this.#emit(rec, "escalate", now, null, `${waited}: ${this.#whatHappened(rec)}`);
  }

  /** Ends an acknowledgement or a silence: the alert notifies again, and an acknowledgement no longer holds. */
  #unpause(rec: AlertRecord, now: number): void {
    if (rec.state === "acknowledged") rec.unacknowledgedSinceMs = now;
    rec.state = "raised";
    rec.silencedUntilMs = null;
    rec.acknowledgedBy = null;
    rec.baselineSeverity = null;
  }

  /**
   * The alert's clinical reason for lifecycle text: the condition as its rule last reported it, and, once the
   * condition has ended, also what it was while active, so a latched or escalated alert still says what happened.
   */
  #whatHappened(rec: AlertRecord): string {
    return whatHappened(rec);
  }

  #emit(rec: AlertRecord, transition: AlertTransition, now: number, by: string | null, reason: string): void {
    rec.shownReason = rec.condition.reason;
    const event: AlertEvent = {
      ...snapshot(rec),
      reason,
      transition,
      at_ms: now,
      by,
      condition_reason: rec.condition.reason,
      active_reason: rec.activeReason,
    };
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }
}

/** "; was: <the last active reason>" once the condition has ended with a different reason, else "". */
function wasOf(rec: AlertRecord): string {
  return rec.isConditionActive || rec.activeReason === rec.condition.reason
    ? ""
    : `; was: ${rec.activeReason}`;
}

/**
 * What an alert is about: the condition as its rule last reported it, and once it has ended (in its clear hold,
 * latched) also what it was while active, so a station that reconnects sees what happened.
 */
function whatHappened(r: AlertRecord): string {
  return r.isConditionActive ? r.condition.reason : `condition ended (${r.condition.reason})${wasOf(r)}`;
}

/**
 * The snapshot's reason: {@link whatHappened} for a latched alert and a physiological one in its clear hold. A
 * technical condition's ended text already names the condition and that it ended ("sensor contact lost: ended,
 * contact restored at …") and is shown as it is until the alert latches; so is the one text of an alert
 * restored from a record that kept no separate active reason.
 */
function shownReason(r: AlertRecord): string {
  const isTechnicalHeld = r.condition.category === "technical" && r.state !== "latched";
  return wasOf(r) === "" || isTechnicalHeld ? r.condition.reason : whatHappened(r);
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
    reason: shownReason(r),
    raised_at_ms: r.raisedAtMs,
    observed_at_ms: r.condition.observedAtMs ?? null,
    condition_active: r.isConditionActive,
    escalation_level: r.escalationLevel,
    recipient: r.recipient,
    silenced_until_ms: r.silencedUntilMs,
    acknowledged_by: r.acknowledgedBy,
  };
}
