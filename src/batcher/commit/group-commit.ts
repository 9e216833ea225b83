import type { Clock } from "../../clock.js";
import { isSqliteBusy } from "../../db.js";
import { GatewayError } from "../../errors.js";

/** Work that becomes durable in one group commit; `done` is called after the commit (or its failure). */
export interface CommitItem<T> {
  payload: T;
  /** Number of readings this item carries (drives the count trigger). */
  weight: number;
  done: (err?: Error) => void;
}

/** An item whose content storage refused, and whose refusal was made durable in its place. */
export interface IsolatedItem {
  /** Index of the item in the items passed to `commit`. */
  readonly index: number;
  /** Wire string (snake_case), e.g. `storage_refused`. */
  readonly reason: string;
  /** Why storage refused it: the storage engine's (or a commit writer's) message. Logged only at `debug`. */
  readonly detail: string;
}

/**
 * What a commit reports when its items did not all share one fate. Indexes are into the items passed to
 * `commit`; every item not named in `failed` is durable (stored, or refused durably when in `isolated`).
 */
export interface CommitOutcome {
  /** Items that failed on their own, with their error; an item that met a lock (SQLITE_BUSY) is retried. */
  readonly failed?: ReadonlyMap<number, Error>;
  /** Items replaced by a durable refusal: completed without error, like any refused payload. */
  readonly isolated?: readonly IsolatedItem[];
}

/** What `onCommit` observes of one commit. */
export interface CommitInfo {
  items: number;
  weight: number;
  durationMs: number;
  /** The whole commit failed (every item failed with it). */
  error?: Error;
  /** Items completed as durable refusals ({@link CommitOutcome.isolated}). */
  isolated: number;
  /** Items completed with an error: all of them when `error` is set. */
  failed: number;
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
   * Makes the items durable: synchronously (e.g. `db.transaction(write)`) or asynchronously (the gateway's
   * commit thread). At most one commit runs at a time; items submitted meanwhile form the next one. A
   * rejection or throw fails every item of the commit; a {@link CommitOutcome} names the items that fared
   * otherwise than the rest (nothing returned: all committed).
   */
  commit: (items: readonly T[]) => void | CommitOutcome | Promise<void> | Promise<CommitOutcome | undefined>;
  /**
   * While another connection holds the write lock (SQLITE_BUSY), the batch is kept and retried every
   * `busyRetryMs` for at most `busyGiveUpMs`, so the event loop (and alerts) never block on a lock.
   */
  busyRetryMs?: number;
  busyGiveUpMs?: number;
  /** Observes each commit (size, duration, outcome) for metrics; not called for a commit kept for a lock retry. */
  onCommit?: (info: CommitInfo) => void;
}

/**
 * Group commit: collects items and writes them in one SQLite transaction, triggered by count or by
 * time. Callers are told (`done`) only after the transaction committed, so an acknowledgement that
 * waits for `done` is never ahead of durability. A failed commit fails every item in it, unless the
 * commit reports per-item fates ({@link CommitOutcome}).
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
    let result: ReturnType<GroupCommitOptions<T>["commit"]>;
    try {
      result = this.#opts.commit(batch.map((i) => i.payload));
    } catch (cause) {
      this.#finish(batch, weight, started, { cause });
      return;
    }
    if (!isThenable(result)) {
      this.#finish(batch, weight, started, { outcome: result ?? undefined });
      return;
    }
    this.#inFlight = true;
    result.then(
      (outcome) =>
        this.#afterAsync(batch, weight, started, {
          outcome: (outcome as CommitOutcome | undefined) ?? undefined,
        }),
      (cause: unknown) =>
        this.#afterAsync(batch, weight, started, { cause: cause ?? new Error("commit failed") }),
    );
  }

  #afterAsync(batch: CommitItem<T>[], weight: number, started: number, end: CommitEnd): void {
    this.#inFlight = false;
    this.#finish(batch, weight, started, end);
    // what arrived during the commit goes next, at once (unless a lock retry is scheduled)
    if (this.#busySinceMs === null) this.flush();
  }

  /** Completes a commit: with `cause`, the whole commit failed; otherwise `outcome` names the exceptions. */
  #finish(batch: CommitItem<T>[], weight: number, started: number, end: CommitEnd): void {
    if ("cause" in end) {
      const { cause } = end;
      if (isSqliteBusy(cause) && !this.#closed && this.#retryBusy(batch, weight)) return;
      this.#busySinceMs = null;
      const error = new GatewayError("STORE_UNAVAILABLE", `group commit of ${batch.length} item(s) failed`, {
        cause,
      });
      this.#observe({ items: batch.length, weight, started, error, isolated: 0, failed: batch.length });
      this.#complete(batch.map((item) => [item, error]));
      return;
    }
    const failed = end.outcome?.failed ?? new Map<number, Error>();
    // items that met a lock after the others committed wait for it, like a whole commit that met one
    const locked = batch.filter((_, i) => isSqliteBusy(failed.get(i)));
    const isRetrying =
      locked.length > 0 &&
      !this.#closed &&
      this.#retryBusy(
        locked,
        locked.reduce((sum, item) => sum + item.weight, 0),
      );
    if (!isRetrying) this.#busySinceMs = null;
    const fates: [CommitItem<T>, Error | undefined][] = [];
    batch.forEach((item, i) => {
      const cause = failed.get(i);
      if (cause === undefined) fates.push([item, undefined]);
      else if (!(isRetrying && isSqliteBusy(cause))) fates.push([item, itemError(cause)]);
    });
    const isolated = end.outcome?.isolated?.filter(
      (x) => batch[x.index] !== undefined && !failed.has(x.index),
    );
    this.#observe({
      items: batch.length,
      weight,
      started,
      isolated: isolated?.length ?? 0,
      failed: fates.filter(([, error]) => error !== undefined).length,
    });
    this.#complete(fates);
  }

  #observe(o: Omit<CommitInfo, "durationMs"> & { started: number }): void {
    const { started, ...info } = o;
    try {
      this.#opts.onCommit?.({ ...info, durationMs: performance.now() - started });
    } catch {
      // an observer must not keep the items from being completed
    }
  }

  #complete(fates: readonly (readonly [CommitItem<T>, Error | undefined])[]): void {
    for (const [item, error] of fates) {
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

/** How a commit ended: it threw or rejected (`cause`), or it returned (`outcome`, undefined: all committed). */
type CommitEnd = { cause: unknown } | { outcome: CommitOutcome | undefined };

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof (x as PromiseLike<unknown> | undefined)?.then === "function";
}

/** The error an item that failed on its own completes with. */
function itemError(cause: unknown): GatewayError {
  return new GatewayError("STORE_UNAVAILABLE", "the group commit failed for this item", { cause });
}
