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
 */
import type { Clock } from "../clock.js";
import { type DeviceStatusInput, isSignalGated, type Reading, type RejectReason } from "../reading.js";
import { AlarmManager } from "./alarm-manager.js";
import {
  type ActionResult,
  type AlarmConfig,
  type AlertListener,
  type AlertSnapshot,
  DEFAULT_ALARM_CONFIG,
  type RestorableAlert,
  type RestoreResult,
} from "./alert-event.js";
import { DEFAULT_NEWS2_CONFIG, type News2Assessment, type News2Config, News2Rule } from "./news2.js";
import {
  DEFAULT_RATE_OF_CHANGE_CONFIG,
  RateOfChangeRule,
  type RateOfChangeRuleConfig,
} from "./rate-of-change.js";
import type { AlertCategory, ClinicianObservation, ConditionUpdate, Rule, RuleInput } from "./rule.js";
import { DEFAULT_STALENESS_CONFIG, type StalenessConfig, timeliness } from "./staleness.js";
import { DEFAULT_TECHNICAL_CONFIG, type TechnicalConfig, TechnicalRule } from "./technical.js";
import { DEFAULT_THRESHOLDS_CONFIG, type ThresholdsConfig } from "./threshold-config.js";
import { ThresholdRule } from "./thresholds.js";

/** The `rules` slice of the gateway config (plain data; zod schema in config.ts). */
export interface RulesConfig {
  thresholds: ThresholdsConfig;
  rateOfChange: RateOfChangeRuleConfig[];
  news2: News2Config;
  technical: TechnicalConfig;
  alarms: AlarmConfig;
  /** Which observation times may raise a live physiological alarm (staleness.ts). */
  staleness: StalenessConfig;
}

export const DEFAULT_RULES_CONFIG: RulesConfig = {
  thresholds: DEFAULT_THRESHOLDS_CONFIG,
  rateOfChange: DEFAULT_RATE_OF_CHANGE_CONFIG,
  news2: DEFAULT_NEWS2_CONFIG,
  technical: DEFAULT_TECHNICAL_CONFIG,
  alarms: DEFAULT_ALARM_CONFIG,
  staleness: DEFAULT_STALENESS_CONFIG,
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
  readonly #physiological: Rule[];
  /** NEWS2, then `#physiological`: for the inputs that are not readings (entries, ticks, release). */
  readonly #allPhysiological: Rule[];
  readonly #technicalRules: Rule[];
  readonly #onRuleError: (error: unknown, ruleId: string, input: RuleInput) => void;
  readonly #onListenerError: (error: unknown) => void;
  readonly #news2Listeners = new Set<News2Listener>();

  constructor(config: RulesConfig, options: RuleEngineOptions) {
    this.#clock = options.clock;
    this.#onRuleError = options.onRuleError ?? rethrowLater;
    const onListenerError = options.onListenerError ?? rethrowLater;
    this.#onListenerError = onListenerError;
    this.alarms = new AlarmManager(config.alarms, {
      clock: options.clock,
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
    this.#physiological = [
      new ThresholdRule(config.thresholds, config.staleness),
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
      const input: RuleInput = { type: "reading", reading };
      this.#run(this.#technicalRules, input);
      // [clinical.md §5.2 signal-quality gating] data from a sensor without contact, or that the device calls
      // unreliable, is not a patient value
      if (isSignalGated(reading.flags)) continue;
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

  /** Watches a bound device for silence from now on (call for every bound device at start-up). */
  watchDevice(deviceId: string, subjectId: string): void {
    this.#applyAll(this.#technical.watchDevice(deviceId, subjectId, this.#clock.now()));
  }

  /** Stops watching an unbound device and clears its technical conditions. */
  unwatchDevice(deviceId: string): void {
    this.#applyAll(this.#technical.unwatchDevice(deviceId));
  }

  /** Discharge/erasure: drops every rule's state for the subject and resolves its alerts, attributed to `by`. */
  releaseSubject(subjectId: string, by: string): void {
    for (const rule of [...this.#technicalRules, ...this.#allPhysiological]) rule.forgetSubject(subjectId);
    this.alarms.releaseSubject(subjectId, by);
    this.#tellNews2(subjectId, this.#clock.now(), true);
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

  /** Takes back the alerts persisted before a restart (see `AlarmManager.restore`); rule state starts afresh. */
  restoreAlerts(alerts: readonly RestorableAlert[]): RestoreResult {
    return this.alarms.restore(alerts);
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
    for (const u of updates) this.alarms.apply(u);
  }
}
