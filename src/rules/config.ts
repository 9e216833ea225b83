/**
 * The zod schema of the `rules` config slice, embedded in the gateway's YAML schema (src/config.ts). It yields
 * the validator and, inferred from it, the `RulesConfig` type, and reports every problem with its path.
 *
 * Configuration cannot silently drop an alarm:
 * - Every object is strict: an unknown key, at any depth (a typo such as `alarm:` for `alarms:`), is an error.
 * - `thresholds.ward` is an override of the built-in adult defaults, merged per vital and per field
 *   (threshold-config.ts `mergeThresholdSet`): naming SpO2 alone keeps the heart-rate and respiratory-rate
 *   limits, and giving `low` alone keeps the vital's `high`, `hysteresis` and `clearSec`. A subject's entry is
 *   merged the same way over the ward's.
 * - `rateOfChange` is merged over the built-in rules by `id`, field by field.
 * - Only an explicit `enabled: false` turns a built-in limit or rule off (in the ward, an empty tier list,
 *   `low: []`, is an explicit "no limit in this direction"; a subject may not empty a direction its ward
 *   defines, `checkNoDirectionRemoved`).
 * - Delays, clear times and hysteresis are bounded (`MAX_PERSISTENCE_SEC`, `MAX_CLEAR_SEC`, `maxHysteresis`),
 *   and limits lie inside the physiologic range: the same checks hold a clinician's change at the bedside
 *   (subject-limits.ts).
 * Each section's cross-field checks run with the section itself, so a problem in one section does not hide
 * the problems of another.
 */
import { z } from "zod";
import { onceParsed } from "../config-sections.js";
import { SUBJECT_ID_PATTERN } from "../identifiers.js";
import { VITAL_KINDS, VITALS, type VitalKind } from "../reading.js";
import { DEFAULT_ALARM_CONFIG } from "./alert-event.js";
import { DEFAULT_CLOCK_HEALTH_CONFIG } from "./clock-health-rule.js";
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

/**
 * Longest alarm-condition delay of a limit. Local engineering choice, to be reviewed: the delays studied run
 * 10–60 s [clinical.md §5.2, Lansdowne 2016]; a violation held for minutes is no artefact, and a longer delay
 * is an alarm that in practice never sounds.
 */
export const MAX_PERSISTENCE_SEC = 300;
/**
 * Longest time a value must stay back inside its limit before the condition clears. Local engineering
 * choice, to be reviewed: beyond 10 min an ended condition would keep the alarm, and its escalation, going.
 */
export const MAX_CLEAR_SEC = 600;
/**
 * Largest hysteresis, as a fraction of the vital's plausible range (its "confirm" band, clinical.md §6, or
 * its hard range when it has none). Local engineering choice, to be reviewed: the margins clinical.md §5.2
 * gives (SpO2 1 %, heart rate 5 /min) are a few percent of that range; a wider one is a limit that never clears.
 */
export const MAX_HYSTERESIS_FRACTION = 0.1;

const tier = z.strictObject({
  limit: z
    .number()
    .finite()
    .describe(
      "Strict limit in the vital's canonical UCUM unit: a low tier is violated when value < limit, a high tier " +
        "when value > limit. Strictly inside the vital's physiologic range; every low limit below every high limit.",
    ),
  priority: priority.describe("Priority of the alert while this tier is the worst one violated."),
  persistenceSec: seconds
    .max(MAX_PERSISTENCE_SEC, `at most ${MAX_PERSISTENCE_SEC} s`)
    .describe(
      "Alarm-condition delay: the violation must hold this long before it is raised [clinical.md §5.2].",
    ),
});
const tiers = (direction: string) =>
  z
    .array(tier)
    .optional()
    .describe(
      `The ${direction} limits; the tiers of a direction share one alert whose priority is the worst active tier. ` +
        "`[]` (in the ward only) means no limit in this direction.",
    );
/** One vital in an override: every field optional, absent fields come from the level beneath. */
export const vitalOverride = z.strictObject({
  enabled: z
    .boolean()
    .optional()
    .describe("`false` turns the vital's threshold alarms off; the only switch that does. Absent: on."),
  low: tiers("low"),
  high: tiers("high"),
  hysteresis: z
    .number()
    .finite()
    .nonnegative()
    .optional()
    .describe(
      "Clear only once the value is back inside the limit by this margin (canonical unit); at most a tenth of " +
        "the vital's plausible range.",
    ),
  clearSec: seconds
    .max(MAX_CLEAR_SEC, `at most ${MAX_CLEAR_SEC} s`)
    .optional()
    .describe("… and has stayed there this long."),
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

/** The largest hysteresis a vital's limits may have (see {@link MAX_HYSTERESIS_FRACTION}). */
export function maxHysteresis(kind: VitalKind): number {
  const spec = VITALS[kind];
  const bands = Object.values(spec.confirm).map((b) => ({ min: b.low, max: b.high }));
  const ranges = bands.length > 0 ? bands : Object.values(spec.hard);
  const span = Math.max(...ranges.map((r) => r.max - r.min));
  return Number.isFinite(span) ? span * MAX_HYSTERESIS_FRACTION : Number.POSITIVE_INFINITY;
}

/**
 * The limits a rule would use stay within what can alarm and clear: every limit strictly inside the vital's
 * physiologic hard range (a value at or beyond it is rejected as impossible, clinical.md §6, so a limit there
 * never sounds), and a hysteresis no wider than {@link maxHysteresis}.
 */
export function checkLimitBounds(
  kind: VitalKind,
  limits: VitalLimits | undefined,
  path: (string | number)[],
  issue: Issue,
): void {
  if (!limits) return;
  const hard = Object.values(VITALS[kind].hard);
  const min = Math.min(...hard.map((h) => h.min));
  const max = Math.max(...hard.map((h) => h.max));
  for (const dir of ["low", "high"] as const) {
    for (const t of limits[dir] ?? []) {
      if (!(t.limit > min && t.limit < max))
        issue([...path, dir], `limit ${t.limit} is outside the physiologic range (${min}, ${max})`);
    }
  }
  const h = maxHysteresis(kind);
  if (limits.hysteresis > h)
    issue(
      [...path, "hysteresis"],
      `at most ${Number(h.toFixed(2))} for ${kind} (a wider margin never clears)`,
    );
}

/**
 * A subject's override may not empty a direction whose limits the ward (or the built-in defaults beneath it)
 * defines: a limit is moved by giving new tiers, and a vital's alarms are stopped only by `enabled: false`,
 * which every screen shows as "off". An override that turns the vital off may say anything.
 */
export function checkNoDirectionRemoved(
  ward: VitalLimits | undefined,
  own: Partial<VitalLimits>,
  path: (string | number)[],
  issue: Issue,
): void {
  if (own.enabled === false || (own.enabled === undefined && ward?.enabled === false)) return;
  for (const dir of ["low", "high"] as const) {
    if (own[dir]?.length === 0 && (ward?.[dir]?.length ?? 0) > 0)
      issue(
        [...path, dir],
        `removes the ward's ${dir} limits: give new tiers to move them, or enabled: false to turn this vital's alarms off`,
      );
  }
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

const wardThresholds = overrideSet
  .meta({
    keyName: "vital",
    description:
      "The ward's limits per vital, merged per vital and per field over the built-in adult table " +
      "(docs/alerting.md): a vital or field left out keeps its default. A vital without a built-in entry gives " +
      "its own `hysteresis` and `clearSec`. A ward's limits are a clinical decision.",
  })
  .prefault({})
  .transform((own, ctx): ThresholdSet => {
    const issue: Issue = (path, message) => ctx.issues.push({ code: "custom", path, message, input: own });
    const base = DEFAULT_THRESHOLDS_CONFIG.ward;
    for (const [kind, o] of Object.entries(own) as [VitalKind, Partial<VitalLimits>][]) {
      checkComplete(base[kind], o, [kind], "built-in default for this vital", issue);
    }
    const merged = mergeThresholdSet(base, own);
    for (const kind of Object.keys(own) as VitalKind[]) {
      checkLimitOrder(merged[kind], [kind], issue);
      checkLimitBounds(kind, merged[kind], [kind], issue);
    }
    return merged;
  });

const thresholds = z
  .strictObject({
    ward: wardThresholds,
    subjects: z
      .record(
        z.string().regex(SUBJECT_ID_PATTERN, "must be a subject id"),
        overrideSet.meta({
          keyName: "vital",
          description:
            "One subject's limits per vital, merged over the ward's, without emptying a direction the ward defines " +
            "(use `enabled: false`); `vitalog rules show --subject ID` prints the result.",
        }),
      )
      .default({})
      .meta({ keyName: "subject", description: "Limits of one subject (patient), by subject id." }),
  })
  .prefault({})
  .describe("Threshold limits: built-in defaults → ward → subject, merged per vital and per field.")
  .superRefine(
    (t, ctx) => {
      const issue: Issue = (path, message) => ctx.addIssue({ code: "custom", path, message });
      // a subject whose override is not of its type is left to its own problems; every other one is checked
      const wrong = new Set(
        ctx.issues.filter((i) => i.path?.[0] === "subjects" && i.continue !== true).map((i) => i.path?.[1]),
      );
      for (const [id, set] of Object.entries(t.subjects)) {
        if (wrong.has(id)) continue;
        for (const [kind, own] of Object.entries(set) as [VitalKind, Partial<VitalLimits>][]) {
          const path = ["subjects", id, kind];
          checkComplete(t.ward[kind], own, path, "ward or built-in entry for this vital", issue);
          checkNoDirectionRemoved(t.ward[kind], own, path, issue);
          // checked as merged over the ward entry, which is what the rule will use
          const merged = mergeVitalLimits(t.ward[kind], own);
          checkLimitOrder(merged, path, issue);
          checkLimitBounds(kind, merged, path, issue);
        }
      }
    },
    {
      // also beside the ward's own checks (custom issues) and any unknown key: the subjects' problems are listed
      // with them, as long as the subjects are an object and the ward was merged (any other issue in the ward
      // stops its merge, zod's pipe)
      when: (p) =>
        typeof p.value === "object" &&
        p.value !== null &&
        !p.issues.some(
          (i) =>
            (i.path?.[0] === "subjects" && i.path.length === 1 && i.continue !== true) ||
            (i.path?.[0] === "ward" && i.code !== "custom" && i.code !== "unrecognized_keys"),
        ),
    },
  );

const RATE_FIELDS = ["kind", "direction", "delta", "withinSec", "priority", "persistenceSec"] as const;
/** One rate-of-change rule as written: a built-in one (by `id`) needs only the fields it changes. */
const rateOverride = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9_]+$/, "snake_case id")
    .describe(
      "The rule's id: a built-in one (`spo2_drop`) to change it, or a new one (then every field is required).",
    ),
  enabled: z.boolean().optional().describe("`false` removes the rule."),
  kind: z.enum(VITAL_KINDS).optional().describe("The vital watched."),
  direction: z.enum(["drop", "rise"]).optional().describe("Which change alarms."),
  delta: z.number().finite().positive().optional().describe("Change (canonical unit) that alarms …"),
  withinSec: positiveSeconds.optional().describe("… when it happens within this long."),
  priority: priority.optional().describe("Priority of the alert."),
  persistenceSec: seconds.optional().describe("Alarm-condition delay."),
});

/**
 * The built-in rate-of-change rules with the configured ones merged over them by id, then the new ones in
 * the order given; `enabled: false` removes a rule.
 */
const rateOfChange = z
  .array(rateOverride)
  // checked entry by entry, so a wrong value in one entry hides no other entry's problem
  .superRefine(
    (list, ctx) => {
      // an entry whose value is not of its type (a value failing only a range or pattern still is)
      const wrong = new Set(ctx.issues.filter((i) => i.continue !== true).map((i) => i.path?.[0]));
      // the rules an entry merges over: the built-in ones, and those the entries before it added
      const known = new Set(DEFAULT_RATE_OF_CHANGE_CONFIG.map((r) => r.id));
      const seen = new Set<string>();
      list.forEach((own, i) => {
        if (wrong.has(i)) return;
        if (seen.has(own.id))
          ctx.addIssue({ code: "custom", path: [i, "id"], message: `duplicate rate-of-change id ${own.id}` });
        seen.add(own.id);
        if (own.enabled === false) {
          known.delete(own.id);
          return;
        }
        if (!known.has(own.id)) {
          for (const field of RATE_FIELDS) {
            if (own[field] === undefined)
              ctx.addIssue({
                code: "custom",
                path: [i, field],
                message: "required for a rule that is not built in",
              });
          }
        }
        known.add(own.id);
      });
    },
    { when: (p) => Array.isArray(p.value) },
  )
  .prefault([])
  .describe(
    "Rate-of-change rules, merged by `id` field by field over the built-in ones (`spo2_drop`); new ones follow in " +
      "the order given.",
  )
  .transform((list): RateOfChangeRuleConfig[] => {
    const rules = new Map<string, RateOfChangeRuleConfig>(
      DEFAULT_RATE_OF_CHANGE_CONFIG.map((r) => [r.id, r]),
    );
    for (const own of list) {
      if (own.enabled === false) {
        rules.delete(own.id);
        continue;
      }
      const merged: Partial<RateOfChangeRuleConfig> = { ...rules.get(own.id), id: own.id };
      for (const field of RATE_FIELDS) {
        if (own[field] !== undefined) (merged as Record<string, unknown>)[field] = own[field];
      }
      rules.set(own.id, merged as RateOfChangeRuleConfig);
    }
    return [...rules.values()];
  });

/**
 * An object whose every field defaults to its built-in value, so a partial object is merged per key over the
 * defaults (`sensorContact: { priority: high }` keeps the built-in persistenceSec); an unknown key is an error.
 */
function mergedOver<S extends Record<string, z.ZodType>>(
  shape: S,
  defaults: { [K in keyof S]: z.output<S[K]> },
) {
  const fields = Object.fromEntries(
    Object.entries(shape).map(([key, field]) => [key, field.default(defaults[key] as never)]),
  ) as { [K in keyof S]: z.ZodDefault<S[K]> };
  return z.strictObject(fields).prefault({} as never);
}

/** A NEWS2 band's alert priority; null: no alert in that band (the NEWS2 low band by default). */
const bandPriority = (band: string) =>
  z
    .enum(["high", "medium", "low"], {
      error: 'expected one of "high"|"medium"|"low", or null (no alert in this band)',
    })
    .nullable()
    .describe(`Alert priority in the NEWS2 ${band} band; \`null\`: no alert in it.`);
const maxAge = (parameter: string) =>
  positiveSeconds.describe(
    `A ${parameter} value older than this (by its observation time) counts as missing.`,
  );

const n2 = DEFAULT_NEWS2_CONFIG;
const news2 = z.strictObject({
  enabled: z.boolean().default(n2.enabled).describe("Score NEWS2 and alert on its bands."),
  maxAgeSec: mergedOver(
    {
      respiratory_rate: maxAge("respiratory rate"),
      spo2: maxAge("SpO2"),
      supplemental_oxygen: maxAge("supplemental oxygen (air/oxygen)"),
      systolic_bp: maxAge("systolic blood pressure"),
      pulse: maxAge("pulse"),
      consciousness: maxAge("consciousness (ACVPU)"),
      temperature: maxAge("temperature"),
    },
    n2.maxAgeSec,
  ).describe("Per parameter, merged per key over the built-in values."),
  bandPriority: mergedOver(
    {
      low: bandPriority("low"),
      low_medium: bandPriority("low-medium (a single red score)"),
      medium: bandPriority("medium"),
      high: bandPriority("high"),
    },
    n2.bandPriority,
  ).describe("Per band, merged per key over the built-in values."),
  redScoreAsMedium: z
    .boolean()
    .default(n2.redScoreAsMedium)
    .describe("Local policy: treat a single-parameter 3 like an aggregate 5–6 [clinical.md §2.2]."),
  realarmOnRise: z
    .number()
    .int()
    .min(1)
    .default(n2.realarmOnRise)
    .describe(
      "An acknowledged or silenced NEWS2 alert re-alarms when the total rises this much above the total at the " +
        "acknowledgement or silence, at the same priority [clinical.md §5.2] (local engineering choice, to be reviewed).",
    ),
  persistSec: seconds
    .default(n2.persistSec)
    .describe(
      "A device value enters NEWS2 once it has persisted this long: each device parameter scores its least " +
        "abnormal value of the last `persistSec` seconds, so a shorter artefact never reaches the score; 0 scores " +
        "every value at once (local engineering choice, to be reviewed).",
    ),
});

const t = DEFAULT_TECHNICAL_CONFIG;
const condition = {
  priority: priority.describe("Priority of the alarm."),
  persistenceSec: seconds.describe("The condition must hold this long before the alarm is raised."),
};
const window = {
  count: z.number().int().min(1).describe("This many events …"),
  windowSec: positiveSeconds.describe("… within this long raise the alarm."),
  priority: priority.describe("Priority of the alarm."),
};
const technical = z
  .strictObject({
    silentDevice: mergedOver(
      {
        enabled: z.boolean().describe("Raise `technical.device_silent` for a device that stops sending."),
        defaultExpectedIntervalSec: positiveSeconds.describe(
          "Expected interval between frames of a device not listed in `technical.devices`.",
        ),
        missedIntervals: z
          .number()
          .finite()
          .min(1)
          .describe("Silent once nothing was heard for expected interval × this."),
        priority: priority.describe("Priority of the alarm."),
      },
      t.silentDevice,
    ).describe("A device that stops sending."),
    devices: z
      .record(
        z.string(),
        z.strictObject({
          expectedIntervalSec: positiveSeconds.describe("Expected interval between the device's frames."),
        }),
      )
      .default({})
      .meta({
        keyName: "deviceId",
        description:
          "Per device, by device id: its own expected interval (e.g. a BP cuff measuring every 15 min).",
      }),
    sensorContact: mergedOver(condition, t.sensorContact).describe(
      "`technical.sensor_contact`: the device reports lost sensor contact (probe off).",
    ),
    signalQuality: mergedOver(condition, t.signalQuality).describe(
      "Values the device itself flags `signal_unreliable` (physiological rules ignore them).",
    ),
    dataNotLive: mergedOver(condition, t.dataNotLive).describe(
      "Readings keep arriving outside the staleness horizon (or timed before one already judged) without a live one.",
    ),
    noValidData: mergedOver(condition, t.noValidData).describe(
      "`technical.no_valid_data`: frames keep arriving whose vitals carry no usable value (IEEE 11073 NaN, NRes, " +
        "±INF, measurement unavailable) (local engineering choice, to be reviewed).",
    ),
    battery: mergedOver(
      {
        lowPct: percent.describe("Battery level (%) that raises the low alarm."),
        criticalPct: percent.describe("Battery level (%) that raises the critical alarm; below `lowPct`."),
        hysteresisPct: percent.describe(
          "Clears only once the level is this far above the limit (a battery hovering at the limit stays one alert).",
        ),
        lowPriority: priority.describe("Priority of the low alarm."),
        criticalPriority: priority.describe("Priority of the critical alarm."),
      },
      t.battery,
    ).describe("The device's battery level."),
    rejectBurst: mergedOver(window, t.rejectBurst).describe("Rejected frames of one device in a burst."),
    impossibleValues: mergedOver(window, t.impossibleValues).describe(
      "Values outside the physiologic range (clinical.md §6) from one device.",
    ),
  })
  .superRefine((c, ctx) => {
    if (c.battery.criticalPct >= c.battery.lowPct)
      ctx.addIssue({ code: "custom", path: ["battery", "criticalPct"], message: "must be below lowPct" });
  }, onceParsed("battery"));

const a = DEFAULT_ALARM_CONFIG;
const step = z.strictObject({
  afterSec: positiveSeconds.describe(
    "Time after the alert was raised (and not acknowledged) when this step is taken.",
  ),
  recipient: z.string().min(1).describe("The recipient group paged (`alerts.recipients`)."),
  raisePriority: z.boolean().describe("Raise the alert's priority one level at this step."),
});
const ladder = (p: string) => z.array(step).describe(`The ladder of \`${p}\` alerts; \`[]\`: no escalation.`);
const alarms = z
  .strictObject({
    clearHoldSec: seconds
      .default(a.clearHoldSec)
      .describe("A condition must stay cleared this long before its alert resolves (or latches)."),
    latchingPriorities: z
      .array(priority)
      .default(a.latchingPriorities)
      .describe(
        "Priorities whose alerts latch when their condition ends, until acknowledged [IEC 60601-1-8].",
      ),
    silence: mergedOver(
      {
        defaultSec: positiveSeconds.describe("Silence length when a command gives none; at most `maxSec`."),
        maxSec: positiveSeconds.describe("Longest silence a command may ask for."),
      },
      a.silence,
    ).describe("Silencing an alert (audio paused), merged per field over the built-in values."),
    primaryRecipient: z
      .string()
      .min(1)
      .default(a.primaryRecipient)
      .describe("The recipient group every alert goes to when raised."),
    restoreConfirmSec: positiveSeconds
      .default(a.restoreConfirmSec)
      .describe(
        "After a restart, a restored active alert must be reported active again by its rule within this long, " +
          "else its condition counts as cleared.",
      ),
    // one ladder per priority: a priority left out keeps its built-in ladder, `[]` means none
    escalation: mergedOver(
      { high: ladder("high"), medium: ladder("medium"), low: ladder("low") },
      a.escalation,
    ).describe(
      "One escalation ladder per priority; a priority left out keeps its built-in ladder (docs/alerting.md).",
    ),
  })
  .superRefine((c, ctx) => {
    if (c.silence.defaultSec > c.silence.maxSec)
      ctx.addIssue({ code: "custom", path: ["silence", "defaultSec"], message: "must not exceed maxSec" });
  }, onceParsed("silence"));

const st = DEFAULT_STALENESS_CONFIG;
/** Which observation times may raise a live physiological alarm (staleness.ts). */
const staleness = z.strictObject({
  maxAgeSec: positiveSeconds
    .default(st.maxAgeSec)
    .describe(
      "A reading measured longer ago than this (device time) is stored and proved but raises no live " +
        "physiological alarm (local engineering choice, to be reviewed).",
    ),
  maxFutureSec: seconds
    .default(st.maxFutureSec)
    .describe(
      "A reading timed further ahead of the gateway clock than this likewise raises no live alarm and does not " +
        "enter NEWS2 (clinical.md §6's drift flag, an engineering choice).",
    ),
});

const ck = DEFAULT_CLOCK_HEALTH_CONFIG;
/** When the gateway clock raises a technical alarm (clock-health-rule.ts). */
const clock = z.strictObject({
  jumpToleranceSec: positiveSeconds
    .default(ck.jumpToleranceSec)
    .describe(
      "The wall clock moving more than this against the monotonic clock between two ticks raises " +
        "`technical.clock_jump`, with its size and direction (local engineering choice, to be reviewed).",
    ),
  jumpHoldSec: seconds
    .default(ck.jumpHoldSec)
    .describe("`technical.clock_jump` clears this long after the last jump."),
  jumpPriority: priority.default(ck.jumpPriority).describe("Priority of `technical.clock_jump`."),
  syncSource: z
    .enum(["auto", "timedatectl", "timesyncd", "none"])
    .default(ck.syncSource)
    .describe(
      "How to know the clock is synchronised: `timedatectl` (the kernel's NTP-synchronised state, whichever NTP " +
        "client), `timesyncd` (systemd-timesyncd's marker file), `none`; `auto` is `timedatectl` on a machine " +
        'booted with systemd, else `none`. An answer of "cannot tell" raises nothing.',
    ),
  syncCheckIntervalSec: positiveSeconds
    .default(ck.syncCheckIntervalSec)
    .describe("How often the synchronisation state is read."),
  unsyncedAlarmAfterSec: seconds
    .default(ck.unsyncedAlarmAfterSec)
    .describe(
      "The clock known unsynchronised this long raises `technical.clock_unsynchronised` (local engineering choice, to be reviewed).",
    ),
  unsyncedPriority: priority
    .default(ck.unsyncedPriority)
    .describe("Priority of `technical.clock_unsynchronised`."),
});

/** Schema of the `rules` slice; every section is optional and defaults to the built-in configuration. */
export const rulesConfigSchema = z
  .strictObject({
    thresholds,
    rateOfChange,
    news2: news2.default(DEFAULT_NEWS2_CONFIG).describe("The NEWS2 early-warning score (docs/alerting.md)."),
    technical: technical.default(DEFAULT_TECHNICAL_CONFIG).describe("Technical alarms about the devices."),
    alarms: alarms
      .default(DEFAULT_ALARM_CONFIG)
      .describe("The alarm lifecycle: clearing, latching, silence, escalation."),
    staleness: staleness
      .default(DEFAULT_STALENESS_CONFIG)
      .describe("Which observation times may raise a live physiological alarm."),
    clock: clock
      .default(DEFAULT_CLOCK_HEALTH_CONFIG)
      .describe("When the gateway clock raises a technical alarm."),
  })
  .describe(
    "The alarm rules (docs/alerting.md): thresholds, rate of change, NEWS2, technical alarms and the alarm " +
      "lifecycle; every section defaults to the built-in configuration.",
  );

/** The `rules` slice as the rule engine receives it: inferred from the schema, defaults applied. */
export type RulesConfig = z.output<typeof rulesConfigSchema>;
