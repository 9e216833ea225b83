/**
 * Commit writers: the parts of the gateway that write inside every group commit (the tamper-evident log,
 * the alert tables). The group commit runs in the commit thread (commit-thread.ts), on its own database
 * connection, so a writer has two halves:
 *
 * - on the main thread, a {@link CommitWriterSpec} registered with `Gateway.addCommitWriter`: which module
 *   builds the thread half, its (structured-cloneable) init data, and optional hooks that run before each
 *   commit (`prepare`, for state only the main thread has) and after it (`onResult`);
 * - in the commit thread, the {@link ThreadCommitWriter} that the module's `createCommitWriter(db, init)`
 *   returns. Its `write` runs inside the commit's transaction, synchronously, in a savepoint of its own; a
 *   throw rolls back what it wrote and the transaction (readings included), and fails the whole commit
 *   when the error is a storage fault (a lock, a full disk …), an integrity failure, or one the writers
 *   also meet with nothing to write (checked in a transaction that is always rolled back). Otherwise the
 *   commit thread commits the items in halves to find the one whose content makes the writer fail
 *   (commit-thread-worker.ts): only that item fails, and the others' readings reach the writer again in
 *   smaller transactions.
 */
import type { AuditEvent } from "../../core/ports.js";
import type { Db } from "../../db.js";
import type { Reading } from "../../reading.js";

/** What a thread-side writer gets for one commit. */
export interface CommitContext {
  /** The gateway clock's time when the commit was started. */
  readonly nowMs: number;
  /** What this writer's `prepare` returned on the main thread for this commit (undefined without one). */
  readonly prepared: unknown;
  /**
   * The write commands addressed to this writer (by its spec's name) in this transaction, in submission order,
   * after the readings and events: every other write of the gateway reaches the database this way, so the
   * commit thread is its one writer. A writer MUST apply them inside `write`, after its rows for `events`.
   */
  readonly commands: readonly unknown[];
}

/** The commit-thread half of a writer. */
export interface ThreadCommitWriter {
  /**
   * The position the transaction's first stored reading takes in the tamper-evident log (the log's size,
   * read inside the transaction, at the start of each one a commit takes); stored readings are numbered
   * from it in order. At most one writer numbers.
   */
  nextLeaf?(): number;
  /**
   * Runs inside the commit transaction after the readings were inserted: `stored` are the readings actually
   * written (duplicates left out), `events` the commit's audit events, in order. MUST be synchronous.
   * MUST keep no state that a rollback would leave stale, and have no effect outside the transaction:
   * after a throw it may be called again, in a new transaction, with nothing or with a part of the same
   * readings and events. The return value (structured-cloneable) goes to the spec's `onResult` on the main
   * thread (not for a transaction that was rolled back).
   */
  write(stored: readonly Reading[], events: readonly AuditEvent[], ctx: CommitContext): unknown;
}

/** The export a writer module provides. */
export type CreateCommitWriter = (db: Db, init: unknown) => ThreadCommitWriter | Promise<ThreadCommitWriter>;

/** The main-thread half of a writer. */
export interface CommitWriterSpec {
  /** Name for logs and errors. */
  readonly name: string;
  /** URL (file:) of the module exporting `createCommitWriter`; it is imported in the commit thread. */
  readonly module: string;
  /** Passed to `createCommitWriter` (structured-cloned). */
  readonly init?: unknown;
  /** Runs on the main thread when a commit starts; the result (structured-cloneable) reaches `write`. */
  prepare?(events: readonly AuditEvent[]): unknown;
  /**
   * Runs on the main thread after the commit succeeded, with what `write` returned: once per transaction
   * the commit took (more than one when it was split to isolate an item).
   */
  onResult?(result: unknown): void;
}
