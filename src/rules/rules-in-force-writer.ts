/**
 * Which `rules_in_force` state was last recorded in the tamper-evident log, per scope, so the gateway logs
 * the configuration in force only when it differs from the last record (rules-in-force.ts). The sealed events
 * cannot be compared without opening them, hence this table.
 *
 * `rules_in_force` (STRICT), one row per scope:
 * - `scope`: `ward`, or `subject:<tag>` where the tag is the storage-key MAC of the subject id that the log
 *   already keeps for every subject (batcher/tlog/subject-keys.ts `tag`): the table never holds a subject id, and
 *   erasing a subject leaves here only what its tombstone in `tlog_subject_keys` keeps anyway.
 * - `state`: `sha256:<hex>` of what was recorded for that scope.
 *
 * The commit-thread half (batcher/commit/commit-writer.ts): a row is written in the transaction that appends its
 * event to the log, so the two never disagree after a crash. The scope and state of each event are known on
 * the main thread (the tag needs the storage key) and reach the thread through `prepare`, keyed by subject
 * and hash, so a commit split to isolate a failing item still finds them. Loaded in the commit thread: this
 * module imports nothing heavy.
 */

import type { CommitWriterSpec, ThreadCommitWriter } from "../batcher/commit/commit-writer.js";
import type { AuditEvent } from "../core/ports.js";
import type { Db } from "../db.js";

/** The log event's type (wire string). */
export const RULES_IN_FORCE_EVENT = "rules_in_force";

export const RULES_IN_FORCE_SQL = `
CREATE TABLE rules_in_force (
  scope TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  recorded_at_ms INTEGER NOT NULL
) STRICT;
`;

/**
 * The durable alert sinks in force (rules/sinks/alert-store.ts, audited by batcher/tlog/audit-outbox.ts) share this
 * table: the event that names them is logged only when the set differs from the last one logged, under this scope.
 */
export const OUTBOX_SINKS_EVENT = "alert_outbox_sinks";
export const OUTBOX_SINKS_SCOPE = "alert_outbox_sinks";

/** The recorded state of a set of sink names: order does not matter. */
export function outboxSinksState(sinks: readonly unknown[]): string {
  return `sinks:${sinks.map(String).sort().join(",")}`;
}

/** The row of an {@link OUTBOX_SINKS_EVENT}, or undefined for any other event. */
function outboxSinksRow(e: AuditEvent): RecordedState | undefined {
  if (e.type !== OUTBOX_SINKS_EVENT || !Array.isArray(e.data.sinks)) return undefined;
  return { scope: OUTBOX_SINKS_SCOPE, state: outboxSinksState(e.data.sinks) };
}

/** What the main thread knows of one recorded event: the row it updates. */
export interface RecordedState {
  scope: string;
  state: string;
}

/** The key under which `prepare` hands an event's row to the thread. */
export function recordKey(subjectId: string | null, hash: unknown): string {
  return `${subjectId ?? ""}\n${String(hash)}`;
}

/** The last recorded state per scope, read on the main thread's connection. */
export function lastRecordedStates(db: Db): Map<string, string> {
  const rows = db.prepare("SELECT scope, state FROM rules_in_force").all() as RecordedState[];
  return new Map(rows.map((r) => [r.scope, r.state]));
}

/**
 * The main-thread spec. `stateOf` gives the row of a `rules_in_force` event that this gateway submitted
 * (undefined for any other event). A failed row write is reported through `onFailure` and does not fail the
 * commit: the event is in the log, and the worst outcome is the same state recorded again at the next start.
 */
export function rulesInForceCommitWriter(
  stateOf: (event: AuditEvent) => RecordedState | undefined,
  onFailure: (message: string) => void,
): CommitWriterSpec {
  return {
    name: "rules_in_force",
    module: import.meta.url,
    prepare(events): [string, RecordedState][] {
      const out: [string, RecordedState][] = [];
      for (const e of events) {
        const sinks = outboxSinksRow(e);
        if (sinks) out.push([recordKey(null, sinks.state), sinks]);
        if (e.type !== RULES_IN_FORCE_EVENT) continue;
        const s = stateOf(e);
        if (s) out.push([recordKey(e.subjectId, e.data.hash), s]);
      }
      return out;
    },
    onResult(result) {
      const error = (result as { error?: string } | undefined)?.error;
      if (error !== undefined) onFailure(error);
    },
  };
}

export function createCommitWriter(db: Db): ThreadCommitWriter {
  const upsert = db.prepare(
    `INSERT INTO rules_in_force (scope, state, recorded_at_ms) VALUES (?, ?, ?)
       ON CONFLICT (scope) DO UPDATE SET state = excluded.state, recorded_at_ms = excluded.recorded_at_ms`,
  );
  return {
    write(_stored, events, ctx) {
      const prepared = new Map(ctx.prepared as [string, RecordedState][]);
      if (prepared.size === 0) return undefined;
      try {
        for (const e of events) {
          const sinks = outboxSinksRow(e);
          const s =
            sinks !== undefined
              ? prepared.get(recordKey(null, sinks.state))
              : e.type === RULES_IN_FORCE_EVENT
                ? prepared.get(recordKey(e.subjectId, e.data.hash))
                : undefined;
          if (s) upsert.run(s.scope, s.state, e.atMs);
        }
        return undefined;
      } catch (err) {
        return { error: (err as Error).message };
      }
    },
  };
}
