/**
 * Threshold rules: one alert condition per (subject, vital, direction), raised after a persistence delay and
 * cleared with hysteresis [clinical.md §5.2]. Limits are a ward default plus a per-subject override.
 *
 * Only live patient values count [clinical.md §5.2 "Signal-quality gating"; staleness.ts]: a reading flagged
 * `sensor_contact_lost` or `signal_unreliable`, one observed outside the staleness horizon, or one older than a
 * reading of the same vital already judged from the same device (a backfill arriving after live data) neither
 * raises, holds nor clears a limit. Each is still stored; the technical rules say why it was left out.
 */
import { isSignalGated, type Reading, VITALS, type VitalKind } from "../reading.js";
import {
  type AlertPriority,
  type ConditionUpdate,
  conditionKey,
  maxPriority,
  type Rule,
  type RuleInput,
} from "./rule.js";
import { DEFAULT_STALENESS_CONFIG, isLive, type StalenessConfig } from "./staleness.js";
import {
  mergeVitalLimits,
  resolveLimits,
  type ThresholdsConfig,
  type ThresholdTier,
  type VitalLimits,
} from "./threshold-config.js";

type Direction = "low" | "high";

interface TierState {
  readonly tier: ThresholdTier;
  /** Start of the current uninterrupted violation, or null. */
  since: number | null;
  /** A questionable reading starts an unconfirmed run; any further violating reading confirms it. */
  isConfirmed: boolean;
  isActive: boolean;
  /** Since when the value has been back inside limit ± hysteresis while active, or null. */
  clearingSince: number | null;
}

interface DirectionState {
  readonly key: string;
  readonly ruleId: string;
  readonly direction: Direction;
  readonly kind: VitalKind;
  readonly subjectId: string;
  readonly limits: VitalLimits;
  /** Most severe first. */
  readonly tiers: TierState[];
  reported: AlertPriority | null;
  deviceId: string | null;
  lastValue: number;
  /** Observation time of `lastValue` (the value an alert names). */
  lastObservedAtMs: number | null;
  unit: string;
}

function assertLimits(kind: string, limits: VitalLimits): void {
  const ok = (n: number) => Number.isFinite(n) && n >= 0;
  if (!ok(limits.hysteresis) || !ok(limits.clearSec)) {
    throw new RangeError(`thresholds.${kind}: hysteresis and clearSec must be finite and >= 0`);
  }
  for (const tier of [...(limits.low ?? []), ...(limits.high ?? [])]) {
    if (!Number.isFinite(tier.limit) || !ok(tier.persistenceSec)) {
      throw new RangeError(`thresholds.${kind}: every tier needs a finite limit and persistenceSec >= 0`);
    }
  }
}

/** Throws RangeError unless a subject's limits, merged over the ward's, are well formed. */
function assertSubject(config: ThresholdsConfig, set: ThresholdsConfig["subjects"][string]): void {
  for (const [kind, own] of Object.entries(set)) {
    const limits = mergeVitalLimits(config.ward[kind as VitalKind], own);
    if (limits) assertLimits(kind, limits);
  }
}

/**
 * Threshold rule for every vital with limits. Persistence: a tier is raised once violated without
 * interruption for `persistenceSec` (the last value is held between readings; `tick` completes delays).
 * A tier is also raised at once when a more severe tier of the same direction is already active.
 * Questionable readings [clinical.md §6 "Flag"] cannot raise a medium/low tier until a further violating
 * reading confirms them; HIGH tiers still alarm on them.
 */
export class ThresholdRule implements Rule {
  readonly id = "thresholds";
  readonly category = "physiological" as const;
  #config: ThresholdsConfig;
  readonly #staleness: StalenessConfig;
  /** subjectId → key → state. */
  readonly #subjects = new Map<string, Map<string, DirectionState>>();
  /**
   * subjectId → `${kind} ${deviceId}` → newest observation time judged: older readings are not "now".
   * `isGatewayTimed`: stamped by the gateway clock (no device time), so moved with a clock step.
   */
  readonly #newest = new Map<string, Map<string, { atMs: number; isGatewayTimed: boolean }>>();

  constructor(config: ThresholdsConfig, staleness: StalenessConfig = DEFAULT_STALENESS_CONFIG) {
    for (const [kind, limits] of Object.entries(config.ward)) if (limits) assertLimits(kind, limits);
    for (const set of Object.values(config.subjects)) assertSubject(config, set);
    this.#config = config;
    this.#staleness = staleness;
  }

  /**
   * A subject's limits changed while the gateway runs (a clinician's change, subject-limits.ts): `config` is
   * the whole table with the change, whose ward is this rule's. Each of the subject's directions is judged
   * again at once on its last value under the new limits: still violated, it stays active with the new
   * limit's priority and text (at the same priority, an `update`); no longer violated, or its limits turned
   * off, it clears saying so (`note` names the change), ended by the change: the alarm manager skips the
   * clear hold, so a non-latching alarm resolves at once and a HIGH one latches at once, with no further
   * escalation step. A direction not seen yet takes the new limits at its first reading.
   */
  updateSubject(config: ThresholdsConfig, subjectId: string, nowMs: number, note: string): ConditionUpdate[] {
    assertSubject(config, config.subjects[subjectId] ?? {});
    this.#config = config;
    const states = this.#subjects.get(subjectId);
    if (!states) return [];
    const out: ConditionUpdate[] = [];
    for (const [key, old] of [...states]) {
      states.delete(key);
      const next = this.#state(subjectId, old.kind, old.direction);
      if (!next) {
        if (old.reported !== null)
          out.push({
            type: "clear",
            key,
            reason: `${VITALS[old.kind].display}: no ${old.direction} limit any more (${note})`,
            isEndedByChange: true,
          });
        continue;
      }
      Object.assign(next, {
        reported: old.reported,
        deviceId: old.deviceId,
        lastValue: old.lastValue,
        lastObservedAtMs: old.lastObservedAtMs,
        unit: old.unit,
      });
      if (old.lastObservedAtMs === null) continue;
      const v = old.lastValue;
      for (const ts of next.tiers) {
        if (!(old.direction === "low" ? v < ts.tier.limit : v > ts.tier.limit)) continue;
        // a violation already alarming goes on under the new limit; one that was not yet raised starts its delay now
        ts.since = nowMs;
        ts.isConfirmed = true;
        ts.isActive = old.reported !== null;
      }
      this.#settle(next, nowMs, out, note);
    }
    return out;
  }

  evaluate(input: RuleInput, nowMs: number): readonly ConditionUpdate[] {
    if (input.type === "reading") {
      return this.#isCurrent(input.reading, nowMs) ? this.#onReading(input.reading) : [];
    }
    if (input.type !== "tick") return [];
    const out: ConditionUpdate[] = [];
    for (const states of this.#subjects.values()) {
      for (const s of states.values()) this.#settle(s, nowMs, out);
    }
    return out;
  }

  forgetSubject(subjectId: string): void {
    this.#subjects.delete(subjectId);
    this.#newest.delete(subjectId);
  }

  /**
   * Whether a reading describes the patient now: a patient value (not gated), live, and not older than what
   * its device already told about the same vital. Records the newest observation time judged.
   */
  #isCurrent(r: Reading, nowMs: number): boolean {
    if (isSignalGated(r.flags) || !isLive(r, nowMs, this.#staleness)) return false;
    let newest = this.#newest.get(r.subjectId);
    if (!newest) {
      newest = new Map();
      this.#newest.set(r.subjectId, newest);
    }
    const key = `${r.kind} ${r.deviceId}`;
    const seen = newest.get(key);
    if (seen !== undefined && r.observedAtMs < seen.atMs) return false;
    newest.set(key, { atMs: r.observedAtMs, isGatewayTimed: r.deviceTimeMs === null });
    return true;
  }

  /**
   * The gateway clock was stepped (clock.ts): persistence and clear timers, which run on receive times, and the
   * newest receipt-timed observation move with it, so a step back neither holds an alarm off nor makes the next
   * reading look older than one already judged, and a step forward completes no delay early. A device's own
   * observation times did not step.
   */
  clockStepped(deltaMs: number): void {
    for (const states of this.#subjects.values()) {
      for (const s of states.values()) {
        for (const ts of s.tiers) {
          if (ts.since !== null) ts.since += deltaMs;
          if (ts.clearingSince !== null) ts.clearingSince += deltaMs;
        }
      }
    }
    for (const newest of this.#newest.values())
      for (const seen of newest.values()) if (seen.isGatewayTimed) seen.atMs += deltaMs;
  }

  #onReading(reading: Reading): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    for (const direction of ["low", "high"] as const) {
      const s = this.#state(reading.subjectId, reading.kind, direction);
      if (!s) continue;
      const t = reading.receivedAtMs;
      const v = reading.value;
      const isQuestionable = reading.flags.includes("questionable");
      s.deviceId = reading.deviceId;
      s.lastValue = v;
      s.lastObservedAtMs = reading.observedAtMs;
      s.unit = reading.unit;
      for (const ts of s.tiers) {
        const isViolated = direction === "low" ? v < ts.tier.limit : v > ts.tier.limit;
        if (isViolated) {
          ts.clearingSince = null;
          if (ts.since === null) {
            ts.since = t;
            ts.isConfirmed = !isQuestionable;
          } else {
            ts.isConfirmed = true;
          }
          continue;
        }
        ts.since = null;
        ts.isConfirmed = false;
        if (!ts.isActive) continue;
        const h = s.limits.hysteresis;
        const isInside = direction === "low" ? v >= ts.tier.limit + h : v <= ts.tier.limit - h;
        if (!isInside) ts.clearingSince = null;
        else if (ts.clearingSince === null) ts.clearingSince = t;
      }
      this.#settle(s, t, out);
    }
    return out;
  }

  #state(subjectId: string, kind: VitalKind, direction: Direction): DirectionState | undefined {
    const ruleId = `threshold.${kind}.${direction}`;
    const key = conditionKey(subjectId, ruleId);
    let states = this.#subjects.get(subjectId);
    const existing = states?.get(key);
    if (existing) return existing;
    const limits = resolveLimits(this.#config, subjectId, kind);
    const tiers = limits?.[direction];
    if (!limits || !tiers || tiers.length === 0) return undefined;
    // Most severe first: the lowest low limit, the highest high limit.
    const sorted = [...tiers].sort((a, b) => (direction === "low" ? a.limit - b.limit : b.limit - a.limit));
    const s: DirectionState = {
      key,
      ruleId,
      direction,
      kind,
      subjectId,
      limits,
      tiers: sorted.map((tier) => ({
        tier,
        since: null,
        isConfirmed: false,
        isActive: false,
        clearingSince: null,
      })),
      reported: null,
      deviceId: null,
      lastValue: Number.NaN,
      lastObservedAtMs: null,
      unit: "",
    };
    if (!states) {
      states = new Map();
      this.#subjects.set(subjectId, states);
    }
    states.set(key, s);
    return s;
  }

  /**
   * Applies persistence and clear timers at `nowMs` and reports a change of the direction's priority. With
   * `changeNote` (the subject's limits just changed, `updateSubject`): a clear is ended by that change (no
   * clear hold: docs/alerting.md "A patient's own limits"), and an alarm still active at the same priority is
   * reported again with the new limit's text, tracked as an `update` (its old limit no longer applies).
   */
  #settle(s: DirectionState, nowMs: number, out: ConditionUpdate[], changeNote?: string): void {
    let isMoreSevereActive = false;
    let priority: AlertPriority | null = null;
    let worst: ThresholdTier | null = null;
    for (const ts of s.tiers) {
      if (!ts.isActive) {
        const isEligible = ts.since !== null && (ts.isConfirmed || ts.tier.priority === "high");
        if (isEligible && (isMoreSevereActive || nowMs - ts.since! >= ts.tier.persistenceSec * 1000)) {
          ts.isActive = true;
          ts.clearingSince = null;
        }
      } else if (ts.clearingSince !== null && nowMs - ts.clearingSince >= s.limits.clearSec * 1000) {
        ts.isActive = false;
        ts.clearingSince = null;
      }
      if (ts.isActive) {
        isMoreSevereActive = true;
        worst ??= ts.tier;
        priority = priority === null ? ts.tier.priority : maxPriority(priority, ts.tier.priority);
      }
    }
    const isChange = changeNote !== undefined;
    if (priority === s.reported && !(isChange && priority !== null)) return;
    s.reported = priority;
    const spec = VITALS[s.kind];
    const unit = s.unit;
    if (priority === null || worst === null) {
      out.push(
        isChange
          ? {
              type: "clear",
              key: s.key,
              reason: `${spec.display} ${s.lastValue} ${unit} within the new limits (${changeNote})`,
              isEndedByChange: true,
            }
          : {
              type: "clear",
              key: s.key,
              reason: `${spec.display} back within limits (${s.lastValue} ${unit})`,
            },
      );
      return;
    }
    const word = s.direction === "low" ? "below" : "above";
    out.push({
      type: "active",
      condition: {
        key: s.key,
        ruleId: s.ruleId,
        subjectId: s.subjectId,
        deviceId: s.deviceId,
        priority,
        category: "physiological",
        reason: `${spec.display} ${s.lastValue} ${unit} ${word} limit ${worst.limit} ${unit}`,
        observedAtMs: s.lastObservedAtMs,
        // the same priority under new limits: the alarm manager shows the new text as an `update`
        ...(isChange ? { isReasonTracked: true } : {}),
      },
    });
  }
}
