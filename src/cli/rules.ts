import { loadConfig } from "../config.js";
import { GatewayError } from "../errors.js";
import { SUBJECT_ID_PATTERN } from "../identifiers.js";
import { VITALS } from "../reading.js";
import type { RulesConfig } from "../rules/engine.js";
import { subjectRulesInForce, wardRulesInForce } from "../rules/rules-in-force.js";
import {
  type EffectiveVitalLimits,
  effectiveThresholds,
  LIMIT_FIELDS,
  type LimitField,
  type LimitSource,
  type ThresholdTier,
} from "../rules/threshold-config.js";
import { parseFlags, requireFlag } from "./args.js";

const USAGE = "usage: vitalog rules show --config FILE [--subject ID] [--json]";

/**
 * `vitalog rules show --config FILE [--subject ID] [--json]`: the threshold limits in force after merging
 * (built-in defaults → `rules.thresholds.ward` → the subject's override), as a table, one row per limit, or
 * with `--json` as JSON lines, one per vital. Each says where its values come from (`default`, `ward`,
 * `subject`) and carries the hash that the gateway's `rules_in_force` log event records for the same rules.
 * Reads the config file only: it shows what a gateway started with this file applies.
 */
export async function rulesCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    config: { type: "string", short: "c" },
    subject: { type: "string" },
    json: { type: "boolean", default: false },
  });
  const [action, ...rest] = positionals;
  if (action !== "show" || rest.length > 0) throw new GatewayError("USAGE", USAGE);
  const subjectId = values.subject ?? null;
  if (subjectId !== null && !SUBJECT_ID_PATTERN.test(subjectId))
    throw new GatewayError("USAGE", "--subject must be a subject id (1–128 of A-Z a-z 0-9 . _ : -)");
  const rules = loadConfig(requireFlag(values.config, "config")).rules as RulesConfig;
  const limits = effectiveThresholds(rules.thresholds, subjectId);
  const hasOwn = subjectId !== null && Object.hasOwn(rules.thresholds.subjects, subjectId);
  const hash = hasOwn ? subjectRulesInForce(rules, subjectId).hash : wardRulesInForce(rules).hash;
  if (values.json) {
    for (const v of limits) out.write(`${JSON.stringify(jsonLine(v, subjectId, hash))}\n`);
    return 0;
  }
  const whose =
    subjectId === null
      ? "ward"
      : hasOwn
        ? `subject ${subjectId}`
        : `subject ${subjectId} (no overrides: ward)`;
  out.write(`thresholds in force for ${whose}, rules hash ${hash}\n`);
  out.write(table(limits));
  return 0;
}

function unitOf(v: EffectiveVitalLimits): string {
  return Object.keys(VITALS[v.kind].loinc).join(" or ");
}

const tierJson = (t: ThresholdTier) => ({
  limit: t.limit,
  priority: t.priority,
  persistence_sec: t.persistenceSec,
});

const SNAKE: Record<LimitField, string> = {
  enabled: "enabled",
  low: "low",
  high: "high",
  hysteresis: "hysteresis",
  clearSec: "clear_sec",
};

function jsonLine(v: EffectiveVitalLimits, subjectId: string | null, hash: string): Record<string, unknown> {
  return {
    subject_id: subjectId,
    vital: v.kind,
    unit: unitOf(v),
    enabled: v.enabled,
    low: v.low.map(tierJson),
    high: v.high.map(tierJson),
    hysteresis: v.hysteresis,
    clear_sec: v.clearSec,
    source: Object.fromEntries(LIMIT_FIELDS.map((f) => [SNAKE[f], v.source[f]])),
    rules_hash: hash,
  };
}

const RANK: Record<LimitSource, number> = { default: 0, ward: 1, subject: 2 };

/** The most specific source among some fields: a row is `subject` when anything in it is the subject's. */
function sourceOf(v: EffectiveVitalLimits, fields: readonly LimitField[]): LimitSource {
  return fields.map((f) => v.source[f]).reduce((a, b) => (RANK[b] > RANK[a] ? b : a), "default");
}

const HEAD = ["VITAL", "DIR", "LIMIT", "UNIT", "PRIORITY", "DELAY", "HYSTERESIS", "CLEAR", "SOURCE"];

/**
 * One row per tier; a direction emptied over a default gets a `none` row, and a vital turned off, or without
 * any tier, one row saying so.
 */
function table(limits: readonly EffectiveVitalLimits[]): string {
  const rows: string[][] = [HEAD];
  for (const v of limits) {
    const unit = unitOf(v);
    const tail = [`${v.hysteresis}`, `${v.clearSec} s`];
    if (!v.enabled) {
      rows.push([v.kind, "-", "off", unit, "-", "-", ...tail, sourceOf(v, ["enabled"])]);
      continue;
    }
    let any = false;
    for (const dir of ["low", "high"] as const) {
      // a direction whose limits were removed on purpose (an empty list over a default) is shown as such
      if (v[dir].length === 0 && v.source[dir] !== "default") {
        any = true;
        rows.push([v.kind, dir, "none", unit, "-", "-", ...tail, v.source[dir]]);
      }
      for (const t of v[dir]) {
        any = true;
        const limit = `${dir === "low" ? "<" : ">"} ${t.limit}`;
        const source = sourceOf(v, ["enabled", dir, "hysteresis", "clearSec"]);
        rows.push([v.kind, dir, limit, unit, t.priority, `${t.persistenceSec} s`, ...tail, source]);
      }
    }
    if (!any) rows.push([v.kind, "-", "none", unit, "-", "-", ...tail, sourceOf(v, ["low", "high"])]);
  }
  const widths = HEAD.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map(
      (r) =>
        `${r
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd()}\n`,
    )
    .join("");
}
