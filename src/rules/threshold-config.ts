/**
 * Threshold configuration (plain data for the YAML schema) and the adult ward defaults. The rule itself is in
 * thresholds.ts.
 */
import { VITAL_KINDS, type VitalKind } from "../reading.js";
import type { AlertPriority } from "./rule.js";

/** One limit of a vital. Values are in the vital's canonical UCUM unit (reading.ts `VITALS`). */
export interface ThresholdTier {
  /** Strict limit: a low tier is violated when value < limit, a high tier when value > limit. */
  limit: number;
  priority: AlertPriority;
  /** Alarm-condition delay: the violation must hold this long before it is raised [clinical.md §5.2]. */
  persistenceSec: number;
}

/** The limits of one vital. Tiers of a direction share one alert whose priority is the worst active tier. */
export interface VitalLimits {
  /**
   * `false` turns the vital's threshold alarms off; absent means on. Only this switch turns a limit off: a
   * vital or field left out of an override keeps the limits beneath it (built-in default → ward → subject).
   */
  enabled?: boolean | undefined;
  /**
   * An empty list is an explicit "no limit in this direction" (config.ts allows it over a direction beneath
   * only in the ward; a subject turns a vital off with `enabled: false`).
   */
  low?: ThresholdTier[] | undefined;
  high?: ThresholdTier[] | undefined;
  /** Clear only once the value is back inside the limit by this margin (canonical unit) … */
  hysteresis: number;
  /** … and has stayed there this long. */
  clearSec: number;
}

/** Limits per vital; a vital without an entry (or with `enabled: false`) has no threshold rule. */
export type ThresholdSet = Partial<Record<VitalKind, VitalLimits>>;

/** An override of one vital: any of its fields; absent fields come from the level beneath. */
export type VitalOverride = Partial<VitalLimits>;

/** Overrides per vital (a ward's over the built-in defaults, a subject's over the ward). */
export type ThresholdOverrideSet = Partial<Record<VitalKind, VitalOverride>>;

/**
 * Threshold configuration (plain data, part of the YAML schema). `ward` is the ward's table already merged
 * over the built-in defaults (config.ts merges it with `mergeThresholdSet`); a subject's entry for a vital is
 * merged field by field over the ward entry, so overriding `low` keeps the ward's `high`.
 */
export interface ThresholdsConfig {
  ward: ThresholdSet;
  /** Per-subject overrides, keyed by subject id. */
  subjects: Record<string, ThresholdOverrideSet>;
}

/**
 * Adult ward defaults. Engineering choices, to be reviewed by the clinical lead: SpO2 low at 88 % (Johns
 * Hopkins cut SpO2 alarms by 63 % moving 90→88, Welch 2011) with a 15 s delay (Rheineck: −60 % alarms);
 * HIGH tiers get short delays; spot-check vitals (BP, temperature) none [clinical.md §5.2].
 */
const RATE_LIMITS = {
  low: [
    { limit: 40, priority: "medium", persistenceSec: 10 },
    { limit: 30, priority: "high", persistenceSec: 5 },
  ],
  high: [
    { limit: 130, priority: "medium", persistenceSec: 15 },
    { limit: 160, priority: "high", persistenceSec: 10 },
  ],
  hysteresis: 5,
  clearSec: 5,
} as const satisfies ThresholdsConfig["ward"]["heart_rate"];

export const DEFAULT_THRESHOLDS_CONFIG: ThresholdsConfig = {
  ward: {
    spo2: {
      low: [
        { limit: 88, priority: "medium", persistenceSec: 15 },
        { limit: 85, priority: "high", persistenceSec: 5 },
      ],
      hysteresis: 1,
      clearSec: 5,
    },
    // heart rate (ECG) and pulse rate (oximeter, cuff) alarm alike
    heart_rate: RATE_LIMITS,
    pulse_rate: RATE_LIMITS,
    respiratory_rate: {
      low: [{ limit: 8, priority: "medium", persistenceSec: 15 }],
      high: [
        { limit: 25, priority: "medium", persistenceSec: 30 },
        { limit: 35, priority: "high", persistenceSec: 15 },
      ],
      hysteresis: 2,
      clearSec: 10,
    },
    bp_systolic: {
      low: [
        { limit: 90, priority: "medium", persistenceSec: 0 },
        { limit: 70, priority: "high", persistenceSec: 0 },
      ],
      high: [{ limit: 220, priority: "medium", persistenceSec: 0 }],
      hysteresis: 5,
      clearSec: 0,
    },
    body_temperature: {
      low: [{ limit: 35, priority: "medium", persistenceSec: 0 }],
      high: [{ limit: 39, priority: "low", persistenceSec: 0 }],
      hysteresis: 0.2,
      clearSec: 0,
    },
  },
  subjects: {},
};

/** The fields of a vital's limits, in the order they are shown. */
export const LIMIT_FIELDS = ["enabled", "low", "high", "hysteresis", "clearSec"] as const;
export type LimitField = (typeof LIMIT_FIELDS)[number];

/**
 * `own` merged field by field over `base`: a field `own` does not give (absent or undefined) is `base`'s.
 * Undefined when neither exists. A vital with no base gets hysteresis and clearSec 0 unless it gives them
 * (config.ts requires them there, so only a programmatic config meets that fallback).
 */
export function mergeVitalLimits(
  base: VitalLimits | undefined,
  own: VitalOverride | undefined,
): VitalLimits | undefined {
  if (!base && !own) return undefined;
  const merged: VitalLimits = { hysteresis: 0, clearSec: 0, ...base };
  for (const field of LIMIT_FIELDS) {
    const value = own?.[field];
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[field] = value;
  }
  return merged;
}

/**
 * A ward's table: every vital of `overrides` merged field by field over its entry in `base` (the built-in
 * defaults), every vital it does not name kept as in `base`. Leaving a vital out never removes its limits.
 */
export function mergeThresholdSet(base: ThresholdSet, overrides: ThresholdOverrideSet): ThresholdSet {
  const out: ThresholdSet = {};
  for (const kind of VITAL_KINDS) {
    const merged = mergeVitalLimits(base[kind], overrides[kind]);
    if (merged) out[kind] = merged;
  }
  return out;
}

/** A subject's own overrides (none for an unknown subject, whatever its id). */
function overridesOf(config: ThresholdsConfig, subjectId: string | null): ThresholdOverrideSet | undefined {
  return subjectId !== null && Object.hasOwn(config.subjects, subjectId)
    ? config.subjects[subjectId]
    : undefined;
}

/**
 * Resolves a subject's limits for a vital: the override merged field by field over the ward entry.
 * Undefined when neither has the vital or when the result is turned off (`enabled: false`).
 */
export function resolveLimits(
  config: ThresholdsConfig,
  subjectId: string,
  kind: VitalKind,
): VitalLimits | undefined {
  const limits = mergeVitalLimits(config.ward[kind], overridesOf(config, subjectId)?.[kind]);
  return limits?.enabled === false ? undefined : limits;
}

/** Where a field of an effective limit comes from. */
export type LimitSource = "default" | "ward" | "subject";

/** One vital's limits in force for a subject or for the ward, every field explicit. */
export interface EffectiveVitalLimits {
  kind: VitalKind;
  enabled: boolean;
  /** Most severe first (lowest limit first). */
  low: ThresholdTier[];
  /** Most severe first (highest limit first). */
  high: ThresholdTier[];
  hysteresis: number;
  clearSec: number;
  /** `default`: as built in; `ward`: the ward's table differs from the built-in value; `subject`: the subject's override. */
  source: Record<LimitField, LimitSource>;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function mostSevereFirst(
  tiers: readonly ThresholdTier[] | undefined,
  direction: "low" | "high",
): ThresholdTier[] {
  const sign = direction === "low" ? 1 : -1;
  return (tiers ?? [])
    .map(({ limit, priority, persistenceSec }) => ({ limit, priority, persistenceSec }))
    .sort((a, b) => sign * (a.limit - b.limit));
}

/**
 * The limits in force after merging, for `subjectId` or (null) for the ward: one entry per vital that has
 * limits at any level, turned-off ones included, in `VITAL_KINDS` order. What `vitalog rules show` prints
 * and what the `rules_in_force` log event records.
 */
export function effectiveThresholds(
  config: ThresholdsConfig,
  subjectId: string | null,
): EffectiveVitalLimits[] {
  const own = overridesOf(config, subjectId);
  const out: EffectiveVitalLimits[] = [];
  for (const kind of VITAL_KINDS) {
    const ward = config.ward[kind];
    const limits = mergeVitalLimits(ward, own?.[kind]);
    if (!limits) continue;
    const effective = {
      enabled: limits.enabled !== false,
      low: mostSevereFirst(limits.low, "low"),
      high: mostSevereFirst(limits.high, "high"),
      hysteresis: limits.hysteresis,
      clearSec: limits.clearSec,
    };
    const builtIn = DEFAULT_THRESHOLDS_CONFIG.ward[kind];
    const asBuiltIn: Record<LimitField, unknown> | undefined = builtIn && {
      enabled: true,
      low: mostSevereFirst(builtIn.low, "low"),
      high: mostSevereFirst(builtIn.high, "high"),
      hysteresis: builtIn.hysteresis,
      clearSec: builtIn.clearSec,
    };
    const source = {} as Record<LimitField, LimitSource>;
    for (const field of LIMIT_FIELDS) {
      if (own?.[kind]?.[field] !== undefined) source[field] = "subject";
      else source[field] = asBuiltIn && same(asBuiltIn[field], effective[field]) ? "default" : "ward";
    }
    out.push({ kind, ...effective, source });
  }
  return out;
}

/** `own` merged field by field over `base`, two overrides of one vital (a field `own` leaves out is `base`'s). */
export function mergeVitalOverride(
  base: VitalOverride | undefined,
  own: VitalOverride | undefined,
): VitalOverride {
  const merged: VitalOverride = { ...base };
  for (const field of LIMIT_FIELDS) {
    const value = own?.[field];
    if (value !== undefined) (merged as Record<string, unknown>)[field] = value;
  }
  return merged;
}

/**
 * The thresholds with each subject's stored limit changes (subject-limits.ts) merged per vital and per field
 * over that subject's overrides from the config file: the change made at the bedside wins over the file, and
 * what it leaves out stays as the file (then the ward, then the built-in defaults) says.
 */
export function withStoredOverrides(
  config: ThresholdsConfig,
  stored: Readonly<Record<string, ThresholdOverrideSet>>,
): ThresholdsConfig {
  const subjects: Record<string, ThresholdOverrideSet> = { ...config.subjects };
  for (const [subjectId, set] of Object.entries(stored)) {
    const own: ThresholdOverrideSet = { ...overridesOf(config, subjectId) };
    for (const [kind, o] of Object.entries(set) as [VitalKind, VitalOverride][]) {
      own[kind] = mergeVitalOverride(own[kind], o);
    }
    subjects[subjectId] = own;
  }
  return { ward: config.ward, subjects };
}
