/**
 * The rule engine: feeds every input synchronously through the built-in rules and hands their condition
 * updates to the alarm manager, in memory, before and independent of storage [DESIGN.md "Alerts do not
 * wait"]. Physiological and technical rules are kept apart: a reading flagged `sensor_contact_lost` goes to
 * the technical rules only (signal-quality gating, clinical.md §5.2), and each alert carries its category.
 */
import type { Clock } from "../clock.js";
import type { DeviceStatusInput, Reading, RejectReason } from "../reading.js";
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
}

export const DEFAULT_RULES_CONFIG: RulesConfig = {
  thresholds: DEFAULT_THRESHOLDS_CONFIG,
  rateOfChange: DEFAULT_RATE_OF_CHANGE_CONFIG,
  news2: DEFAULT_NEWS2_CONFIG,
  technical: DEFAULT_TECHNICAL_CONFIG,
  alarms: DEFAULT_ALARM_CONFIG,
};

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
  readonly #physiological: Rule[];
  readonly #technicalRules: Rule[];
  readonly #onRuleError: (error: unknown, ruleId: string, input: RuleInput) => void;

  constructor(config: RulesConfig, options: RuleEngineOptions) {
    this.#clock = options.clock;
    this.#onRuleError = options.onRuleError ?? rethrowLater;
    const onListenerError = options.onListenerError ?? rethrowLater;
    this.alarms = new AlarmManager(config.alarms, {
      clock: options.clock,
      onListenerError,
      ...(options.newAlertId ? { newAlertId: options.newAlertId } : {}),
    });
    this.#news2 = new News2Rule(config.news2);
    this.#technical = new TechnicalRule(config.technical);
    const extra = options.extraRules ?? [];
    this.#physiological = [
      new ThresholdRule(config.thresholds),
      new RateOfChangeRule(config.rateOfChange),
      this.#news2,
      ...extra.filter((r) => r.category === "physiological"),
    ];
    this.#technicalRules = [this.#technical, ...extra.filter((r) => r.category === "technical")];
  }

  /** Evaluates one accepted reading. Call it before the reading is queued for storage. */
  onReading(reading: Reading): void {
    const input: RuleInput = { type: "reading", reading };
    this.#run(this.#technicalRules, input);
    // [clinical.md §5.2 signal-quality gating] data from a sensor without contact is not a patient value
    if (!reading.flags.includes("sensor_contact_lost")) this.#run(this.#physiological, input);
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
    this.#run(this.#physiological, { type: "clinician_observation", observation });
  }

  /** Time-based rules and alarm timers. Call at least once a second. */
  tick(): void {
    const input: RuleInput = { type: "tick", atMs: this.#clock.now() };
    this.#run(this.#technicalRules, input);
    this.#run(this.#physiological, input);
    this.alarms.tick();
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
    for (const rule of [...this.#technicalRules, ...this.#physiological]) rule.forgetSubject(subjectId);
    this.alarms.releaseSubject(subjectId, by);
  }

  /** The subject's current NEWS2 assessment (complete or incomplete with the missing parameters). */
  news2(subjectId: string): News2Assessment {
    return this.#news2.assess(subjectId, this.#clock.now());
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
    for (const rule of rules) {
      let updates: readonly ConditionUpdate[];
      try {
        updates = rule.evaluate(input, now);
      } catch (error) {
        this.#onRuleError(error, rule.id, input);
        continue;
      }
      this.#applyAll(updates);
    }
  }

  #applyAll(updates: readonly ConditionUpdate[]): void {
    for (const u of updates) this.alarms.apply(u);
  }
}
