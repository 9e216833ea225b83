/**
 * The alert tables' commit writer (batcher/commit-writer.ts), loaded in the commit thread: writes the alert
 * transitions and clinician observations of each commit (AlertStore.write). Which durable sinks get outbox
 * rows, and the outcome of a delivery that finished before its row is written, are known only on the main
 * thread: `prepare` snapshots them when the commit starts. A delivery that finishes while the commit runs
 * may have its sink's mark land before the row exists (it then changes nothing): so the writer returns the
 * rows it wrote without an outcome, and `onResult` marks those whose outcome is known by then.
 *
 * An alert-table failure never fails the commit (the readings must not be lost for it): it is returned and
 * reported on the main thread (`onFailure`). AlertStore.write runs in a savepoint, so a failed write leaves
 * none of its rows behind (no transition without its outbox rows, no alert without its event).
 */
import type { CommitWriterSpec, ThreadCommitWriter } from "../../batcher/commit-writer.js";
import type { Db } from "../../db.js";
import { alertMessageOf } from "./alert-message.js";
import { AlertStore, type OutboxOutcome, type OutboxParticipant } from "./alert-store.js";

/** What the thread-side writer returns: the outbox rows written without an outcome, or the failure. */
interface WriteResult {
  open?: [string, string][];
  error?: string;
}

/** The durable sinks and the outcomes already known when a commit started. */
interface OutboxSnapshot {
  sinks: string[];
  /** [sink, event id, outcome] */
  outcomes: [string, string, OutboxOutcome][];
}

/** The main-thread spec over the gateway's alert store (for its registered durable sinks). */
export function alertCommitWriter(store: AlertStore, onFailure: (message: string) => void): CommitWriterSpec {
  return {
    name: "alerts",
    module: import.meta.url,
    prepare(events): OutboxSnapshot {
      const participants = store.participants;
      const outcomes: [string, string, OutboxOutcome][] = [];
      for (const e of events) {
        const m = alertMessageOf(e);
        if (!m) continue;
        for (const p of participants) {
          const o = p.outcomeOf(m.event_id);
          if (o) outcomes.push([p.name, m.event_id, o]);
        }
      }
      return { sinks: participants.map((p) => p.name), outcomes };
    },
    onResult(result) {
      const r = result as WriteResult | undefined;
      if (r?.error !== undefined) onFailure(r.error);
      const marks: { sink: string; eventId: string; outcome: OutboxOutcome }[] = [];
      for (const [sink, eventId] of r?.open ?? []) {
        const outcome = store.participants.find((p) => p.name === sink)?.outcomeOf(eventId);
        if (outcome) marks.push({ sink, eventId, outcome });
      }
      if (marks.length === 0) return;
      try {
        store.markOutcomes(marks);
      } catch (err) {
        // at-least-once: an unmarked delivered row is delivered again after a restart (receivers de-duplicate)
        onFailure(`outbox mark after commit failed: ${(err as Error).message}`);
      }
    },
  };
}

export function createCommitWriter(db: Db): ThreadCommitWriter {
  const store = new AlertStore(db);
  return {
    write(_stored, events, ctx) {
      if (events.length === 0) return undefined;
      const snapshot = ctx.prepared as OutboxSnapshot;
      const known = new Map(snapshot.outcomes.map(([sink, id, o]) => [`${sink}\n${id}`, o]));
      const participants: OutboxParticipant[] = snapshot.sinks.map((name) => ({
        name,
        outcomeOf: (eventId) => known.get(`${name}\n${eventId}`),
      }));
      try {
        return { open: store.write(events, participants) } satisfies WriteResult;
      } catch (err) {
        return { error: (err as Error).message } satisfies WriteResult;
      }
    },
  };
}
