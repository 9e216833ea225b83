/**
 * The gateway's durable anchor publisher (reference §6.3–6.4): a reorg-safe state machine persisted
 * in SQLite, with one serialized sender per ledger account.
 *
 *   QUEUED → SENT(nonce, txs) → MINED(block) → FINAL(evidence)
 *     ↑        │ rebroadcast / fee bump / newer checkpoint replaces the tx (same nonce)
 *     └────────┴──── REORGED (receipt gone or block no longer canonical) ────┘
 *
 * Contract:
 * - `offer` MUST NOT block, await or throw: ingest and alerts never wait for the ledger.
 * - At most one anchor is in flight (SENT, MINED or REORGED) and at most one checkpoint is QUEUED:
 *   a newer offer supersedes the queued one, and replaces a SENT transaction at the same nonce, so an
 *   outage of any length ends with ONE transaction carrying the newest checkpoint.
 * - A signed transaction is persisted before it is broadcast, and any re-send of a checkpoint reuses
 *   its nonce until that nonce is provably consumed: restart at any state neither anchors a
 *   checkpoint twice nor loses one.
 * - Evidence is fetched and stored only at FINAL; FINAL is terminal.
 */
import type { Database } from "better-sqlite3";
import { bytesToHex, type Hex } from "viem";
import { type Clock, systemClock } from "../clock.js";
import { isSqliteBusy } from "../db.js";
import { AnchorError, anchorFields, type CheckpointInput } from "./anchor.js";
import type { EvmAnchorEvidence } from "./evidence.js";
import { type EvmLedger, type Fees, maxBig } from "./evm-ledger.js";
import { type AnchorState, type ItemRow, PublisherStore } from "./publisher-store.js";

export { ANCHOR_MIGRATION } from "./publisher-store.js";

import { PublisherTicks } from "./publisher-ticks.js";

/** Delay before offering again a checkpoint whose offer met the commit thread's write lock. */
const BUSY_RETRY_MS = 50;

/** Timing policy; all durations in milliseconds. */
export interface PublisherConfig {
  /**
   * At most one new checkpoint is sent per interval, however often `offer` is called; newer offers
   * wait in the single queued slot. Re-sends after a reorg and fee bumps are not delayed. Default 300 000.
   */
  anchorIntervalMs?: number;
  /** Head polling period while something is in flight. Default 5 000. */
  pollIntervalMs?: number;
  /** Retry period while the ledger is unreachable. Default 15 000. */
  outageRetryMs?: number;
  /** Identical raw transaction re-sent after this long without a receipt. Default 60 000. */
  rebroadcastMs?: number;
  /** Same-nonce replacement with fees raised ≥ 10 % after this long without a receipt. Default 180 000. */
  bumpAfterMs?: number;
}

/** Plain snapshot for `vitalog status` and metrics; JSON-serialisable; keys are wire names. */
export interface PublisherStatus {
  ledger: string;
  counts: Record<AnchorState, number>;
  pending: { state: AnchorState; tree_size: string; nonce: number | null; tx_hash: string | null } | null;
  pending_since_ms: number | null;
  last_final: {
    tree_size: string;
    tx_hash: string;
    block_number: string;
    block_timestamp: number;
    final_at_ms: number;
  } | null;
  last_error: { reason: string; message: string; at_ms: number } | null;
}

export type PublisherEvent =
  | { type: "state"; treeSize: bigint; state: AnchorState; txHash?: string }
  | { type: "error"; reason: string; message: string };

/** Durable, non-blocking anchor publisher over one EVM ledger account. */
export class Publisher {
  readonly store: PublisherStore;
  readonly ledger: EvmLedger;
  readonly clock: Clock;
  readonly config: Required<PublisherConfig>;
  readonly #ticks: PublisherTicks;
  #lastError: PublisherStatus["last_error"] = null;
  #timer: unknown;
  #isRunning = false;
  /** A checkpoint whose offer met a lock, offered again after BUSY_RETRY_MS. */
  #busyOffer: CheckpointInput | undefined;
  #busyTimer: unknown;
  #chain: Promise<void> = Promise.resolve();
  #listeners = new Set<(e: PublisherEvent) => void>();

  constructor(db: Database, ledger: EvmLedger, config: PublisherConfig = {}, clock: Clock = systemClock) {
    this.store = new PublisherStore(db);
    this.ledger = ledger;
    this.clock = clock;
    this.config = {
      anchorIntervalMs: config.anchorIntervalMs ?? 300_000,
      pollIntervalMs: config.pollIntervalMs ?? 5_000,
      outageRetryMs: config.outageRetryMs ?? 15_000,
      rebroadcastMs: config.rebroadcastMs ?? 60_000,
      bumpAfterMs: config.bumpAfterMs ?? 180_000,
    };
    this.#ticks = new PublisherTicks(this);
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
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#chain;
  }

  /** Subscribes to state changes and errors (for logging); returns the unsubscribe function. */
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
    try {
      const fields = anchorFields(cp);
      if (cp.treeSize >= 1n << 63n) throw new RangeError("treeSize beyond SQLite INTEGER");
      const now = this.clock.now();
      const accept = this.store.db.transaction(() => {
        if (this.store.byHash(fields.checkpointHash) !== undefined) return true;
        if (cp.treeSize <= this.store.maxCommittedSize()) return false;
        const queued = this.store.inState("queued");
        if (queued.some((q) => q.treeSize >= cp.treeSize)) return false;
        for (const q of queued) {
          if (q.nonce === null) this.store.setState(q.id, "superseded", null, now);
        }
        this.store.insert(this.ledger.name, cp, fields.checkpointHash, now);
        // A queued item holding a reserved nonce (after a reorg) hands it to the newer checkpoint.
        const reserved = queued.find((q) => q.nonce !== null);
        if (reserved !== undefined) {
          this.store.setState(reserved.id, "superseded", null, now);
          this.store.setQueued(this.store.byHash(fields.checkpointHash)!.id, reserved.nonce, null, now);
        }
        return true;
      });
      // IMMEDIATE: take the write lock first, so the gateway's commit thread committing between this
      // transaction's reads and its writes cannot fail it (SQLITE_BUSY_SNAPSHOT)
      const accepted = accept.immediate();
      if (!accepted) this.noteError("stale_checkpoint", "checkpoint not newer than one already anchored");
      else if (this.#isRunning) this.#schedule(0);
      return accepted;
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
      this.noteError("invalid_checkpoint", err instanceof Error ? err.message : String(err));
      return false;
    }
  }

  /** Runs one step of the state machine now (serialized with the loop); never rejects. */
  tick(): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      let delay = this.config.pollIntervalMs;
      try {
        await this.#ticks.run();
      } catch (err) {
        const e = err instanceof AnchorError ? err : null;
        this.noteError(e?.reason ?? "internal", err instanceof Error ? err.message : String(err));
        delay = e?.retryable === false ? this.config.pollIntervalMs : this.config.outageRetryMs;
      }
      if (this.#isRunning) this.#schedule(delay);
    });
    return this.#chain;
  }

  /** Snapshot for `vitalog status` and metrics. */
  status(): PublisherStatus {
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
            tx_hash: open.txHash ?? this.latestTx(open)?.txHash ?? null,
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

  /** Archived evidence of a FINAL checkpoint (by SHA-256 of its note text), if any. */
  evidenceFor(checkpointHash: Uint8Array): EvmAnchorEvidence | undefined {
    const item = this.store.byHash(checkpointHash);
    return item?.state === "final" && item.evidence
      ? (JSON.parse(item.evidence) as EvmAnchorEvidence)
      : undefined;
  }

  /** @internal used by PublisherTicks. */
  latestTx(item: ItemRow) {
    return this.store.txsOfItem(item.id)[0];
  }

  /** @internal records a transition and notifies listeners. */
  emit(e: PublisherEvent): void {
    for (const l of this.#listeners) l(e);
  }

  /** @internal */
  noteError(reason: string, message: string): void {
    this.#lastError = { reason, message, at_ms: this.clock.now() };
    this.emit({ type: "error", reason, message });
  }

  /** @internal */
  clearError(): void {
    this.#lastError = null;
  }

  /** @internal fees for a (re)send at `nonce`: fresh, and ≥ 10 % above anything sent at that nonce. */
  async feesFor(nonce: number): Promise<Fees & { isCapped: boolean }> {
    const fresh = await this.ledger.suggestFees();
    const prior = this.store.txsAtNonce(nonce);
    if (prior.length === 0) return { ...fresh, isCapped: false };
    const top = prior.reduce((a, t) => (t.maxFeePerGas > a.maxFeePerGas ? t : a));
    const bumped = this.ledger.bumpFees(top);
    return {
      maxFeePerGas: maxBig(bumped.maxFeePerGas, fresh.maxFeePerGas),
      maxPriorityFeePerGas: maxBig(bumped.maxPriorityFeePerGas, fresh.maxPriorityFeePerGas),
      isCapped: bumped.isCapped,
    };
  }

  /** @internal */
  hex(b: Uint8Array): Hex {
    return bytesToHex(b);
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.tick();
    }, delayMs);
  }
}
