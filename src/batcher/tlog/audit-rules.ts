/**
 * `vitalog audit`: the configuration in force and the clinicians' limit changes against the log.
 *
 * - `rules_in_force` (one row per scope, rules/rules-in-force-writer.ts): every logged `rules_in_force` event
 *   must carry the hash of its own content (`hash` = `sha256:` of the JCS of `rules`: an event whose hash
 *   differs from what it carries proves nothing); every row must be the state of the last event logged for
 *   its scope (the ward's: the hash of `{hash, subject_overrides}`; a subject's: its `hash`, under the scope
 *   `subject:<tag>`). A row with no event, or another state, is a finding; so is a logged scope whose row is
 *   gone. A subject scope whose events were shredded by an erasure is compared with the state the erasure's
 *   `subject_alerts_purged` event recorded (erasure.ts `rules_in_force_state`) when the purge found the row holding
 *   it: the same, it is counted `erased`; another state, or the row gone, is a finding (changed or deleted since).
 *   A row the purge found changed already is named by audit-erasures.ts; an erasure logged before that field
 *   existed leaves the row counted `erased`. The scope `alert_outbox_sinks` holds the set of durable alert sinks
 *   last logged (an `alert_outbox_sinks` event): the same rule applies.
 * - `subject_limits` (rules/subject-limits.ts): every row must be the override the last logged
 *   `subject_limits_changed` event of its subject and vital left, with the same author and reason; a logged
 *   override without its row is a finding (deleted), and so is a row after a logged reset. A row of an erased
 *   subject is a finding: the erasure purges the subject's limits (erasure.ts), so one left names a subject that
 *   should be gone (put back since, or left by an older version: erase the subject again to purge it).
 */
import type { Database } from "better-sqlite3";
import { rulesHash } from "../../rules/rules-in-force.js";
import {
  OUTBOX_SINKS_EVENT,
  OUTBOX_SINKS_SCOPE,
  outboxSinksState,
  RULES_IN_FORCE_EVENT,
} from "../../rules/rules-in-force-writer.js";
import { SUBJECT_LIMITS_CHANGED } from "../../rules/subject-limits-sql.js";
import { canonicalize } from "../verifier/canonical-record.js";
import type { ErasedSubjects, LoggedEvent } from "./audit-events.js";
import type { Finding, TableCheck } from "./audit-findings.js";
import { SUBJECT_ALERTS_PURGED } from "./erasure.js";
import type { SubjectKeys } from "./subject-keys.js";

const hasTable = (db: Database, name: string) =>
  db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(name) !== undefined;

export function rulesInForceCheck(db: Database, keys: Pick<SubjectKeys, "tag">): TableCheck {
  const TABLE = "rules_in_force";
  /** scope → the state its last event records, and that event's leaf. */
  const logged = new Map<string, { state: string; leaf: number }>();
  /** An erased subject's scope → the state its erasure recorded for it (its events are shredded), and its leaf. */
  const atErasure = new Map<string, { state: string; leaf: number; ref: string }>();
  const early: Finding[] = [];
  const mismatch = (ref: string | null, leafIndex: number | null, detail: string): Finding => ({
    kind: "rules_in_force_mismatch",
    ref,
    leafIndex,
    detail,
    table: TABLE,
  });
  return {
    onEvent(e: LoggedEvent) {
      if (e.type === SUBJECT_ALERTS_PURGED) {
        const l = e.data.logged as Record<string, unknown> | null | undefined;
        const state = l?.rules_in_force_state;
        // a row the purge found changed already is its erasure_mismatch (audit-erasures.ts), not named twice
        if (typeof state === "string" && l?.rules_in_force_with_row === 1)
          atErasure.set(`subject:${String(e.data.subject_tag)}`, { state, leaf: e.leafIndex, ref: e.ref });
        return;
      }
      if (e.type === OUTBOX_SINKS_EVENT) {
        if (Array.isArray(e.data.sinks))
          logged.set(OUTBOX_SINKS_SCOPE, { state: outboxSinksState(e.data.sinks), leaf: e.leafIndex });
        return;
      }
      if (e.type !== RULES_IN_FORCE_EVENT) return;
      const { scope, hash } = e.data;
      if (typeof hash !== "string") throw new Error("it carries no hash");
      if (rulesHash(e.data.rules) !== hash)
        early.push(
          mismatch(e.ref, e.leafIndex, `logged hash ${hash} is not the hash of the rules it carries`),
        );
      if (scope === "ward") {
        const state = rulesHash({ hash, subject_overrides: e.data.subject_overrides });
        logged.set("ward", { state, leaf: e.leafIndex });
      } else if (scope === "subject" && e.subjectId !== null) {
        logged.set(`subject:${keys.tag(e.subjectId).toString("hex")}`, { state: hash, leaf: e.leafIndex });
      } else throw new Error(`unknown scope ${String(scope)}`);
    },
    finish(add) {
      for (const f of early) add(f);
      if (!hasTable(db, TABLE)) return [{ table: TABLE, rows: 0, verified: 0, pending: 0, erased: 0 }];
      const rows = db.prepare(`SELECT scope, state, recorded_at_ms FROM ${TABLE} ORDER BY scope`).all() as {
        scope: string;
        state: string;
        recorded_at_ms: number;
      }[];
      const erasedAt = new Map(
        (
          db
            .prepare("SELECT subject_tag, erased_at_ms FROM tlog_subject_keys WHERE erased_at_ms IS NOT NULL")
            .all() as { subject_tag: Uint8Array; erased_at_ms: number }[]
        ).map((r) => [`subject:${Buffer.from(r.subject_tag).toString("hex")}`, r.erased_at_ms]),
      );
      let verified = 0;
      let erased = 0;
      for (const r of rows) {
        const l = logged.get(r.scope);
        logged.delete(r.scope);
        const recorded = atErasure.get(r.scope);
        atErasure.delete(r.scope);
        if (l === undefined) {
          const at = erasedAt.get(r.scope);
          if (
            at !== undefined &&
            r.recorded_at_ms <= at &&
            recorded !== undefined &&
            recorded.state !== r.state
          )
            add(
              mismatch(
                r.scope,
                recorded.leaf,
                `stored state ${r.state} is not the ${recorded.state} its subject's erasure recorded: changed since`,
              ),
            );
          else if (at !== undefined && r.recorded_at_ms <= at) erased++;
          else
            add(
              mismatch(
                r.scope,
                null,
                "row has no logged rules_in_force event: written behind the gateway's back",
              ),
            );
          continue;
        }
        if (l.state !== r.state)
          add(mismatch(r.scope, l.leaf, `stored state ${r.state} is not the logged ${l.state}`));
        else verified++;
      }
      for (const [scope, l] of logged)
        add(mismatch(scope, l.leaf, "logged rules_in_force has no row: deleted"));
      for (const [scope, r] of atErasure) {
        // a scope logged again after the erasure is impossible (no key is made for an erased id): judged above
        if (!erasedAt.has(scope)) continue;
        add(
          mismatch(
            scope,
            r.leaf,
            `the rules_in_force row its subject's erasure recorded (${r.state}) is gone: deleted since`,
          ),
        );
      }
      return [{ table: TABLE, rows: rows.length, verified, pending: 0, erased }];
    },
  };
}

interface LimitRow {
  subject_id: string;
  vital: string;
  limits: string;
  changed_by: string;
  reason: string;
  changed_at_ms: number;
}

export function subjectLimitsCheck(db: Database, erasedSubjects: ErasedSubjects): TableCheck {
  const TABLE = "subject_limits";
  /** `subject\nvital` → what the last logged change left (override null: reset). */
  const logged = new Map<string, { override: unknown; by: unknown; why: unknown; leaf: number }>();
  const mismatch = (ref: string, leafIndex: number | null, detail: string): Finding => ({
    kind: "subject_limits_mismatch",
    ref,
    leafIndex,
    detail,
    table: TABLE,
  });
  return {
    onEvent(e: LoggedEvent) {
      if (e.type !== SUBJECT_LIMITS_CHANGED) return;
      if (e.subjectId === null || typeof e.data.vital !== "string")
        throw new Error("it names no subject or vital");
      logged.set(`${e.subjectId}\n${e.data.vital}`, {
        override: e.data.override ?? null,
        by: e.data.by,
        why: e.data.why,
        leaf: e.leafIndex,
      });
    },
    finish(add) {
      if (!hasTable(db, TABLE)) return [{ table: TABLE, rows: 0, verified: 0, pending: 0, erased: 0 }];
      const rows = db.prepare(`SELECT * FROM ${TABLE} ORDER BY subject_id, vital`).all() as LimitRow[];
      let verified = 0;
      for (const r of rows) {
        const key = `${r.subject_id}\n${r.vital}`;
        const ref = `${r.subject_id} ${r.vital}`;
        const l = logged.get(key);
        logged.delete(key);
        if (l === undefined || l.override === null) {
          const detail =
            l === undefined && erasedSubjects.covers(r.subject_id, r.changed_at_ms)
              ? "row names an erased subject: not purged by its erasure, or put back since (erase the subject again to purge it)"
              : l === undefined
                ? "row has no logged subject_limits_changed: written behind the gateway's back (or while the log was off)"
                : "row exists after a logged reset";
          add(mismatch(ref, l?.leaf ?? null, detail));
          continue;
        }
        const diffs: string[] = [];
        let stored: unknown;
        try {
          stored = JSON.parse(r.limits);
        } catch {
          stored = r.limits;
        }
        if (canonicalize(stored) !== canonicalize(l.override))
          diffs.push("its limits are not the logged ones");
        if (r.changed_by !== l.by) diffs.push(`changed_by: logged ${String(l.by)}, stored ${r.changed_by}`);
        if (r.reason !== l.why) diffs.push("its reason is not the logged one");
        if (diffs.length > 0) add(mismatch(ref, l.leaf, diffs.join("; ")));
        else verified++;
      }
      for (const [key, l] of logged) {
        if (l.override !== null)
          add(mismatch(key.replace("\n", " "), l.leaf, "logged limit change has no row: deleted"));
      }
      return [{ table: TABLE, rows: rows.length, verified, pending: 0, erased: 0 }];
    },
  };
}
