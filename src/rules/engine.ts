/**
 * The rule engine: feeds every input synchronously through the built-in rules and hands their condition
 * updates to the alarm manager, in memory, before and independent of storage [DESIGN.md "Alerts do not
 * wait"]. Physiological and technical rules are kept apart: a reading flagged `sensor_contact_lost` or
 * `signal_unreliable` goes to the technical rules only (signal-quality gating, clinical.md §5.2), and each alert
 * carries its category. The physiological rules judge a reading only while it is live (staleness.ts).
 *
 * A device frame is evaluated as a whole (`onReadings`): each reading goes through the threshold, rate-of-change
 * and technical rules, then NEWS2 scores the frame once, so one pack gives one NEWS2 transition. Every change of
 * a subject's NEWS2 is offered to the NEWS2 listeners (`onNews2`), which publish it.
 *
 * Alarms end with their patient: a device removed or bound to another subject has its technical alarms resolved
 * at once with the reason (`deviceBindingChanged`), and an erased subject (`eraseSubject`) has every alarm
 * resolved and, for as long as this process runs, nothing new: no condition, no NEWS2, no escalation (its
 * alerts are gone), no clinician entry (`isSubjectErased`, which the command processor asks first).
 */
import { type Clock, type ClockStepAware, watchClockSteps } from "../clock.js";
import { type DeviceStatusInput, isSignalGated, type Reading, type RejectReason } from "../reading.js";
import { AlarmManager } from "./alarm-manager.js";
import {
  type ActionResult,
  type AlertListener,
  type AlertSnapshot,
  DEFAULT_ALARM_CONFIG,
  type RestorableAlert,
  type RestoreResult,
} from "./alert-event.js";
import { DEFAULT_CLOCK_HEALTH_CONFIG } from "./clock-health-rule.js";
import type { RulesConfig } from "./config.js";
import { DEFAULT_NEWS2_CONFIG, type News2Assessment, News2Rule } from "./news2.js";
import { DEFAULT_RATE_OF_CHANGE_CONFIG, RateOfChangeRule } from "./rate-of-change.js";
import type { AlertCategory, ClinicianObservation, ConditionUpdate, Rule, RuleInput } from "./rule.js";
import { DEFAULT_STALENESS_CONFIG, type StalenessConfig, timeliness } from "./staleness.js";
import { DEFAULT_TECHNICAL_CONFIG, TechnicalRule } from "./technical.js";
import { DEFAULT_THRESHOLDS_CONFIG, type ThresholdsConfig } from "./threshold-config.js";
import { ThresholdRule } from "./thresholds.js";

/** The `rules` slice of the gateway config, inferred from its schema (config.ts). */
export type { RulesConfig };

export const DEFAULT_RULES_CONFIG: RulesConfig = {
  thresholds: DEFAULT_THRESHOLDS_CONFIG,
  rateOfChange: DEFAULT_RATE_OF_CHANGE_CONFIG,
  news2: DEFAULT_NEWS2_CONFIG,
  technical: DEFAULT_TECHNICAL_CONFIG,
  alarms: DEFAULT_ALARM_CONFIG,
  staleness: DEFAULT_STALENESS_CONFIG,
  clock: DEFAULT_CLOCK_HEALTH_CONFIG,
};

/**
 * Told a subject's current NEWS2 after every input that may have changed it (a pack, a clinician entry, and
 * each tick for every subject, as parameters age), and `null` when the subject is released. Called
 * synchronously; the listener keeps what it needs (it may be told the same assessment again). MUST NOT throw
 * (a throw is reported like an alert listener's) and MUST NOT block.
 */
export type News2Listener = (subjectId: string, assessment: News2Assessment | null) => void;

export interface RuleEngineOptions {
  clock: Clock;
  /** Alert id factory (default: random UUID). */
  newAlertId?: () => string;
  /** Extra rules run after the built-in ones of the same category (vendor or site rules). */
  extraRules?: readonly Rule[];
  /** A rule broke its contract by throwing: the other rules still run. Default: rethrown async. */
  onRuleError?: (error: unknown, ruleId: string, input: RuleInput) => void;
  /** An alert listener threw: the other listeners still run. Default: rethrown async. */
  onListenerError?: (error: unknown) => void;
}

const rethrowLater = (error: unknown) => {
  queueMicrotask(() => {
    throw error;
  });
};

/** Synchronous, in-memory alerting core. One instance per gateway, built in main.ts. */
export class RuleEngine {
  readonly alarms: AlarmManager;
  readonly #clock: Clock;
  readonly #news2: News2Rule;
  readonly #technical: TechnicalRule;
  readonly #staleness: StalenessConfig;
  readonly #thresholds: ThresholdRule;
  readonly #physiological: Rule[];
  /** NEWS2, then `#physiological`: for the inputs that are not readings (entries, ticks, release). */
  readonly #allPhysiological: Rule[];
  readonly #technicalRules: Rule[];
  readonly #onRuleError: (error: unknown, ruleId: string, input: RuleInput) => void;
  readonly #onListenerError: (error: unknown) => void;
  readonly #news2Listeners = new Set<News2Listener>();
  /** The subject each watched device is bound to, as the registry said (`watchDevice`, `deviceBindingChanged`). */
  readonly #bindings = new Map<string, string>();
  /** Subjects erased while this process runs: nothing is evaluated, raised or published for them any more. */
  readonly #erased = new Set<string>();
  #erasedLookup: ((subjectId: string) => boolean) | undefined;
  /** The registry's bindings now (device id → subject id), asked once the alerts are restored. */
  #deviceBindings: (() => ReadonlyMap<string, string> | undefined) | undefined;

  constructor(config: RulesConfig, options: RuleEngineOptions) {
    // a step of the wall clock moves every kept time with it before anything is compared (clock.ts)
    this.#clock = watchClockSteps(options.clock, (deltaMs) => this.clockStepped(deltaMs));
    this.#onRuleError = options.onRuleError ?? rethrowLater;
    const onListenerError = options.onListenerError ?? rethrowLater;
    this.#onListenerError = onListenerError;
    this.alarms = new AlarmManager(config.alarms, {
      clock: this.#clock,
      onListenerError,
      ...(options.newAlertId ? { newAlertId: options.newAlertId } : {}),
    });
    this.#news2 = new News2Rule(config.news2);
    this.#staleness = config.staleness;
    this.#technical = new TechnicalRule(config.technical, {
      staleness: config.staleness,
      clearHoldSec: config.alarms.clearHoldSec,
    });
    const extra = options.extraRules ?? [];
    // NEWS2 is not in this list: it scores whole frames (onReadings), not single readings
    this.#thresholds = new ThresholdRule(config.thresholds, config.staleness);
    this.#physiological = [
      this.#thresholds,
      new RateOfChangeRule(config.rateOfChange, config.staleness),
      ...extra.filter((r) => r.category === "physiological"),
    ];
    this.#allPhysiological = [this.#news2, ...this.#physiological];
    this.#technicalRules = [this.#technical, ...extra.filter((r) => r.category === "technical")];
  }

  /** Evaluates one accepted reading on its own (a frame of one). Call it before it is queued for storage. */
  onReading(reading: Reading): void {
    this.onReadings([reading]);
  }

  /**
   * Evaluates the accepted readings of one device frame, before they are queued for storage: each through the
   * per-reading rules, then NEWS2 once for the whole frame.
   */
  onReadings(readings: readonly Reading[]): void {
    const scored: Reading[] = [];
    for (const reading of readings) {
      if (this.isSubjectErased(reading.subjectId)) continue;
      const input: RuleInput = { type: "reading", reading };
      this.#run(this.#technicalRules, input);
      // [clinical.md §5.2 signal-quality gating] data from a sensor without contact, or that the device calls
      // unreliable, is not a patient value
      if (isSignalGated(reading.flags)) {
        // NEWS2 scores none of it either, but says the parameter's value was withheld (news2.ts)
        scored.push(reading);
        continue;
      }
      this.#run(this.#physiological, input);
      // timed too far ahead of the gateway clock: not trusted to say when it was measured (staleness.ts)
      if (timeliness(reading, this.#clock.now(), this.#staleness) !== "future") scored.push(reading);
    }
    if (scored.length === 0) return;
    const now = this.#clock.now();
    const first: RuleInput = { type: "reading", reading: scored[0]! };
    this.#guarded(this.#news2.id, first, () => this.#news2.evaluatePack(scored, now));
    for (const subjectId of new Set(scored.map((r) => r.subjectId))) this.#tellNews2(subjectId, now);
  }

  /** Device status (battery, sensor contact) as decoded by a driver. */
  onDeviceStatus(deviceId: string, subjectId: string, status: DeviceStatusInput): void {
    if (this.isSubjectErased(subjectId)) return;
    this.#run(this.#technicalRules, {
      type: "device_status",
      deviceId,
      subjectId,
      status,
      atMs: this.#clock.now(),
    });
  }

  /**
   * `count` frames or inputs rejected by ingest for one reason, at once (counts toward the burst/impossible
   * alarms).
   */
  onRejected(deviceId: string, subjectId: string, reason: RejectReason | (string & {}), count = 1): void {
    if (this.isSubjectErased(subjectId)) return;
    this.#run(this.#technicalRules, {
      type: "rejected",
      deviceId,
      subjectId,
      reason,
      count,
      atMs: this.#clock.now(),
    });
  }

  /** A clinician's entry: air/oxygen, ACVPU, SpO2 scale prescription (NEWS2). */
  onClinicianObservation(observation: ClinicianObservation): void {
    if (this.isSubjectErased(observation.subjectId)) return;
    const input: RuleInput = { type: "clinician_observation", observation };
    this.#run(this.#allPhysiological, input);
    this.#tellNews2(observation.subjectId, this.#clock.now());
  }

  /** Time-based rules and alarm timers. Call at least once a second. */
  tick(): void {
    const input: RuleInput = { type: "tick", atMs: this.#clock.now() };
    this.#run(this.#technicalRules, input);
    this.#run(this.#allPhysiological, input);
    this.alarms.tick();
    if (this.#news2Listeners.size > 0) {
      for (const subjectId of this.#news2.subjects()) this.#tellNews2(subjectId, input.atMs);
    }
  }

  /**
   * The wall clock was stepped by `deltaMs` (> 0 forward): every rule that keeps wall times
   * (`ClockStepAware`) and the alarm manager move them with it, so no duration is cut short or drawn out by
   * the step. Called by the engine's own clock on the first read after a step (clock.ts `watchClockSteps`).
   */
  clockStepped(deltaMs: number): void {
    for (const rule of [...this.#technicalRules, ...this.#allPhysiological]) {
      const aware = rule as Partial<ClockStepAware>;
      if (typeof aware.clockStepped === "function") aware.clockStepped(deltaMs);
    }
    this.alarms.clockStepped(deltaMs);
  }

  /** Watches a bound device for silence from now on (call for every bound device at start-up). */
  watchDevice(deviceId: string, subjectId: string): void {
    if (this.isSubjectErased(subjectId)) return;
    this.#bindings.set(deviceId, subjectId);
    this.#applyAll(this.#technical.watchDevice(deviceId, subjectId, this.#clock.now()));
  }

  /** Stops watching an unbound device and clears its technical conditions (through the clear hold). */
  unwatchDevice(deviceId: string): void {
    this.#bindings.delete(deviceId);
    this.#applyAll(this.#technical.unwatchDevice(deviceId));
  }

  /** The watched devices and the subject each is bound to (device id → subject id). */
  watchedDevices(): ReadonlyMap<string, string> {
    return this.#bindings;
  }

  /**
   * The registry says device `deviceId` is now bound to `subjectId`, or removed (`null`). When that differs from
   * what the engine watches, the device's technical alarms are resolved at once with a reason that says so
   * ("device removed", "device re-bound from pt-a to another subject": the other subject is not named in the
   * first one's alert record, which outlives a later erasure of the other), its technical state is dropped so
   * nothing of the former subject carries over, and a re-bound device is watched afresh for its new subject.
   * Returns how many alerts it resolved.
   */
  deviceBindingChanged(deviceId: string, subjectId: string | null, by: string | null = null): number {
    const before = this.#bindings.get(deviceId);
    if (before === subjectId) return 0;
    if (before === undefined && subjectId !== null) {
      // newly provisioned (or first heard before the registry was read): nothing of another subject to end
      this.watchDevice(deviceId, subjectId);
      return 0;
    }
    const reason =
      subjectId === null ? "device removed" : `device re-bound from ${before} to another subject`;
    const resolved = this.alarms.releaseDevice(deviceId, reason, by);
    // its conditions were resolved above: the clears unwatching reports find no alert and change nothing
    this.unwatchDevice(deviceId);
    if (subjectId !== null) this.watchDevice(deviceId, subjectId);
    return resolved;
  }

  /**
   * Discharge: drops every rule's state for the subject and resolves its alerts at once, attributed to `by`,
   * with `reason`. Returns how many alerts it resolved.
   */
  releaseSubject(subjectId: string, by: string | null, reason = "subject released"): number {
    for (const rule of [...this.#technicalRules, ...this.#allPhysiological]) rule.forgetSubject(subjectId);
    for (const [deviceId, subject] of this.#bindings)
      if (subject === subjectId) this.#bindings.delete(deviceId);
    const resolved = this.alarms.releaseSubject(subjectId, by, reason);
    this.#tellNews2(subjectId, this.#clock.now(), true);
    return resolved;
  }

  /**
   * Erasure of the subject's record: every alert of the subject is resolved at once with `reason`, its rule state
   * and NEWS2 dropped (the NEWS2 listeners told `null`), and from now on nothing is evaluated, raised, escalated or
   * published for it while this process runs. Idempotent. Returns how many alerts it resolved.
   */
  eraseSubject(subjectId: string, by: string | null, reason = "patient record erased"): number {
    // first: the resolutions below must not be followed by anything a rule still reports for the subject
    this.#erased.add(subjectId);
    return this.releaseSubject(subjectId, by, reason);
  }

  /**
   * Whether the subject was erased, in this run or (through the lookup set by `setErasedLookup`) before it: its
   * commands are refused and its inputs ignored.
   */
  isSubjectErased(subjectId: string): boolean {
    if (this.#erased.has(subjectId)) return true;
    if (this.#erasedLookup?.(subjectId) !== true) return false;
    this.#erased.add(subjectId);
    return true;
  }

  /**
   * Tells the engine how to recognise a subject erased before this process started (the log keeps a tombstone of
   * each erased subject). It MUST be synchronous and cheap on a repeated id (it is asked for each input until it
   * says yes), and MUST NOT throw.
   */
  setErasedLookup(lookup: (subjectId: string) => boolean): void {
    this.#erasedLookup = lookup;
  }

  /** The subject's current NEWS2 assessment (complete or incomplete with the missing parameters). */
  news2(subjectId: string): News2Assessment {
    return this.#news2.assess(subjectId, this.#clock.now());
  }

  /** Subjects NEWS2 holds anything for (a parameter or a scale), in first-seen order. */
  news2Subjects(): string[] {
    return this.#news2.subjects();
  }

  /** Subscribes a NEWS2 listener; returns the unsubscribe function. */
  onNews2(listener: News2Listener): () => void {
    this.#news2Listeners.add(listener);
    return () => this.#news2Listeners.delete(listener);
  }

  /**
   * A subject's threshold limits changed while running (subject-limits.ts): `thresholds` is the whole table
   * with the change; the subject's alarms are judged again at once under it (thresholds.ts `updateSubject`).
   * `note` says who changed them, for the text of an alarm the change ends.
   */
  updateSubjectThresholds(thresholds: ThresholdsConfig, subjectId: string, note: string): void {
    this.#applyAll(this.#thresholds.updateSubject(thresholds, subjectId, this.#clock.now(), note));
  }

  /**
   * Takes back the alerts persisted before a restart (see `AlarmManager.restore`); rule state starts afresh. A
   * device removed or re-bound while the gateway was stopped ends its restored technical alarms here, at once,
   * with the reason it would have had while running ("device removed", "device re-bound from pt-a to another
   * subject"): before any tick, so none of them escalates, latches or waits out the restart's confirmation for a
   * device that no longer measures its patient (`setDeviceBindings`).
   */
  restoreAlerts(alerts: readonly RestorableAlert[]): RestoreResult {
    const result = this.alarms.restore(alerts);
    const bindings = this.#deviceBindings?.();
    if (bindings !== undefined) this.releaseUnboundDevices(bindings);
    return result;
  }

  /**
   * Tells the engine how to read the registry's bindings (device id → subject id) when it restores the alerts at
   * start-up. It MUST NOT throw: undefined when the registry cannot be read now (nothing is resolved then).
   */
  setDeviceBindings(bindings: () => ReadonlyMap<string, string> | undefined): void {
    this.#deviceBindings = bindings;
  }

  /**
   * Resolves at once every technical alert of a device that `bindings` (the registry now: device id → subject
   * id) no longer binds to the alert's subject: "device removed" when the device is gone, "device re-bound from
   * <the alert's subject> to another subject" when it is bound elsewhere, attributed to `by`. The alerts of the
   * subject the device is bound to now stay. `onlyDeviceId`: that device's alerts only. Returns how many alerts
   * it resolved.
   */
  releaseUnboundDevices(
    bindings: ReadonlyMap<string, string>,
    by: string | null = null,
    onlyDeviceId?: string,
  ): number {
    const unbound = new Map<string, { deviceId: string; subjectId: string }>();
    for (const a of this.alarms.active({ category: "technical" })) {
      if (a.device_id === null || bindings.get(a.device_id) === a.subject_id) continue;
      if (onlyDeviceId !== undefined && a.device_id !== onlyDeviceId) continue;
      unbound.set(`${a.device_id}\n${a.subject_id}`, { deviceId: a.device_id, subjectId: a.subject_id });
    }
    let resolved = 0;
    for (const { deviceId, subjectId } of unbound.values()) {
      const reason = bindings.has(deviceId)
        ? `device re-bound from ${subjectId} to another subject`
        : "device removed";
      resolved += this.alarms.releaseDevice(deviceId, reason, by, subjectId);
    }
    return resolved;
  }

  onAlertEvent(listener: AlertListener): () => void {
    return this.alarms.onEvent(listener);
  }

  acknowledge(alertId: string, by: string): ActionResult {
    return this.alarms.acknowledge(alertId, by);
  }

  silence(alertId: string, by: string, durationSec?: number): ActionResult {
    return this.alarms.silence(alertId, by, durationSec);
  }

  activeAlerts(filter: { category?: AlertCategory; subjectId?: string } = {}): AlertSnapshot[] {
    return this.alarms.active(filter);
  }

  #run(rules: readonly Rule[], input: RuleInput): void {
    const now = this.#clock.now();
    for (const rule of rules) this.#guarded(rule.id, input, () => rule.evaluate(input, now));
  }

  /** Applies what one rule evaluation reports; a rule that throws is reported and the others go on. */
  #guarded(ruleId: string, input: RuleInput, evaluate: () => readonly ConditionUpdate[]): void {
    let updates: readonly ConditionUpdate[];
    try {
      updates = evaluate();
    } catch (error) {
      this.#onRuleError(error, ruleId, input);
      return;
    }
    this.#applyAll(updates);
  }

  #tellNews2(subjectId: string, nowMs: number, isReleased = false): void {
    if (this.#news2Listeners.size === 0) return;
    if (!isReleased && this.isSubjectErased(subjectId)) return;
    const assessment = isReleased ? null : this.#news2.assess(subjectId, nowMs);
    for (const listener of [...this.#news2Listeners]) {
      try {
        listener(subjectId, assessment);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }

  #applyAll(updates: readonly ConditionUpdate[]): void {
    for (const u of updates) {
      // a rule evaluating every subject (a tick) may still hold something of an erased one: never raised again
      if (u.type === "active" && this.isSubjectErased(u.condition.subjectId)) continue;
      this.alarms.apply(u);
    }
  }
}
