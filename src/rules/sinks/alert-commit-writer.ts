/**
 * The alert tables' commit writer (batcher/commit/commit-writer.ts), loaded in the commit thread: writes the alert
 * transitions and clinician observations of each commit (AlertStore.write), with an outbox row per durable
 * sink (which sinks, known only on the main thread, `prepare` snapshots when the commit starts), then applies
 * the sinks' delivery outcomes ({@link OUTBOX_MARKS} commands). A mark is submitted after its delivery ended,
 * which is after the transition it marks was submitted: commits run in submission order, so the row is there
 * when its mark is applied, in the same transaction or a later one.
 *
 * An alert-table failure never fails the commit (the readings must not be lost for it): it is returned and
 * reported on the main thread (`onFailure`). The writes run in a savepoint, so a failed write leaves none of
 * its rows behind (no transition without its outbox rows, no alert without its event). A lost mark means a
 * re-delivery after a restart (at-least-once; receivers de-duplicate by event id).
 */
import type { CommitWriterSpec, ThreadCommitWriter } from "../../batcher/commit/commit-writer.js";
import type { AuditEvent } from "../../core/ports.js";
import type { Db } from "../../db.js";
import { AlertStore, type OutboxOutcome, type OutboxParticipant } from "./alert-store.js";

/** The name the alert writer is registered under: where {@link OutboxMarks} commands go. */
export const ALERTS_WRITER = "alerts";

/** A write command of the alert writer: delivery outcomes of durable sinks' outbox rows. */
export interface OutboxMarks {
  readonly type: "outbox_marks";
  readonly marks: readonly { sink: string; eventId: string; outcome: OutboxOutcome }[];
}

/** What the thread-side writer returns: the failure, if any. */
interface WriteResult {
  error?: string;
}

/** The main-thread spec over the gateway's alert store (for its registered durable sinks). */
export function alertCommitWriter(store: AlertStore, onFailure: (message: string) => void): CommitWriterSpec {
  return {
    name: ALERTS_WRITER,
    module: import.meta.url,
    prepare(): string[] {
      return store.participants.map((p) => p.name);
    },
    onResult(result) {
      const r = result as WriteResult | undefined;
      if (r?.error !== undefined) onFailure(r.error);
    },
  };
}

export function createCommitWriter(db: Db): ThreadCommitWriter {
  const store = new AlertStore(db);
  const written = db.transaction(
    (
      events: readonly AuditEvent[],
      participants: readonly OutboxParticipant[],
      marks: OutboxMarks["marks"],
    ) => {
      if (events.length > 0) store.write(events, participants);
      if (marks.length > 0) store.markOutcomes(marks);
    },
  );
  return {
    write(_stored, events, ctx) {
      const marks = (ctx.commands as OutboxMarks[]).flatMap((c) => c.marks);
      if (events.length === 0 && marks.length === 0) return undefined;
      const participants: OutboxParticipant[] = ((ctx.prepared as string[] | undefined) ?? []).map(
        (name) => ({ name }),
      );
      try {
        written(events, participants, marks);
        return undefined;
      } catch (err) {
        return { error: (err as Error).message } satisfies WriteResult;
      }
    },
  };
}
