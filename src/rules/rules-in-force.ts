/**
 * The configuration in force is evidence: the effective rules, after merging, are recorded in the
 * tamper-evident log as `rules_in_force` events, so after a missed alarm anyone holding the log can prove
 * which limits applied at any moment.
 *
 * - The ward record (`scope: "ward"`, sealed under the gateway's key): every rule family with the threshold
 *   table merged over the built-in defaults, and `subject_overrides`, the subjects that have limits of their
 *   own, each as its storage-key MAC tag (never its id) with the hash of its record. A subject override added,
 *   changed or removed therefore changes the ward record too.
 * - One subject record per subject with overrides (`scope: "subject"`, sealed under that subject's key, so an
 *   erasure shreds it): the subject's threshold table as the rule uses it (its overrides merged over the
 *   ward's).
 * - `hash` is `sha256:` and the hex SHA-256 of the RFC 8785 (JCS) encoding of `rules`; `vitalog rules show`
 *   prints the same hash from the config file.
 *
 * Recorded at start-up (`via: "config"`) and after every per-subject limit change on the running gateway
 * (`via: "limit_change"`, subject-limits-control.ts), each only when it differs from the last one recorded
 * for its scope (the `rules_in_force` table, rules-in-force-writer.ts; `vitalog audit` compares the table
 * with the log, batcher/tlog/audit-rules.ts). The rules at start-up are the config file's with the stored
 * per-subject changes merged over them (subject-limits.ts). Subjects already erased are not recorded (that would
 * give them a new key); their overrides stay in the config file until an operator removes them.
 */

import { createHash } from "node:crypto";
import type { CommitWriterSpec } from "../batcher/commit/commit-writer.js";
import type { SubjectKeys } from "../batcher/tlog/subject-keys.js";
import { canonicalize } from "../batcher/verifier/canonical-record.js";
import type { AuditEvent } from "../core/ports.js";
import type { Service } from "../core/service.js";
import type { Db } from "../db.js";
import type { Logger } from "../log.js";
import type { RulesConfig } from "./engine.js";
import {
  lastRecordedStates,
  type RecordedState,
  RULES_IN_FORCE_EVENT,
  rulesInForceCommitWriter,
} from "./rules-in-force-writer.js";
import { type EffectiveVitalLimits, effectiveThresholds } from "./threshold-config.js";

/** Rules as recorded, with their hash. */
export interface RulesInForce {
  readonly hash: string;
  readonly rules: Readonly<Record<string, unknown>>;
}

/** `sha256:<hex>` of the JCS encoding of `value`. */
export function rulesHash(value: unknown): string {
  return `sha256:${createHash("sha256").update(canonicalize(value), "utf8").digest("hex")}`;
}

/** The threshold table as recorded: per vital, every field explicit, tiers most severe first. */
function thresholdTable(limits: readonly EffectiveVitalLimits[]): Record<string, unknown> {
  return Object.fromEntries(
    limits.map(({ kind, enabled, low, high, hysteresis, clearSec }) => [
      kind,
      { enabled, low, high, hysteresis, clearSec },
    ]),
  );
}

/** The ward's rules in force: every rule family, thresholds merged; per-subject overrides left out. */
export function wardRulesInForce(config: RulesConfig): RulesInForce {
  const rules = {
    thresholds: thresholdTable(effectiveThresholds(config.thresholds, null)),
    rateOfChange: config.rateOfChange,
    news2: config.news2,
    technical: config.technical,
    alarms: config.alarms,
    staleness: config.staleness,
    clock: config.clock,
  };
  return { hash: rulesHash(rules), rules };
}

/** A subject's threshold table in force (its overrides merged over the ward's). */
export function subjectRulesInForce(config: RulesConfig, subjectId: string): RulesInForce {
  const rules = { thresholds: thresholdTable(effectiveThresholds(config.thresholds, subjectId)) };
  return { hash: rulesHash(rules), rules };
}

export interface RulesInForceDeps {
  /** The gateway's connection (read only here). */
  db: Db;
  /** The log's subject keys: the tag of a subject id, and whether the subject was erased. */
  keys: SubjectKeys;
  /** The rules at start-up: the config file's, with the stored per-subject limit changes merged. */
  rules: RulesConfig;
  now: () => number;
  /** The gateway's `recordEvent`. */
  record: (event: AuditEvent) => void;
  log: Logger;
}

/** Why a record is made: at start-up from the config, or after a clinician's limit change. */
export type RulesInForceCause =
  | { via: "config" }
  | { via: "limit_change"; by: string; vitals: readonly string[] };

/** The parts to wire: the commit writer of the `rules_in_force` table, the service that records at start-up, and `recordChange`. */
export interface RulesInForceParts {
  commitWriter: CommitWriterSpec;
  service: Service;
  /**
   * Records the rules in force after a subject's limits changed while running: the subject's record (even
   * when the subject is back to the ward's limits) and the ward's (its `subject_overrides` changed), each
   * only when it differs from the last one recorded. `rules`: everything in force now.
   */
  recordChange(rules: RulesConfig, subjectId: string, cause: RulesInForceCause): void;
}

/** Records the configuration in force at start-up and after every change (see the module comment). */
export function createRulesInForce(deps: RulesInForceDeps): RulesInForceParts {
  const { db, keys, log } = deps;
  const states = new WeakMap<AuditEvent, RecordedState>();
  /** The state last submitted per scope (the table's, read at start, then kept here). */
  let last = new Map<string, string>();
  const isErased = db
    .prepare<[Buffer, string], number>(
      `SELECT EXISTS (SELECT 1 FROM tlog_subject_keys WHERE subject_tag = ? AND erased_at_ms IS NOT NULL)
        AND NOT EXISTS (SELECT 1 FROM tlog_subject_keys WHERE subject_id = ?)`,
    )
    .pluck();
  const submit = (event: AuditEvent, state: RecordedState) => {
    states.set(event, state);
    last.set(state.scope, state.state);
    deps.record(event);
    log.info({ scope: event.data.scope, hash: event.data.hash }, "rules in force recorded");
  };
  const cause = (c: RulesInForceCause) =>
    c.via === "config" ? { via: c.via } : { via: c.via, by: c.by, vitals: [...c.vitals] };
  /** Submits every record that differs from the last one; `also`: a subject recorded even without overrides. */
  const recordAll = (rules: RulesConfig, why: RulesInForceCause, also?: string): boolean => {
    const atMs = deps.now();
    const overrides: { tag: string; hash: string }[] = [];
    let erased = 0;
    const subjects = new Set(Object.keys(rules.thresholds.subjects));
    for (const subjectId of [...subjects, ...(also === undefined ? [] : [also])].sort()) {
      const tag = keys.tag(subjectId);
      if (isErased.get(tag, subjectId) === 1) {
        erased++;
        continue;
      }
      const record = subjectRulesInForce(rules, subjectId);
      const scope = `subject:${tag.toString("hex")}`;
      if (subjects.has(subjectId)) overrides.push({ tag: tag.toString("hex"), hash: record.hash });
      if (last.get(scope) === record.hash) continue;
      // a subject back to the ward's limits is recorded only after a change: at start, the ward record says it
      if (!subjects.has(subjectId) && !last.has(scope)) continue;
      submit(
        {
          type: RULES_IN_FORCE_EVENT,
          atMs,
          subjectId,
          deviceId: null,
          data: { scope: "subject", hash: record.hash, rules: record.rules, ...cause(why) },
        },
        { scope, state: record.hash },
      );
    }
    if (erased > 0 && why.via === "config")
      log.warn(
        { subjects: erased },
        "rules.thresholds.subjects names erased subjects; their limits are not recorded",
      );
    overrides.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
    const ward = wardRulesInForce(rules);
    const state = rulesHash({ hash: ward.hash, subject_overrides: overrides });
    if (last.get("ward") === state) return false;
    submit(
      {
        type: RULES_IN_FORCE_EVENT,
        atMs,
        subjectId: null,
        deviceId: null,
        data: {
          scope: "ward",
          hash: ward.hash,
          rules: ward.rules,
          subject_overrides: overrides,
          ...cause(why),
        },
      },
      { scope: "ward", state },
    );
    return true;
  };
  return {
    commitWriter: rulesInForceCommitWriter(
      (e) => states.get(e),
      (message) =>
        log.error({ err: message }, "rules_in_force state not stored; recorded again at next start"),
    ),
    service: {
      name: "rules_in_force",
      async start() {
        last = lastRecordedStates(db);
        if (!recordAll(deps.rules, { via: "config" }))
          log.info(
            { hash: wardRulesInForce(deps.rules).hash },
            "rules in force unchanged since last recorded",
          );
      },
      async stop() {},
    },
    recordChange(rules, subjectId, why) {
      recordAll(rules, why, subjectId);
    },
  };
}
