/**
 * The zod schema of the `rules` config slice, for the lead to embed in the gateway's YAML schema. It yields
 * exactly `RulesConfig` (checked at compile time below), applies `DEFAULT_RULES_CONFIG` for absent sections,
 * and reports cross-field problems with their paths (all of them, not the first).
 */
import { z } from "zod";
import { VITAL_KINDS } from "../reading.js";
import { DEFAULT_ALARM_CONFIG } from "./alert-event.js";
import { DEFAULT_RULES_CONFIG, type RulesConfig } from "./engine.js";
import { DEFAULT_NEWS2_CONFIG } from "./news2.js";
import { DEFAULT_TECHNICAL_CONFIG } from "./technical.js";
import type { ThresholdOverrideSet } from "./threshold-config.js";

const priority = z.enum(["high", "medium", "low"]);
const seconds = z.number().finite().nonnegative();
const positiveSeconds = z.number().finite().positive();
const percent = z.number().finite().min(0).max(100);

const tier = z.object({ limit: z.number().finite(), priority, persistenceSec: seconds });
const vitalLimits = z.object({
  low: z.array(tier).optional(),
  high: z.array(tier).optional(),
  hysteresis: z.number().finite().nonnegative(),
  clearSec: seconds,
});
const thresholdSet = z.partialRecord(z.enum(VITAL_KINDS), vitalLimits);

const rateRule = z.object({
  id: z.string().regex(/^[a-z0-9_]+$/, "snake_case id"),
  kind: z.enum(VITAL_KINDS),
  direction: z.enum(["drop", "rise"]),
  delta: z.number().finite().positive(),
  withinSec: positiveSeconds,
  priority,
  persistenceSec: seconds,
});

const n2 = DEFAULT_NEWS2_CONFIG;
const news2 = z.object({
  enabled: z.boolean().default(n2.enabled),
  maxAgeSec: z
    .object({
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
    .object({
      low: priority.nullable(),
      low_medium: priority.nullable(),
      medium: priority.nullable(),
      high: priority.nullable(),
    })
    .default(n2.bandPriority),
  redScoreAsMedium: z.boolean().default(n2.redScoreAsMedium),
});

const t = DEFAULT_TECHNICAL_CONFIG;
const window = z.object({ count: z.number().int().min(1), windowSec: positiveSeconds, priority });
const technical = z.object({
  silentDevice: z
    .object({
      enabled: z.boolean().default(t.silentDevice.enabled),
      defaultExpectedIntervalSec: positiveSeconds.default(t.silentDevice.defaultExpectedIntervalSec),
      missedIntervals: z.number().finite().min(1).default(t.silentDevice.missedIntervals),
      priority: priority.default(t.silentDevice.priority),
    })
    .default(t.silentDevice),
  devices: z.record(z.string(), z.object({ expectedIntervalSec: positiveSeconds })).default({}),
  sensorContact: z.object({ priority, persistenceSec: seconds }).default(t.sensorContact),
  battery: z
    .object({
      lowPct: percent,
      criticalPct: percent,
      hysteresisPct: percent,
      lowPriority: priority,
      criticalPriority: priority,
    })
    .default(t.battery),
  rejectBurst: window.default(t.rejectBurst),
  impossibleValues: window.default(t.impossibleValues),
});

const a = DEFAULT_ALARM_CONFIG;
const step = z.object({
  afterSec: positiveSeconds,
  recipient: z.string().min(1),
  raisePriority: z.boolean(),
});
const alarms = z.object({
  clearHoldSec: seconds.default(a.clearHoldSec),
  latchingPriorities: z.array(priority).default(a.latchingPriorities),
  silence: z.object({ defaultSec: positiveSeconds, maxSec: positiveSeconds }).default(a.silence),
  primaryRecipient: z.string().min(1).default(a.primaryRecipient),
  restoreConfirmSec: positiveSeconds.default(a.restoreConfirmSec),
  escalation: z
    .object({ high: z.array(step), medium: z.array(step), low: z.array(step) })
    .default(a.escalation),
});

/** Schema of the `rules` slice; every section is optional and defaults to `DEFAULT_RULES_CONFIG`. */
export const rulesConfigSchema = z
  .object({
    thresholds: z
      .object({
        ward: thresholdSet.default(DEFAULT_RULES_CONFIG.thresholds.ward),
        subjects: z
          .record(z.string(), z.partialRecord(z.enum(VITAL_KINDS), vitalLimits.partial()))
          .default({}),
      })
      .default(DEFAULT_RULES_CONFIG.thresholds),
    rateOfChange: z.array(rateRule).default(DEFAULT_RULES_CONFIG.rateOfChange),
    news2: news2.default(DEFAULT_NEWS2_CONFIG),
    technical: technical.default(DEFAULT_TECHNICAL_CONFIG),
    alarms: alarms.default(DEFAULT_ALARM_CONFIG),
  })
  .superRefine((c, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: "custom", path, message });
    const sets: [string[], ThresholdOverrideSet][] = [[["thresholds", "ward"], c.thresholds.ward]];
    for (const [id, set] of Object.entries(c.thresholds.subjects))
      sets.push([["thresholds", "subjects", id], set]);
    for (const [path, set] of sets) {
      for (const [kind, own] of Object.entries(set)) {
        if (!own) continue;
        // Checked as merged over the ward entry, which is what the rule will use.
        const limits = { ...c.thresholds.ward[kind as keyof typeof c.thresholds.ward], ...own };
        const highestLow = Math.max(...(limits.low ?? []).map((x) => x.limit));
        const lowestHigh = Math.min(...(limits.high ?? []).map((x) => x.limit));
        if (highestLow >= lowestHigh)
          issue([...path, kind], "every low limit must be below every high limit");
      }
    }
    const ids = new Set<string>();
    c.rateOfChange.forEach((r, i) => {
      if (ids.has(r.id)) issue(["rateOfChange", i, "id"], `duplicate rate-of-change id ${r.id}`);
      ids.add(r.id);
    });
    const b = c.technical.battery;
    if (b.criticalPct >= b.lowPct) issue(["technical", "battery", "criticalPct"], "must be below lowPct");
    const s = c.alarms.silence;
    if (s.defaultSec > s.maxSec) issue(["alarms", "silence", "defaultSec"], "must not exceed maxSec");
  });

// Compile-time guarantee that the schema and the plain-data type never drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesType: Same<z.output<typeof rulesConfigSchema>, RulesConfig> = true;
void schemaMatchesType;
