/**
 * Threshold configuration (plain data for the YAML schema) and the adult ward defaults. The rule itself is in
 * thresholds.ts.
 */
import type { VitalKind } from "../reading.js";
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
  low?: ThresholdTier[] | undefined;
  high?: ThresholdTier[] | undefined;
  /** Clear only once the value is back inside the limit by this margin (canonical unit) … */
  hysteresis: number;
  /** … and has stayed there this long. */
  clearSec: number;
}

/** Limits per vital; a vital without an entry has no threshold rule. */
export type ThresholdSet = Partial<Record<VitalKind, VitalLimits>>;

/** A subject's overrides: any field of any vital; absent fields come from the ward entry. */
export type ThresholdOverrideSet = Partial<Record<VitalKind, Partial<VitalLimits>>>;

/**
 * Threshold configuration (plain data, part of the YAML schema). A subject's entry for a vital is merged
 * field by field over the ward entry, so overriding `low` keeps the ward's `high`.
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

/** Resolves a subject's limits for a vital: the override merged field by field over the ward default. */
export function resolveLimits(
  config: ThresholdsConfig,
  subjectId: string,
  kind: VitalKind,
): VitalLimits | undefined {
  const ward = config.ward[kind];
  const own = Object.hasOwn(config.subjects, subjectId) ? config.subjects[subjectId]?.[kind] : undefined;
  if (!ward && !own) return undefined;
  return { hysteresis: 0, clearSec: 0, ...ward, ...own };
}
