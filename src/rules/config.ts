/**
 * The zod schema of the `rules` config slice, embedded in the gateway's YAML schema (src/config.ts). It yields
 * exactly `RulesConfig` (checked at compile time below) and reports every problem with its path.
 *
 * Configuration cannot silently drop an alarm:
 * - Every object is strict: an unknown key, at any depth (a typo such as `alarm:` for `alarms:`), is an error.
 * - `thresholds.ward` is an override of the built-in adult defaults, merged per vital and per field
 *   (threshold-config.ts `mergeThresholdSet`): naming SpO2 alone keeps the heart-rate and respiratory-rate
 *   limits, and giving `low` alone keeps the vital's `high`, `hysteresis` and `clearSec`. A subject's entry is
 *   merged the same way over the ward's.
 * - `rateOfChange` is merged over the built-in rules by `id`, field by field.
 * - Only an explicit `enabled: false` turns a built-in limit or rule off (an empty tier list, `low: []`, is an
 *   explicit "no limit in this direction").
 * Each section's cross-field checks run with the section itself, so a problem in one section does not hide
 * the problems of another.
 */
import { z } from "zod";
import { SUBJECT_ID_PATTERN } from "../identifiers.js";
import { VITAL_KINDS, type VitalKind } from "../reading.js";
import { DEFAULT_ALARM_CONFIG } from "./alert-event.js";
import { DEFAULT_CLOCK_HEALTH_CONFIG } from "./clock-health-rule.js";
import type { RulesConfig } from "./engine.js";
import { DEFAULT_NEWS2_CONFIG } from "./news2.js";
import { DEFAULT_RATE_OF_CHANGE_CONFIG, type RateOfChangeRuleConfig } from "./rate-of-change.js";
import { DEFAULT_STALENESS_CONFIG } from "./staleness.js";
import { DEFAULT_TECHNICAL_CONFIG } from "./technical.js";
import {
  DEFAULT_THRESHOLDS_CONFIG,
  mergeThresholdSet,
  mergeVitalLimits,
  type ThresholdSet,
  type VitalLimits,
} from "./threshold-config.js";

const priority = z.enum(["high", "medium", "low"]);
const seconds = z.number().finite().nonnegative();
const positiveSeconds = z.number().finite().positive();
const percent = z.number().finite().min(0).max(100);

/** Reports one problem at a path (the checks below are shared with the per-subject limit changes). */
export type Issue = (path: (string | number)[], message: string) => void;

const tier = z.strictObject({ limit: z.number().finite(), priority, persistenceSec: seconds });
/** One vital in an override: every field optional, absent fields come from the level beneath. */
export const vitalOverride = z.strictObject({
  enabled: z.boolean().optional(),
  low: z.array(tier).optional(),
  high: z.array(tier).optional(),
  hysteresis: z.number().finite().nonnegative().optional(),
  clearSec: seconds.optional(),
});
const overrideSet = z.partialRecord(z.enum(VITAL_KINDS), vitalOverride);

/** Every low limit below every high limit, in the limits a rule would use. */
export function checkLimitOrder(
  limits: VitalLimits | undefined,
  path: (string | number)[],
  issue: Issue,
): void {
  if (!limits) return;
  const highestLow = Math.max(...(limits.low ?? []).map((x) => x.limit));
  const lowestHigh = Math.min(...(limits.high ?? []).map((x) => x.limit));
  if (highestLow >= lowestHigh) issue(path, "every low limit must be below every high limit");
}

/**
 * A vital with nothing beneath it to merge over (no built-in default, or no ward entry for a subject) must
 * give its own hysteresis and clearSec, unless it is turned off.
 */
export function checkComplete(
  base: VitalLimits | undefined,
  own: Partial<VitalLimits>,
  path: (string | number)[],
  beneath: string,
  issue: Issue,
): void {
  if (base || own.enabled === false) return;
  for (const field of ["hysteresis", "clearSec"] as const) {
    if (own[field] === undefined) issue([...path, field], `required: there is no ${beneath} to take it from`);
  }
}

const wardThresholds = overrideSet.prefault({}).transform((own, ctx): ThresholdSet => {
  const issue: Issue = (path, message) => ctx.issues.push({ code: "custom", path, message, input: own });
  const base = DEFAULT_THRESHOLDS_CONFIG.ward;
  for (const [kind, o] of Object.entries(own) as [VitalKind, Partial<VitalLimits>][]) {
    checkComplete(base[kind], o, [kind], "built-in default for this vital", issue);
  }
  const merged = mergeThresholdSet(base, own);
  for (const kind of Object.keys(own) as VitalKind[]) checkLimitOrder(merged[kind], [kind], issue);
  return merged;
});

const thresholds = z
  .strictObject({
    ward: wardThresholds,
    subjects: z.record(z.string().regex(SUBJECT_ID_PATTERN, "must be a subject id"), overrideSet).default({}),
  })
  .prefault({})
  .superRefine(
    (t, ctx) => {
      const issue: Issue = (path, message) => ctx.addIssue({ code: "custom", path, message });
      for (const [id, set] of Object.entries(t.subjects)) {
        for (const [kind, own] of Object.entries(set) as [VitalKind, Partial<VitalLimits>][]) {
          const path = ["subjects", id, kind];
          checkComplete(t.ward[kind], own, path, "ward or built-in entry for this vital", issue);
          // checked as merged over the ward entry, which is what the rule will use
          checkLimitOrder(mergeVitalLimits(t.ward[kind], own), path, issue);
        }
      }
    },
    {
      // also beside the ward's own checks (custom issues): the subjects' problems are listed with them,
      // as long as the subjects parsed and the ward was merged
      when: (p) =>
        !p.issues.some((i) => i.path?.[0] === "subjects" || (i.path?.[0] === "ward" && i.code !== "custom")),
    },
  );

const RATE_FIELDS = ["kind", "direction", "delta", "withinSec", "priority", "persistenceSec"] as const;
/** One rate-of-change rule as written: a built-in one (by `id`) needs only the fields it changes. */
const rateOverride = z.strictObject({
  id: z.string().regex(/^[a-z0-9_]+$/, "snake_case id"),
  enabled: z.boolean().optional(),
  kind: z.enum(VITAL_KINDS).optional(),
  direction: z.enum(["drop", "rise"]).optional(),
  delta: z.number().finite().positive().optional(),
  withinSec: positiveSeconds.optional(),
  priority: priority.optional(),
  persistenceSec: seconds.optional(),
});

/**
 * The built-in rate-of-change rules with the configured ones merged over them by id, then the new ones in
 * the order given; `enabled: false` removes a rule.
 */
const rateOfChange = z
  .array(rateOverride)
  .prefault([])
  .transform((list, ctx): RateOfChangeRuleConfig[] => {
    const issue: Issue = (path, message) => ctx.issues.push({ code: "custom", path, message, input: list });
    const rules = new Map<string, RateOfChangeRuleConfig>(
      DEFAULT_RATE_OF_CHANGE_CONFIG.map((r) => [r.id, r]),
    );
    const seen = new Set<string>();
    list.forEach((own, i) => {
      if (seen.has(own.id)) issue([i, "id"], `duplicate rate-of-change id ${own.id}`);
      seen.add(own.id);
      if (own.enabled === false) {
        rules.delete(own.id);
        return;
      }
      const base = rules.get(own.id);
      const merged: Partial<RateOfChangeRuleConfig> = { ...base, id: own.id };
      for (const field of RATE_FIELDS) {
        if (own[field] !== undefined) (merged as Record<string, unknown>)[field] = own[field];
        else if (!base) issue([i, field], "required for a rule that is not built in");
      }
      rules.set(own.id, merged as RateOfChangeRuleConfig);
    });
    return [...rules.values()];
  });

const n2 = DEFAULT_NEWS2_CONFIG;
const news2 = z.strictObject({
  enabled: z.boolean().default(n2.enabled),
  maxAgeSec: z
    .strictObject({
      respiratory_rate: positiveSeconds,
      spo2: positiveSeconds,
      supplemental_oxygen: positiveSeconds,
      systolic_bp: positiveSeconds,
      pulse: positiveSeconds,
      consciousness: positiveSeconds,
      temperature: positiveSeconds,
    })
    .default(n2.maxAgeSec),
  bandPriority: z
    .strictObject({
      low: priority.nullable(),
      low_medium: priority.nullable(),
      medium: priority.nullable(),
      high: priority.nullable(),
    })
    .default(n2.bandPriority),
  redScoreAsMedium: z.boolean().default(n2.redScoreAsMedium),
  realarmOnRise: z.number().int().min(1).default(n2.realarmOnRise),
  persistSec: seconds.default(n2.persistSec),
});

const t = DEFAULT_TECHNICAL_CONFIG;
const window = z.strictObject({ count: z.number().int().min(1), windowSec: positiveSeconds, priority });
const technical = z
  .strictObject({
    silentDevice: z
      .strictObject({
        enabled: z.boolean().default(t.silentDevice.enabled),
        defaultExpectedIntervalSec: positiveSeconds.default(t.silentDevice.defaultExpectedIntervalSec),
        missedIntervals: z.number().finite().min(1).default(t.silentDevice.missedIntervals),
        priority: priority.default(t.silentDevice.priority),
      })
      .default(t.silentDevice),
    devices: z.record(z.string(), z.strictObject({ expectedIntervalSec: positiveSeconds })).default({}),
    sensorContact: z.strictObject({ priority, persistenceSec: seconds }).default(t.sensorContact),
    signalQuality: z.strictObject({ priority, persistenceSec: seconds }).default(t.signalQuality),
    dataNotLive: z.strictObject({ priority, persistenceSec: seconds }).default(t.dataNotLive),
    battery: z
      .strictObject({
        lowPct: percent,
        criticalPct: percent,
        hysteresisPct: percent,
        lowPriority: priority,
        criticalPriority: priority,
      })
      .default(t.battery),
    rejectBurst: window.default(t.rejectBurst),
    impossibleValues: window.default(t.impossibleValues),
  })
  .superRefine((c, ctx) => {
    if (c.battery.criticalPct >= c.battery.lowPct)
      ctx.addIssue({ code: "custom", path: ["battery", "criticalPct"], message: "must be below lowPct" });
  });

const a = DEFAULT_ALARM_CONFIG;
const step = z.strictObject({
  afterSec: positiveSeconds,
  recipient: z.string().min(1),
  raisePriority: z.boolean(),
});
const alarms = z
  .strictObject({
    clearHoldSec: seconds.default(a.clearHoldSec),
    latchingPriorities: z.array(priority).default(a.latchingPriorities),
    silence: z.strictObject({ defaultSec: positiveSeconds, maxSec: positiveSeconds }).default(a.silence),
    primaryRecipient: z.string().min(1).default(a.primaryRecipient),
    restoreConfirmSec: positiveSeconds.default(a.restoreConfirmSec),
    escalation: z
      .strictObject({ high: z.array(step), medium: z.array(step), low: z.array(step) })
      .default(a.escalation),
  })
  .superRefine((c, ctx) => {
    if (c.silence.defaultSec > c.silence.maxSec)
      ctx.addIssue({ code: "custom", path: ["silence", "defaultSec"], message: "must not exceed maxSec" });
  });

const st = DEFAULT_STALENESS_CONFIG;
/** Which observation times may raise a live physiological alarm (staleness.ts). */
const staleness = z.strictObject({
  maxAgeSec: positiveSeconds.default(st.maxAgeSec),
  maxFutureSec: seconds.default(st.maxFutureSec),
});

const ck = DEFAULT_CLOCK_HEALTH_CONFIG;
/** When the gateway clock raises a technical alarm (clock-health-rule.ts). */
const clock = z.strictObject({
  jumpToleranceSec: positiveSeconds.default(ck.jumpToleranceSec),
  jumpHoldSec: seconds.default(ck.jumpHoldSec),
  jumpPriority: priority.default(ck.jumpPriority),
  syncSource: z.enum(["auto", "timedatectl", "timesyncd", "none"]).default(ck.syncSource),
  syncCheckIntervalSec: positiveSeconds.default(ck.syncCheckIntervalSec),
  unsyncedAlarmAfterSec: seconds.default(ck.unsyncedAlarmAfterSec),
  unsyncedPriority: priority.default(ck.unsyncedPriority),
});

/** Schema of the `rules` slice; every section is optional and defaults to the built-in configuration. */
export const rulesConfigSchema = z.strictObject({
  thresholds,
  rateOfChange,
  news2: news2.default(DEFAULT_NEWS2_CONFIG),
  technical: technical.default(DEFAULT_TECHNICAL_CONFIG),
  alarms: alarms.default(DEFAULT_ALARM_CONFIG),
  staleness: staleness.default(DEFAULT_STALENESS_CONFIG),
  clock: clock.default(DEFAULT_CLOCK_HEALTH_CONFIG),
});

// Compile-time guarantee that the schema and the plain-data type never drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesType: Same<z.output<typeof rulesConfigSchema>, RulesConfig> = true;
void schemaMatchesType;
