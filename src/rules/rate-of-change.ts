/**
 * Rate-of-change rules, e.g. "SpO2 falls by more than 5 % within 60 s": a trend alert that fires before an
 * absolute limit is crossed. Part of the threshold family (thresholds.ts holds the absolute limits).
 */
import { isSignalGated, type Reading, VITALS, type VitalKind } from "../reading.js";
import { type AlertPriority, type ConditionUpdate, conditionKey, type Rule, type RuleInput } from "./rule.js";
import { DEFAULT_STALENESS_CONFIG, isLive, type StalenessConfig } from "./staleness.js";

/** One rate-of-change rule (plain data, part of the YAML schema). */
export interface RateOfChangeRuleConfig {
  /** Stable id, snake_case, unique among rate rules; the condition key is `${subjectId}:rate.${id}`. */
  id: string;
  kind: VitalKind;
  direction: "drop" | "rise";
  /** Change (canonical unit) that must be exceeded, strictly, against the extreme of the window. */
  delta: number;
  /** Window length: the current value is compared with the highest (drop) or lowest (rise) value in it. */
  withinSec: number;
  priority: AlertPriority;
  /** The change must keep showing this long before the condition is raised. */
  persistenceSec: number;
}

/**
 * Default: a sustained SpO2 fall of more than 5 % within a minute. Not an artefact filter: a >10 % drop in 1 s
 * is artefact [clinical.md §6], hence the 10 s persistence, which a probe glitch does not survive.
 */
export const DEFAULT_RATE_OF_CHANGE_CONFIG: RateOfChangeRuleConfig[] = [
  {
    id: "spo2_drop",
    kind: "spo2",
    direction: "drop",
    delta: 5,
    withinSec: 60,
    priority: "medium",
    persistenceSec: 10,
  },
];

/** Bound on samples kept per window, whatever the device's rate. */
const MAX_WINDOW_SAMPLES = 2048;

interface WindowState {
  samples: { t: number; v: number }[];
  /**
   * Newest observation time judged per device: an older reading (a late backfill) is not "now".
   * `isGatewayTimed`: stamped by the gateway clock (no device time), so moved with a clock step.
   */
  newest: Map<string, { atMs: number; isGatewayTimed: boolean }>;
  since: number | null;
  isActive: boolean;
}

/**
 * Evaluates every configured rate rule on each reading of its vital. Questionable readings [clinical.md §6]
 * neither enter the window nor trigger a medium/low rule; a HIGH rule still evaluates them. Readings that are
 * no live patient value (flagged `sensor_contact_lost` or `signal_unreliable` [clinical.md §5.2], observed
 * outside the staleness horizon, or older than one already judged from the same device) are ignored: a probe
 * coming off, or a backfill of old values, is no change in the patient.
 */
export class RateOfChangeRule implements Rule {
  readonly id = "rate_of_change";
  readonly category = "physiological" as const;
  readonly #rules: readonly RateOfChangeRuleConfig[];
  readonly #staleness: StalenessConfig;
  /** `${subjectId}\0${ruleId}` → window. */
  readonly #windows = new Map<string, WindowState & { subjectId: string }>();

  constructor(
    rules: readonly RateOfChangeRuleConfig[],
    staleness: StalenessConfig = DEFAULT_STALENESS_CONFIG,
  ) {
    const ids = new Set<string>();
    for (const r of rules) {
      if (ids.has(r.id)) throw new RangeError(`rateOfChange: duplicate id ${r.id}`);
      ids.add(r.id);
      if (!(r.delta > 0) || !(r.withinSec > 0) || !(r.persistenceSec >= 0)) {
        throw new RangeError(`rateOfChange.${r.id}: delta and withinSec must be > 0, persistenceSec >= 0`);
      }
    }
    this.#rules = rules;
    this.#staleness = staleness;
  }

  evaluate(input: RuleInput, nowMs: number): readonly ConditionUpdate[] {
    if (input.type !== "reading") return [];
    const r = input.reading;
    if (isSignalGated(r.flags) || !isLive(r, nowMs, this.#staleness)) return [];
    const out: ConditionUpdate[] = [];
    for (const rule of this.#rules) {
      if (rule.kind === input.reading.kind) this.#apply(rule, input.reading, out);
    }
    return out;
  }

  /**
   * The gateway clock was stepped (clock.ts): the window's receive times, the persistence start and the newest
   * receipt-timed observation move with it. A device's own observation times did not step.
   */
  clockStepped(deltaMs: number): void {
    for (const w of this.#windows.values()) {
      for (const sample of w.samples) sample.t += deltaMs;
      if (w.since !== null) w.since += deltaMs;
      for (const seen of w.newest.values()) if (seen.isGatewayTimed) seen.atMs += deltaMs;
    }
  }

  forgetSubject(subjectId: string): void {
    for (const [k, w] of this.#windows) if (w.subjectId === subjectId) this.#windows.delete(k);
  }

  #apply(rule: RateOfChangeRuleConfig, reading: Reading, out: ConditionUpdate[]): void {
    const mapKey = `${reading.subjectId}\0${rule.id}`;
    let w = this.#windows.get(mapKey);
    if (!w) {
      w = { samples: [], newest: new Map(), since: null, isActive: false, subjectId: reading.subjectId };
      this.#windows.set(mapKey, w);
    }
    const newest = w.newest.get(reading.deviceId);
    if (newest !== undefined && reading.observedAtMs < newest.atMs) return;
    w.newest.set(reading.deviceId, {
      atMs: reading.observedAtMs,
      isGatewayTimed: reading.deviceTimeMs === null,
    });
    const t = reading.receivedAtMs;
    const v = reading.value;
    const horizon = t - rule.withinSec * 1000;
    while (w.samples.length > 0 && w.samples[0]!.t < horizon) w.samples.shift();
    const isQuestionable = reading.flags.includes("questionable");
    if (isQuestionable && rule.priority !== "high") return;

    let ref = Number.NaN;
    for (const s of w.samples) {
      if (Number.isNaN(ref) || (rule.direction === "drop" ? s.v > ref : s.v < ref)) ref = s.v;
    }
    const change = rule.direction === "drop" ? ref - v : v - ref;
    const isHit = !Number.isNaN(ref) && change > rule.delta;
    const key = conditionKey(reading.subjectId, `rate.${rule.id}`);
    const spec = VITALS[rule.kind];
    if (isHit) {
      w.since ??= t;
      if (!w.isActive && t - w.since >= rule.persistenceSec * 1000) {
        w.isActive = true;
        const verb = rule.direction === "drop" ? "fell" : "rose";
        out.push({
          type: "active",
          condition: {
            key,
            ruleId: `rate.${rule.id}`,
            subjectId: reading.subjectId,
            deviceId: reading.deviceId,
            priority: rule.priority,
            category: "physiological",
            reason: `${spec.display} ${verb} from ${ref} to ${v} ${reading.unit} within ${rule.withinSec} s`,
            observedAtMs: reading.observedAtMs,
          },
        });
      }
    } else {
      w.since = null;
      if (w.isActive) {
        w.isActive = false;
        out.push({ type: "clear", key, reason: `${spec.display} no longer changing faster than the limit` });
      }
    }
    if (!isQuestionable) {
      w.samples.push({ t, v });
      if (w.samples.length > MAX_WINDOW_SAMPLES) w.samples.shift();
    }
  }
}
