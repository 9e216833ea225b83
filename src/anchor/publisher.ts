/**
 * The gateway's anchor publisher over one EVM ledger account (reference §6.3–6.4): the
 * `AnchorPublisher` contract (anchor-publisher.ts) on a reorg-safe state machine persisted in SQLite,
 * with one serialized sender. The decisions are the pure `nextStep` (publisher-step.ts), carried out
 * tick by tick (publisher-ticks.ts) over the `AnchorRecords` store (publisher-records.ts).
 *
 * How this implementation keeps the contract:
 * - `offer` is one synchronous IMMEDIATE transaction (compare, then insert); the ledger is contacted
 *   only by the loop. A lock held by the commit thread is retried here after BUSY_RETRY_MS.
 * - A signed transaction is persisted before it is broadcast, and any re-send of a checkpoint reuses
 *   its nonce until that nonce is provably consumed; a newer checkpoint replaces a pending one at the
 *   same nonce. So an outage of any length ends with ONE transaction carrying the newest checkpoint,
 *   and a restart at any state neither anchors a checkpoint twice nor loses one.
 * - `stop` waits for the running tick, whose ledger calls are bounded by the RPC timeout.
 */
import type { Database } from "better-sqlite3";
import { type Clock, systemClock } from "../clock.js";
import { isSqliteBusy } from "../db.js";
import { AnchorError, anchorFields, type CheckpointInput } from "./anchor.js";
import {
  ANCHOR_STATES,
  type AnchorPublisher,
  type AnchorState,
  notifyListeners,
  type PublisherEvent,
  type PublisherStatus,
} from "./anchor-publisher.js";
import type { EvmAnchorEvidence } from "./evidence.js";
import type { EvmLedger } from "./evm-ledger.js";
import type { AnchorRecords, NewItem } from "./publisher-records.js";
import { nextStep, type PublisherConfig, type Timing } from "./publisher-step.js";
import { PublisherStore } from "./publisher-store.js";
import { PublisherTicks } from "./publisher-ticks.js";

export type { PublisherEvent, PublisherStatus } from "./anchor-publisher.js";
export type { PublisherConfig } from "./publisher-step.js";
export { ANCHOR_MIGRATION } from "./publisher-store.js";

/** Delay before offering again a checkpoint whose offer met the commit thread's write lock. */
const BUSY_RETRY_MS = 50;

/** Durable, non-blocking anchor publisher over one EVM ledger account. */
export class Publisher implements AnchorPublisher {
  /** Read access for status, proofs and tests; the publisher alone writes through it. */
  readonly store: AnchorRecords;
  readonly ledger: EvmLedger;
  readonly clock: Clock;
  readonly config: Timing;
  readonly #ticks: PublisherTicks;
  #lastError: PublisherStatus["last_error"] = null;
  #lastStatus: PublisherStatus | undefined;
  #timer: unknown;
  #isRunning = false;
  /** A checkpoint whose offer met a lock, offered again after BUSY_RETRY_MS. */
  #busyOffer: CheckpointInput | undefined;
  #busyTimer: unknown;
  #chain: Promise<void> = Promise.resolve();
  #listeners = new Set<(e: PublisherEvent) => void>();

  /** `store`: the gateway database (ANCHOR_MIGRATION applied), or any AnchorRecords over it. */
  constructor(
    store: Database | AnchorRecords,
    ledger: EvmLedger,
    config: PublisherConfig = {},
    clock: Clock = systemClock,
  ) {
    this.store = "decideAndApply" in store ? store : new PublisherStore(store);
    this.ledger = ledger;
    this.clock = clock;
    this.config = {
      anchorIntervalMs: config.anchorIntervalMs ?? 300_000,
      pollIntervalMs: config.pollIntervalMs ?? 5_000,
      outageRetryMs: config.outageRetryMs ?? 15_000,
      rebroadcastMs: config.rebroadcastMs ?? 60_000,
      bumpAfterMs: config.bumpAfterMs ?? 180_000,
    };
    this.#ticks = new PublisherTicks({
      records: this.store,
      ledger,
      clock,
      timing: this.config,
      report: (e) => (e.type === "error" ? this.noteError(e.reason, e.message) : this.#emit(e)),
    });
  }

  get ledgerName(): string {
    return this.ledger.name;
  }

  /** Starts the periodic loop; the first tick reconciles nonces and rebroadcasts SENT transactions. */
  start(): void {
    if (this.#isRunning) return;
    this.#isRunning = true;
    this.#schedule(0);
  }

  /** Stops the loop and waits for a running tick; the database stays open (caller owns it). */
  async stop(): Promise<void> {
    this.#isRunning = false;
    if (this.#busyTimer !== undefined) this.clock.clearTimeout(this.#busyTimer);
    this.#busyTimer = undefined;
    this.#busyOffer = undefined;
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#chain;
  }

  on(listener: (e: PublisherEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Offers the newest checkpoint for anchoring. Synchronous and never throws; returns false (and
   * records last_error) when the checkpoint is invalid or older than one already anchored.
   * A lock held by the gateway's commit thread is not an error: the offer is made again after
   * BUSY_RETRY_MS (unless a newer one came meanwhile).
   */
  offer(cp: CheckpointInput): boolean {
    let item: NewItem;
    try {
      const { checkpointHash } = anchorFields(cp);
      if (cp.treeSize >= 1n << 63n) throw new RangeError("treeSize beyond SQLite INTEGER");
      const { origin, treeSize, rootHash, noteText } = cp;
      item = { ledger: this.ledger.name, origin, treeSize, rootHash, noteText, checkpointHash };
    } catch (err) {
      this.noteError("invalid_checkpoint", err instanceof Error ? err.message : String(err));
      return false;
    }
    try {
      const nowMs = this.clock.now();
      const next = this.store.decideAndApply(() => {
        const s = nextStep({
          kind: "offer",
          item,
          known: this.store.byHash(item.checkpointHash) !== undefined,
          maxCommittedSize: this.store.maxCommittedSize(),
          queued: this.store.inState("queued"),
          nowMs,
        });
        return { result: s, writes: s.writes };
      });
      for (const e of next.errors) this.noteError(e.reason, e.message);
      const isAccepted = next.action.kind === "accept";
      if (isAccepted && this.#isRunning) this.#schedule(0);
      return isAccepted;
    } catch (err) {
      if (isSqliteBusy(err) && this.#isRunning) {
        // the commit thread holds the write lock: offer again shortly (a newer offer replaces this one)
        this.#busyOffer = cp;
        this.#busyTimer ??= this.clock.setTimeout(() => {
          this.#busyTimer = undefined;
          const again = this.#busyOffer;
          this.#busyOffer = undefined;
          if (again !== undefined) this.offer(again);
        }, BUSY_RETRY_MS);
        return false;
      }
      this.noteError("store_unavailable", err instanceof Error ? err.message : String(err));
      return false;
    }
  }

  /** Runs one step of the state machine now (serialized with the loop); never rejects. */
  tick(): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      let delay = this.config.pollIntervalMs;
      try {
        await this.#ticks.run();
        this.#lastError = null;
      } catch (err) {
        const e = err instanceof AnchorError ? err : null;
        this.noteError(e?.reason ?? "internal", err instanceof Error ? err.message : String(err));
        delay = e?.retryable === false ? this.config.pollIntervalMs : this.config.outageRetryMs;
      }
      if (this.#isRunning) this.#schedule(delay);
    });
    return this.#chain;
  }

  /** Resolves once the tick under way, if any, has finished (for a caller driving a fake clock). */
  settled(): Promise<void> {
    return this.#chain;
  }

  /** Snapshot for `vitalog status` and metrics; never throws (see AnchorPublisher). */
  status(): PublisherStatus {
    try {
      this.#lastStatus = this.#snapshot();
      return this.#lastStatus;
    } catch (err) {
      const last_error = {
        reason: "store_unavailable",
        message: err instanceof Error ? err.message : String(err),
        at_ms: this.clock.now(),
      };
      return { ...(this.#lastStatus ?? emptyStatus(this.ledger.name)), last_error };
    }
  }

  /** Archived evidence of a FINAL checkpoint (by SHA-256 of its note text), if any. */
  evidenceFor(checkpointHash: Uint8Array): EvmAnchorEvidence | undefined {
    const item = this.store.byHash(checkpointHash);
    return item?.state === "final" && item.evidence
      ? (JSON.parse(item.evidence) as EvmAnchorEvidence)
      : undefined;
  }

  noteError(reason: string, message: string): void {
    this.#lastError = { reason, message, at_ms: this.clock.now() };
    this.#emit({ type: "error", reason, message });
  }

  #emit(e: PublisherEvent): void {
    notifyListeners(this.#listeners, e);
  }

  #snapshot(): PublisherStatus {
    const open = (["sent", "mined", "reorged", "queued"] as const)
      .map((s) => this.store.inState(s)[0])
      .find((i) => i !== undefined);
    const fin = this.store.lastFinal();
    const ev = fin?.evidence ? (JSON.parse(fin.evidence) as EvmAnchorEvidence) : undefined;
    return {
      ledger: this.ledger.name,
      counts: this.store.counts(),
      pending: open
        ? {
            state: open.state,
            tree_size: open.treeSize.toString(),
            nonce: open.nonce,
            tx_hash: open.txHash ?? this.store.txsOfItem(open.id)[0]?.txHash ?? null,
          }
        : null,
      pending_since_ms: this.store.oldestOpenMs(),
      last_final:
        fin && ev
          ? {
              tree_size: fin.treeSize.toString(),
              tx_hash: ev.txHash,
              block_number: ev.blockNumber,
              block_timestamp: ev.blockTimestamp,
              final_at_ms: fin.finalAtMs ?? 0,
            }
          : null,
      last_error: this.#lastError,
    };
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.tick();
    }, delayMs);
  }
}

/** The status of a publisher that has stored nothing (or whose store could never be read). */
export function emptyStatus(ledger: string): PublisherStatus {
  const counts = Object.fromEntries(ANCHOR_STATES.map((s) => [s, 0])) as Record<AnchorState, number>;
  return { ledger, counts, pending: null, pending_since_ms: null, last_final: null, last_error: null };
}
