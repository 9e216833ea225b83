/**
 * `vitalog rules show|set|reset`: the threshold limits in force, and a clinician's change of one patient's.
 *
 * `show --config FILE [--subject ID] [--json]`: the limits in force after merging (built-in defaults →
 * `rules.thresholds.ward` → the subject's override from the file → the subject's stored changes), as a table,
 * one row per limit, or with `--json` as JSON lines, one per vital. Each says where its values come from
 * (`default`, `ward`, `subject`) and carries the hash that the gateway's `rules_in_force` log event records for
 * the same rules; a subject's stored changes are listed with who made them, when and why. Reads the config
 * file and the database (when it exists): it shows what a gateway started with this file applies. For a
 * subject whose record was erased (known with the log on and its keys readable) it prints that instead of the
 * ward's table and exits 1: no limits apply to a subject whose readings are refused.
 *
 * `set --config FILE --subject ID --vital V [--low TIERS] [--high TIERS] [--hysteresis N] [--clear-sec N]
 * [--enabled true|false] --by USER --why TEXT`: changes the subject's limits for one vital, field by field
 * over its current ones. TIERS is `LIMIT:PRIORITY:DELAY_SEC` separated by commas (`88:medium:15,85:high:5`), or
 * `none` for no limit in that direction (refused over a direction the ward defines, unless with `--enabled
 * false`). A change for a subject the gateway does not know is applied with `"warning":"subject_not_seen"`.
 * `reset --config FILE --subject ID [--vital V] --by USER --why TEXT` removes the stored changes (of one vital,
 * or all), back to the config file's limits.
 *
 * A change goes to the running daemon (`rules_change` on its control socket: subject-limits-control.ts), which
 * checks, commits, logs and applies it at once. With no daemon running, the command checks and commits it
 * itself (same checks, same log event) and the daemon applies it at its next start. When the daemon's state
 * is unknown (it did not answer) nothing is written here and the command exits 75: the daemon may or may not
 * have applied it, `rules show --subject` says. A refusal prints the reply and exits 77 (EX_NOPERM) when the
 * user is refused (unknown, disabled, role not permitted), as `vitalog users` does, 1 otherwise (reason, limits).
 */
import { existsSync } from "node:fs";
import { loadGatewayKeys } from "../batcher/tlog/key-files.js";
import { openTlog } from "../batcher/tlog/open-tlog.js";
import { SubjectKeys } from "../batcher/tlog/subject-keys.js";
import { type Config, loadConfig } from "../config.js";
import { controlRequest } from "../control/control-socket.js";
import { type Db, openDatabase } from "../db.js";
import { GatewayError } from "../errors.js";
import { SUBJECT_ID_PATTERN } from "../identifiers.js";
import { MIGRATIONS } from "../migrations.js";
import { VITAL_KINDS, VITALS } from "../reading.js";
import type { RulesConfig } from "../rules/engine.js";
import { subjectRulesInForce, wardRulesInForce } from "../rules/rules-in-force.js";
import {
  LimitChangeRefusal,
  parseLimitChangeRequest,
  readStoredLimits,
  type StoredLimit,
  SubjectLimitStore,
  storedOverrides,
} from "../rules/subject-limits.js";
import { erasedSubjectCheck, subjectSeenCheck, subjectWarning } from "../rules/subject-limits-control.js";
import {
  type EffectiveVitalLimits,
  effectiveThresholds,
  LIMIT_FIELDS,
  type LimitField,
  type LimitSource,
  type ThresholdTier,
  withStoredOverrides,
} from "../rules/threshold-config.js";
import { EXIT_REFUSED, loadUserDirectory } from "../users/cli-authorization.js";
import { CLI_REFUSAL_REASONS } from "../users/create-users.js";
import { requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand, usageError } from "./options.js";

export async function rulesCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND_SPECS.rules, argv);
  const [action, ...rest] = positionals;
  if (!(action === "show" || action === "set" || action === "reset") || rest.length > 0)
    throw usageError(COMMAND_SPECS.rules);
  const subjectId = values.subject ?? null;
  if (subjectId !== null && !SUBJECT_ID_PATTERN.test(subjectId))
    throw new GatewayError("USAGE", "--subject must be a subject id (1–128 of A-Z a-z 0-9 . _ : -)");
  const config = loadConfig(requireFlag(values.config, "config"));
  if (action === "show") return show(config, subjectId, values.json, out);
  const args = changeArgs(action, requireFlag(values.subject, "subject"), values);
  return change(config, args, out);
}

/** The `rules_change` request the flags describe (checked again, whole, by whoever applies it). */
function changeArgs(
  action: "set" | "reset",
  subjectId: string,
  values: Record<string, string | boolean | undefined>,
): Record<string, unknown> {
  const text = (name: string) => values[name] as string | undefined;
  const vital = text("vital");
  if (vital !== undefined && !(VITAL_KINDS as readonly string[]).includes(vital))
    throw new GatewayError("USAGE", `--vital must be one of ${VITAL_KINDS.join(", ")}`);
  const base = {
    action,
    subject_id: subjectId,
    by: requireFlag(text("by"), "by"),
    why: requireFlag(text("why"), "why"),
  };
  if (action === "reset") {
    for (const f of ["low", "high", "hysteresis", "clear-sec", "enabled"])
      if (text(f) !== undefined) throw new GatewayError("USAGE", `--${f} is for rules set`);
    return { ...base, ...(vital !== undefined ? { vital } : {}) };
  }
  const override: Record<string, unknown> = {};
  const low = text("low");
  const high = text("high");
  if (low !== undefined) override.low = tiers(low, "low");
  if (high !== undefined) override.high = tiers(high, "high");
  const hysteresis = text("hysteresis");
  if (hysteresis !== undefined) override.hysteresis = number(hysteresis, "hysteresis");
  const clearSec = text("clear-sec");
  if (clearSec !== undefined) override.clearSec = number(clearSec, "clear-sec");
  const enabled = text("enabled");
  if (enabled !== undefined) {
    if (enabled !== "true" && enabled !== "false")
      throw new GatewayError("USAGE", "--enabled is true or false");
    override.enabled = enabled === "true";
  }
  return { ...base, vital: requireFlag(vital, "vital"), override };
}

function number(text: string, flag: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n))
    throw new GatewayError("USAGE", `--${flag} must be a number`);
  return n;
}

/** `LIMIT:PRIORITY:DELAY_SEC,...` or `none` → tiers (their values are checked by the config schema later). */
function tiers(text: string, flag: string): unknown[] {
  if (text === "none") return [];
  return text.split(",").map((part) => {
    const [limit, priority, delay, ...more] = part.split(":");
    if (limit === undefined || priority === undefined || delay === undefined || more.length > 0)
      throw new GatewayError(
        "USAGE",
        `--${flag}: each tier is LIMIT:PRIORITY:DELAY_SEC, got ${JSON.stringify(part)}`,
      );
    return { limit: number(limit, flag), priority, persistenceSec: number(delay, flag) };
  });
}

/** Sends the change to the running daemon, or, with none running, commits it here (see the module comment). */
async function change(config: Readonly<Config>, args: Record<string, unknown>, out: NodeJS.WritableStream) {
  const write = (o: unknown) => out.write(`${JSON.stringify(o)}\n`);
  let reply: Awaited<ReturnType<typeof controlRequest>>;
  try {
    reply = await controlRequest(config.gateway.stateDir, "rules_change", args);
  } catch (err) {
    write({
      ok: false,
      daemon: "unreachable",
      detail: `${(err as Error).message}; the change may or may not be applied: check with vitalog rules show --subject`,
    });
    return 75;
  }
  if (reply !== undefined) {
    write({ ...reply, daemon: "running" });
    return reply.ok ? 0 : refusalExit(reply.error);
  }
  const db = openDatabase(config.storage.path!, MIGRATIONS, { synchronous: config.storage.synchronous });
  try {
    const store = new SubjectLimitStore(db);
    let isErased: ((subjectId: string) => boolean) | undefined;
    if (config.tlog.enabled) {
      const tlog = openTlog(db, config, { createMissing: true });
      store.attachEventLog((events) => tlog.records.append([], events));
      isErased = erasedSubjectCheck(db, tlog.records.keys);
    }
    const request = parseLimitChangeRequest(args, SUBJECT_ID_PATTERN);
    const warning = subjectWarning(request.subjectId, subjectSeenCheck(db));
    const result = await store.change(
      request,
      { by: args.by as string, why: args.why as string, via: "cli" },
      // the users the gateway vouches for: the table checked against the log, as the daemon does
      {
        rules: config.rules as RulesConfig,
        users: loadUserDirectory(db, config),
        nowMs: Date.now(),
        isErased,
      },
    );
    write({
      ok: true,
      daemon: "not_running",
      applied: "at_next_start",
      subject_id: result.subjectId,
      vitals: result.vitals,
      rules_hash: result.rulesHash,
      ...warning,
    });
    return 0;
  } catch (err) {
    if (!(err instanceof LimitChangeRefusal)) throw err;
    write({ ok: false, daemon: "not_running", error: err.code, detail: err.message });
    return refusalExit(err.code);
  } finally {
    db.close();
  }
}

/**
 * The stored changes, read from the database when there is one (none otherwise), and whether `subjectId`'s
 * record was erased (known only with the log on and its keys readable; false otherwise).
 */
function readState(
  config: Readonly<Config>,
  subjectId: string | null,
): { stored: StoredLimit[]; isErased: boolean } {
  const path = config.storage.path;
  if (!path || path === ":memory:" || !existsSync(path)) return { stored: [], isErased: false };
  let db: Db | undefined;
  try {
    db = openDatabase(path, MIGRATIONS, { readonly: true });
    return {
      stored: readStoredLimits(db),
      isErased: subjectId !== null && isErasedIn(db, config, subjectId),
    };
  } finally {
    db?.close();
  }
}

/** Whether the log records `subjectId` as erased; false when the log is off or its keys cannot be read. */
function isErasedIn(db: Db, config: Readonly<Config>, subjectId: string): boolean {
  if (!config.tlog.enabled) return false;
  let storageKey: Buffer;
  try {
    storageKey = loadGatewayKeys(config, { createMissing: false }).storageKey;
  } catch {
    return false;
  }
  return erasedSubjectCheck(db, new SubjectKeys(db, storageKey))(subjectId);
}

function show(
  config: Readonly<Config>,
  subjectId: string | null,
  json: boolean,
  out: NodeJS.WritableStream,
): number {
  const fileRules = config.rules as RulesConfig;
  const { stored, isErased } = readState(config, subjectId);
  if (isErased) {
    // no limits apply to an erased subject: its readings are refused, and the ward's table would mislead
    const detail = `the record of ${subjectId} was erased: its limits are gone and readings for it are refused`;
    out.write(json ? `${JSON.stringify({ subject_id: subjectId, erased: true, detail })}\n` : `${detail}\n`);
    return 1;
  }
  const rules: RulesConfig = {
    ...fileRules,
    thresholds: withStoredOverrides(fileRules.thresholds, storedOverrides(stored)),
  };
  const limits = effectiveThresholds(rules.thresholds, subjectId);
  const hasOwn = subjectId !== null && Object.hasOwn(rules.thresholds.subjects, subjectId);
  const hash = hasOwn ? subjectRulesInForce(rules, subjectId).hash : wardRulesInForce(rules).hash;
  const changes = stored.filter((l) => l.subjectId === subjectId);
  if (json) {
    for (const v of limits) {
      const c = changes.find((l) => l.vital === v.kind);
      out.write(
        `${JSON.stringify({ ...jsonLine(v, subjectId, hash), ...(c ? { change: changeJson(c) } : {}) })}\n`,
      );
    }
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
  for (const c of changes) {
    out.write(
      `${c.vital} changed by ${c.changedBy} at ${new Date(c.changedAtMs).toISOString()}: ${JSON.stringify(c.reason)}\n`,
    );
  }
  return 0;
}

const changeJson = (c: StoredLimit) => ({
  override: c.override,
  changed_by: c.changedBy,
  changed_at: new Date(c.changedAtMs).toISOString(),
  why: c.reason,
});

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

/** The exit status of a refused change: 77 (EX_NOPERM) for a refused user, as every `--by` command; else 1. */
function refusalExit(error: string): number {
  return CLI_REFUSAL_REASONS.has(error) ? EXIT_REFUSED : 1;
}
