import type { Clock } from "../clock.js";
import { isSqliteBusy } from "../db.js";
import { GatewayError } from "../errors.js";

/** Work that becomes durable in one group commit; `done` is called after the commit (or its failure). */
export interface CommitItem<T> {
  payload: T;
  /** Number of readings this item carries (drives the count trigger). */
  weight: number;
  done: (err?: Error) => void;
}

export interface GroupCommitOptions<T> {
  clock: Clock;
  /** Flush when this many readings are pending. */
  maxReadings: number;
  /**
   * Flush at most this long after the first pending item. 0: flush as soon as the event loop has
   * handled the I/O at hand (setImmediate), so a batch is whatever arrived while the last commit ran.
   */
  maxDelayMs: number;
  /**
   * Makes the items durable, all or none: synchronously (e.g. `db.transaction(write)`) or asynchronously
   * (the gateway's commit thread). At most one commit runs at a time; items submitted meanwhile form the
   * next one. A rejection or throw fails every item of the commit.
   */
  commit: (items: readonly T[]) => void | Promise<void>;
  /**
   * While another connection holds the write lock (SQLITE_BUSY), the batch is kept and retried every
   * `busyRetryMs` for at most `busyGiveUpMs`, so the event loop (and alerts) never block on a lock.
   */
  busyRetryMs?: number;
  busyGiveUpMs?: number;
  /** Observes each commit (size and duration) for metrics. */
  onCommit?: (info: { items: number; weight: number; durationMs: number; error?: Error }) => void;
}

/**
 * Group commit: collects items and writes them in one SQLite transaction, triggered by count or by
 * time. Callers are told (`done`) only after the transaction committed, so an acknowledgement that
 * waits for `done` is never ahead of durability. A failed transaction fails every item in it.
 * While an asynchronous commit runs, new items wait and go in the next commit as soon as it ends.
 */
export class GroupCommitter<T> {
  readonly #opts: GroupCommitOptions<T>;
  #inFlight = false;
  #idle: (() => void)[] = [];
  #pending: CommitItem<T>[] = [];
  #weight = 0;
  #timer: unknown = null;
  #immediate: NodeJS.Immediate | null = null;
  #closed = false;
  #busySinceMs: number | null = null;

  constructor(opts: GroupCommitOptions<T>) {
    this.#opts = opts;
  }

  get pendingWeight(): number {
    return this.#weight;
  }

  submit(item: CommitItem<T>): void {
    if (this.#closed) {
      item.done(new GatewayError("STORE_CLOSED", "the store is shutting down"));
      return;
    }
    this.#pending.push(item);
    this.#weight += item.weight;
    // while a locked batch waits for its retry, the retry timer flushes everything pending; while a
    // commit runs, its end flushes everything pending
    if (this.#busySinceMs !== null || this.#inFlight) return;
    if (this.#weight >= this.#opts.maxReadings || this.#opts.maxDelayMs === 0) {
      // flush after the current I/O callbacks so one socket read's packets share a commit
      this.#immediate ??= setImmediate(() => {
        this.#immediate = null;
        this.flush();
      });
    } else if (this.#timer === null) {
      this.#armTimer(this.#opts.maxDelayMs);
    }
  }

  #armTimer(delayMs: number): void {
    if (this.#timer !== null) this.#opts.clock.clearTimeout(this.#timer);
    this.#timer = this.#opts.clock.setTimeout(() => {
      this.#timer = null;
      this.flush();
    }, delayMs);
  }

  /** Commits everything pending now (or, while a commit runs, as soon as it ends). */
  flush(): void {
    if (this.#timer !== null) {
      this.#opts.clock.clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#immediate) {
      clearImmediate(this.#immediate);
      this.#immediate = null;
    }
    if (this.#inFlight) return;
    if (this.#pending.length === 0) {
      this.#settleIdle();
      return;
    }
    const batch = this.#pending;
    const weight = this.#weight;
    this.#pending = [];
    this.#weight = 0;
    const started = performance.now();
    let result: void | Promise<void>;
    try {
      result = this.#opts.commit(batch.map((i) => i.payload));
    } catch (cause) {
      this.#finish(batch, weight, started, cause);
      return;
    }
    if (typeof (result as PromiseLike<void> | undefined)?.then !== "function") {
      this.#finish(batch, weight, started, undefined);
      return;
    }
    this.#inFlight = true;
    (result as PromiseLike<void>).then(
      () => this.#afterAsync(batch, weight, started, undefined),
      (cause: unknown) => this.#afterAsync(batch, weight, started, cause ?? new Error("commit failed")),
    );
  }

  #afterAsync(batch: CommitItem<T>[], weight: number, started: number, cause: unknown): void {
    this.#inFlight = false;
    this.#finish(batch, weight, started, cause);
    // what arrived during the commit goes next, at once (unless a lock retry is scheduled)
    if (this.#busySinceMs === null) this.flush();
  }

  /** Completes a commit: `cause` undefined = committed. */
  #finish(batch: CommitItem<T>[], weight: number, started: number, cause: unknown): void {
    let error: Error | undefined;
    if (cause === undefined) {
      this.#busySinceMs = null;
    } else {
      if (isSqliteBusy(cause) && !this.#closed && this.#retryBusy(batch, weight)) return;
      this.#busySinceMs = null;
      error = new GatewayError("STORE_UNAVAILABLE", `group commit of ${batch.length} item(s) failed`, {
        cause,
      });
    }
    try {
      this.#opts.onCommit?.({
        items: batch.length,
        weight,
        durationMs: performance.now() - started,
        ...(error ? { error } : {}),
      });
    } catch {
      // an observer must not keep the items from being completed
    }
    for (const item of batch) {
      try {
        item.done(error);
      } catch {
        // a completion callback must not break the others; its owner logs its own failures
      }
    }
    this.#settleIdle();
  }

  /** Puts a batch that met a lock back in front of the queue; false once the lock lasted too long. */
  #retryBusy(batch: CommitItem<T>[], weight: number): boolean {
    const now = this.#opts.clock.now();
    this.#busySinceMs ??= now;
    if (now - this.#busySinceMs >= (this.#opts.busyGiveUpMs ?? 5000)) return false;
    this.#pending = batch.concat(this.#pending);
    this.#weight += weight;
    this.#armTimer(this.#opts.busyRetryMs ?? 20);
    return true;
  }

  /** Flushes and refuses further items; resolves once every pending item is done. */
  close(): Promise<void> {
    this.#closed = true;
    const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
    this.flush();
    return idle;
  }

  /** Resolves `close()` once nothing is pending or running. */
  #settleIdle(): void {
    if (!this.#closed || this.#inFlight || this.#pending.length > 0) return;
    for (const resolve of this.#idle.splice(0)) resolve();
  }
}
