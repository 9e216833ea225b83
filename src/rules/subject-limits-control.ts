/**
 * A clinician's per-patient limit change applied by the running daemon: the `rules_change` control op that
 * `vitalog rules set|reset` sends (control/control-socket.ts). The daemon checks and commits the change with
 * its log event (subject-limits.ts), then, only once it is committed, judges the subject's alarms again under
 * the new limits (engine `updateSubjectThresholds`) and records the rules in force (rules-in-force.ts). A
 * refusal is counted in `vitalog_commands_refused_total` (command `rules_set` / `rules_reset`, the reason)
 * like a refused acknowledgement, and nothing changes.
 *
 *   { "op": "rules_change", "action": "set", "subject_id": ID, "vital": V, "override": {…}, "by": U, "why": T }
 *   { "op": "rules_change", "action": "reset", "subject_id": ID, "vital"?: V, "by": U, "why": T }
 *   → { "applied": "live", "subject_id", "vitals", "rules_hash" [, "warning", "warning_detail"] } or a refusal
 *     { "error": <code>, "detail" }; `warning` is `subject_not_seen` for a subject the gateway does not know
 *     ({@link subjectSeenCheck}): the change is applied all the same.
 *
 * At start-up the daemon merges the stored changes over the config file's limits before the engine is built
 * ({@link rulesWithStoredLimits}): a change written by the CLI while the daemon was stopped applies from then.
 */

import type { Tlog } from "../batcher/tlog/open-tlog.js";
import type { SubjectKeys } from "../batcher/tlog/subject-keys.js";
import type { Clock } from "../clock.js";
import { type ControlOps, ControlRefusal } from "../core/ports.js";
import type { Db } from "../db.js";
import { SUBJECT_ID_PATTERN } from "../identifiers.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { RuleEngine, RulesConfig } from "./engine.js";
import type { RulesInForceParts } from "./rules-in-force.js";
import {
  LimitChangeRefusal,
  type LimitUsers,
  parseLimitChangeRequest,
  readStoredLimits,
  SubjectLimitStore,
  storedOverrides,
} from "./subject-limits.js";
import { type ThresholdsConfig, withStoredOverrides } from "./threshold-config.js";

/** The config file's rules with every stored per-subject limit change merged over them. */
export function rulesWithStoredLimits(db: Db, rules: RulesConfig): RulesConfig {
  const stored = readStoredLimits(db);
  if (stored.length === 0) return rules;
  return { ...rules, thresholds: withStoredOverrides(rules.thresholds, storedOverrides(stored)) };
}

/**
 * Whether a subject's record was erased (its key destroyed and no new one made since): then no change may be
 * logged for it. Reads `tlog_subject_keys` on `db`.
 */
export function erasedSubjectCheck(db: Db, keys: Pick<SubjectKeys, "tag">): (subjectId: string) => boolean {
  const erased = db
    .prepare<[Buffer, string], number>(
      `SELECT EXISTS (SELECT 1 FROM tlog_subject_keys WHERE subject_tag = ? AND erased_at_ms IS NOT NULL)
        AND NOT EXISTS (SELECT 1 FROM tlog_subject_keys WHERE subject_id = ? AND erased_at_ms IS NULL)`,
    )
    .pluck();
  return (subjectId) => erased.get(keys.tag(subjectId), subjectId) === 1;
}

/** Why a change was applied with a warning: wire string of the reply's `warning`, only ever added to. */
export const SUBJECT_NOT_SEEN = "subject_not_seen";

/**
 * Whether the gateway knows a subject: a device is bound to it (`devices`), or the log holds a record of it
 * (it has a key in `tlog_subject_keys`). A change for a subject it does not know is applied (a patient's
 * limits may be set before the monitor is attached) but answered with a warning, since a mistyped id would
 * otherwise set limits nobody is measured against. The readings table is not searched: it has no index by
 * subject, and a scan would hold the alarm loop.
 */
export function subjectSeenCheck(db: Db): (subjectId: string) => boolean {
  const seen = db
    .prepare<[string, string], number>(
      `SELECT EXISTS (SELECT 1 FROM devices WHERE subject_id = ?)
        OR EXISTS (SELECT 1 FROM tlog_subject_keys WHERE subject_id = ?)`,
    )
    .pluck();
  return (subjectId) => seen.get(subjectId, subjectId) === 1;
}

/** The reply's warning for a change to a subject the gateway does not know, or nothing. */
export function subjectWarning(
  subjectId: string,
  isSeen: ((subjectId: string) => boolean) | undefined,
): { warning: string; warning_detail: string } | Record<string, never> {
  if (isSeen === undefined || isSeen(subjectId)) return {};
  return {
    warning: SUBJECT_NOT_SEEN,
    warning_detail: `no device is bound to ${subjectId} and nothing is recorded for it: check the subject id (the change is applied)`,
  };
}

export interface SubjectLimitsControlDeps {
  control: ControlOps;
  /** The store over the daemon's connection, with the log attached when the log is on. */
  store: SubjectLimitStore;
  /** The config file's rules (without stored changes): what a change merges over. */
  configRules: RulesConfig;
  users: LimitUsers;
  /** Applies the whole threshold table with the change to the live engine (`engine.updateSubjectThresholds`). */
  apply: (thresholds: ThresholdsConfig, subjectId: string, note: string) => void;
  /** Records the rules in force after the change (absent when the log is off). */
  inForce?: Pick<RulesInForceParts, "recordChange"> | undefined;
  isErased?: ((subjectId: string) => boolean) | undefined;
  /** Whether the gateway knows the subject ({@link subjectSeenCheck}); absent: no warning. */
  isSeen?: ((subjectId: string) => boolean) | undefined;
  clock: Clock;
  refused: (labels: { command: string; reason: string }) => void;
  log: Logger;
}

/** Registers the `rules_change` control op (see the module comment). */
export function registerSubjectLimitsControl(deps: SubjectLimitsControlDeps): void {
  deps.control.handle("rules_change", async (args) => {
    const command = args.action === "reset" ? "rules_reset" : "rules_set";
    try {
      const request = parseLimitChangeRequest(args, SUBJECT_ID_PATTERN);
      const actor = {
        by: typeof args.by === "string" ? args.by : "",
        why: typeof args.why === "string" ? args.why : "",
        via: "cli" as const,
      };
      // asked before the change: its own row must not make the subject look known
      const warning = subjectWarning(request.subjectId, deps.isSeen);
      const result = await deps.store.change(request, actor, {
        rules: deps.configRules,
        users: deps.users,
        nowMs: deps.clock.now(),
        isErased: deps.isErased,
      });
      const by = result.events[0]?.data.by as string;
      deps.apply(result.thresholds, result.subjectId, `limits changed by ${by}`);
      deps.inForce?.recordChange({ ...deps.configRules, thresholds: result.thresholds }, result.subjectId, {
        via: "limit_change",
        by,
        vitals: result.vitals,
      });
      deps.log.info({ command, vitals: result.vitals, by, hash: result.rulesHash }, "subject limits changed");
      if ("warning" in warning)
        deps.log.warn({ command, warning: warning.warning }, "limits set for an unknown subject");
      return {
        applied: "live",
        subject_id: result.subjectId,
        vitals: result.vitals,
        rules_hash: result.rulesHash,
        ...warning,
      };
    } catch (err) {
      if (!(err instanceof LimitChangeRefusal)) throw err;
      deps.refused({ command, reason: err.code });
      throw new ControlRefusal(err.code, err.message);
    }
  });
}

/**
 * Wires the limit changes into a gateway: the store over its connection (the log attached when it is on), and
 * the control op. `configRules`: the config file's rules, without stored changes.
 */
export function registerSubjectLimits(
  gw: { readonly db: Db; readonly control: ControlOps; readonly clock: Clock; readonly metrics: Metrics },
  deps: {
    configRules: RulesConfig;
    engine: Pick<RuleEngine, "updateSubjectThresholds">;
    tlog?: Tlog | undefined;
    inForce?: Pick<RulesInForceParts, "recordChange"> | undefined;
    log: Logger;
    /** Who may change limits: the daemon's user directory, verified against the log (users/user-directory.ts). */
    users: LimitUsers;
  },
): void {
  const store = new SubjectLimitStore(gw.db);
  const { tlog } = deps;
  if (tlog) store.attachEventLog((events) => tlog.records.append([], events));
  registerSubjectLimitsControl({
    control: gw.control,
    store,
    configRules: deps.configRules,
    users: deps.users,
    apply: (thresholds, subjectId, note) => deps.engine.updateSubjectThresholds(thresholds, subjectId, note),
    inForce: deps.inForce,
    isErased: tlog && erasedSubjectCheck(gw.db, tlog.records.keys),
    isSeen: subjectSeenCheck(gw.db),
    clock: gw.clock,
    // the family the alarm commands count their refusals in (commands.ts): one counter for every command
    refused: gw.metrics.counter(
      "vitalog_commands_refused_total",
      "Alarm commands (ack, silence, observe) refused, by command and reason",
    ),
    log: deps.log,
  });
}
