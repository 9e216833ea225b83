/**
 * The commit thread: the group commit's transaction (readings, rejections, the tamper-evident log, the alert
 * tables) and its fsync run in a worker thread on a connection of their own, so the main thread — MQTT,
 * validation, the rule engine and alert delivery — never waits for the disk [DESIGN.md "Alerts do not
 * wait"], and the log's hashing runs beside ingest instead of in its way.
 *
 * One commit runs at a time (GroupCommitter sends the next when this one answers). Writers registered after
 * the thread started are loaded before the next commit. If the thread dies, the commits it held fail (their
 * readings are not acknowledged, so devices re-send) and the next commit starts a new thread.
 * Other writes reach the thread as typed write commands in the same commits (`CommitBatch.commands`, applied
 * by the writer each one names: the outbox marks so far). Those not moved yet (registry, checkpoints, anchor
 * state, limits) stay on the main connection; SQLite serialises them with the thread's commits (WAL, one
 * writer at a time).
 */

import { Worker } from "node:worker_threads";
import type { AuditEvent } from "../../core/ports.js";
import type { CommitBatch } from "../../drivers/ingest.js";
import { GatewayError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { errorFromWire, type ThreadInit, type ToMain, type ToThread } from "./commit-thread-protocol.js";
import type { CommitWriterSpec } from "./commit-writer.js";
import type { CommitOutcome, IsolatedItem } from "./group-commit.js";

const WORKER = new URL("./commit-thread-worker.js", import.meta.url);

/** The message that loads a writer's thread half. */
function writerMessage(s: CommitWriterSpec): ToThread {
  return { type: "writer", name: s.name, module: s.module, init: s.init };
}

/**
 * What a commit reports besides success (a {@link CommitOutcome} for the group commit): indexes are into
 * the batches passed to `commit`; every batch not in `failed` is durable.
 */
export interface ThreadCommitResult extends CommitOutcome {
  /** Device ids of readings dropped as duplicates (one per reading). */
  duplicates: string[];
  /** Batches whose rows storage refused, replaced by a durable `storage_refused` rejection. */
  isolated: IsolatedItem[];
  /** Batches that failed on their own (their content, or a storage fault after others committed). */
  failed: Map<number, Error>;
}

interface Waiter {
  resolve: (r: ThreadCommitResult) => void;
  reject: (err: Error) => void;
  specs: readonly CommitWriterSpec[];
  /** The thread the commit was sent to. */
  worker: Worker;
}

export class CommitThread {
  readonly #init: ThreadInit;
  readonly #log: Logger;
  readonly #specs: CommitWriterSpec[] = [];
  #worker: Worker | undefined;
  #ready: Promise<void> | undefined;
  #nextId = 1;
  readonly #waiting = new Map<number, Waiter>();
  #closing = false;
  #closed: (() => void) | undefined;
  #downReason: string | undefined;

  constructor(init: ThreadInit, log: Logger) {
    this.#init = init;
    this.#log = log;
  }

  /**
   * Why no thread serves commits (it could not open the database, or exited), until a new one is ready
   * (the next commit starts one); undefined while one runs or before the first start.
   */
  get downReason(): string | undefined {
    return this.#downReason;
  }

  /** Registers a writer for every later commit (loaded into a running thread before its next commit). */
  addWriter(spec: CommitWriterSpec): void {
    this.#specs.push(spec);
    if (this.#worker) this.#post(writerMessage(spec));
  }

  /** Starts the thread (idempotent); rejects when it cannot open the database. */
  start(): Promise<void> {
    if (this.#closing) return Promise.reject(new GatewayError("STORE_CLOSED", "the store is shutting down"));
    this.#ready ??= this.#spawn();
    return this.#ready;
  }

  /**
   * Commits the batches in the thread; resolves once they are durable, except those the result names as
   * failed. Rejects when none could be committed (a lock: `code` SQLITE_BUSY). See commit-thread-worker.ts
   * for how one batch's content is kept from failing the others.
   */
  async commit(batches: readonly CommitBatch[], nowMs: number): Promise<ThreadCommitResult> {
    await this.start();
    const specs = [...this.#specs];
    const events: AuditEvent[] = [];
    for (const b of batches) if (b.events) events.push(...b.events);
    const prepared = specs.map((s) => s.prepare?.(events));
    const id = this.#nextId++;
    const worker = this.#worker!;
    const result = new Promise<ThreadCommitResult>((resolve, reject) =>
      this.#waiting.set(id, { resolve, reject, specs, worker }),
    );
    try {
      worker.postMessage({ type: "commit", id, batches, nowMs, prepared } satisfies ToThread);
    } catch (err) {
      // e.g. DataCloneError: nothing reached the thread
      this.#waiting.delete(id);
      throw err;
    }
    return result;
  }

  /** Lets the thread finish what it holds, closes its connection and ends it. */
  async close(): Promise<void> {
    this.#closing = true;
    const worker = this.#worker;
    if (!worker) return;
    await this.#ready?.catch(() => {});
    const closed = new Promise<void>((resolve) => {
      this.#closed = resolve;
    });
    this.#post({ type: "close" });
    await Promise.race([closed, new Promise((resolve) => worker.once("exit", resolve))]);
    await worker.terminate();
  }

  #post(m: ToThread): void {
    this.#worker!.postMessage(m);
  }

  #spawn(): Promise<void> {
    const worker = new Worker(WORKER, { workerData: this.#init });
    this.#worker = worker;
    for (const s of this.#specs) worker.postMessage(writerMessage(s));
    return new Promise<void>((resolve, reject) => {
      let started = false;
      worker.on("message", (m: ToMain) => {
        switch (m.type) {
          case "ready":
            started = true;
            this.#downReason = undefined;
            resolve();
            return;
          case "fatal":
            this.#downReason = `cannot open the database: ${m.error.message}`;
            reject(
              new GatewayError("STORE_UNAVAILABLE", "the commit thread cannot open the database", {
                cause: errorFromWire(m.error),
              }),
            );
            return;
          case "done":
            this.#settle(m.id, (w) => {
              w.resolve({
                duplicates: m.duplicates,
                isolated: m.isolated,
                failed: new Map(m.failed.map((f) => [f.index, errorFromWire(f.error)])),
              });
              // one result per writer for every transaction the commit took
              for (const results of m.results) {
                results.forEach((r, i) => {
                  try {
                    w.specs[i]?.onResult?.(r);
                  } catch (err) {
                    this.#log.error({ err, writer: w.specs[i]?.name }, "commit writer result handler failed");
                  }
                });
              }
            });
            return;
          case "failed":
            this.#settle(m.id, (w) => w.reject(errorFromWire(m.error)));
            if (m.restart) this.#retire(worker); // a writer failed to load: the next commit reloads them all
            return;
          case "closed":
            this.#closed?.();
            return;
          case "writer-failed":
            this.#log.error(
              { writer: m.name, err: m.error.message },
              "commit writer failed to load; commits fail until it loads (the thread restarts)",
            );
            return;
        }
      });
      worker.on("error", (err) => {
        this.#log.error({ err }, "commit thread failed");
        if (!started)
          reject(new GatewayError("STORE_UNAVAILABLE", "the commit thread failed", { cause: err }));
      });
      worker.on("exit", (code) => {
        const retired = this.#worker !== worker;
        this.#retire(worker);
        const lost: Waiter[] = [];
        for (const [id, w] of this.#waiting) {
          if (w.worker !== worker) continue;
          this.#waiting.delete(id);
          lost.push(w);
        }
        for (const w of lost)
          w.reject(new GatewayError("STORE_UNAVAILABLE", `the commit thread exited (code ${code})`));
        if (!this.#closing && !retired) {
          this.#downReason ??= `exited (code ${code})`;
          this.#log.error({ code, commitsFailed: lost.length }, "commit thread exited");
        }
        if (!started)
          reject(new GatewayError("STORE_UNAVAILABLE", `the commit thread exited (code ${code})`));
      });
    });
  }

  /** Forgets a thread (the next commit starts a new one) and ends it. */
  #retire(worker: Worker): void {
    if (this.#worker === worker) {
      this.#worker = undefined;
      this.#ready = undefined;
    }
    void worker.terminate();
  }

  #settle(id: number, f: (w: Waiter) => void): void {
    const w = this.#waiting.get(id);
    if (!w) return;
    this.#waiting.delete(id);
    f(w);
  }
}
