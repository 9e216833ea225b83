/**
 * In-memory AnchorPublisher for unit tests of its callers (the composition, status, metrics). It runs
 * the same conformance suite as the EVM publisher. The ledger is a toy with one replaceable pending
 * slot (a nonce) and a chain of blocks; `MemoryAnchorBook` holds both that ledger and what the
 * publisher persists, so a new publisher over the same book is a restart.
 */
import { bytesToHex } from "viem";
import { anchorFields, type CheckpointInput } from "../../src/anchor/anchor.js";
import {
  ANCHOR_STATES,
  type AnchorPublisher,
  type AnchorState,
  notifyListeners,
  type PublisherEvent,
  type PublisherStatus,
} from "../../src/anchor/anchor-publisher.js";
import { type Clock, systemClock } from "../../src/clock.js";

interface MemoryItem {
  readonly key: string;
  readonly treeSize: bigint;
  state: AnchorState;
  block: number | null;
  queuedAtMs: number;
  finalAtMs: number | null;
}

/** The persisted state and the toy ledger; shared by every publisher opened on it. */
export class MemoryAnchorBook {
  readonly items = new Map<string, MemoryItem>();
  /** The transaction waiting in the pool (an item key), replaceable until mined. */
  pending: string | undefined;
  readonly chain: { key: string; block: number }[] = [];
  height = 0;
  isReachable = true;
  isStoreBroken = false;

  /** Mines one block, carrying the pending transaction if any. */
  mine(): void {
    this.height++;
    if (this.pending !== undefined) this.chain.push({ key: this.pending, block: this.height });
    this.pending = undefined;
  }

  /** Replaces the blocks from `block` on with empty ones (their anchors are gone). */
  reorgFrom(block: number): void {
    for (let i = this.chain.length - 1; i >= 0; i--)
      if (this.chain[i]!.block >= block) this.chain.splice(i, 1);
  }

  blockOf(cp: CheckpointInput): number | null {
    return this.items.get(bytesToHex(anchorFields(cp).checkpointHash))?.block ?? null;
  }

  /** Canonical ledger records anchoring `cp`. */
  anchorings(cp: CheckpointInput): number {
    const key = bytesToHex(anchorFields(cp).checkpointHash);
    return this.chain.filter((e) => e.key === key).length;
  }

  stateOf(cp: CheckpointInput): AnchorState | undefined {
    return this.items.get(bytesToHex(anchorFields(cp).checkpointHash))?.state;
  }
}

const OPEN: readonly AnchorState[] = ["sent", "mined", "reorged", "queued"];

export class MemoryAnchorPublisher implements AnchorPublisher {
  readonly ledgerName = "memory:0";
  readonly book: MemoryAnchorBook;
  readonly #clock: Clock;
  readonly #pollMs: number;
  readonly #listeners = new Set<(e: PublisherEvent) => void>();
  #lastError: PublisherStatus["last_error"] = null;
  #lastStatus: PublisherStatus | undefined;
  #timer: unknown;
  #isRunning = false;
  #chain: Promise<void> = Promise.resolve();

  constructor(book = new MemoryAnchorBook(), clock: Clock = systemClock, pollMs = 1000) {
    this.book = book;
    this.#clock = clock;
    this.#pollMs = pollMs;
  }

  start(): void {
    if (this.#isRunning) return;
    this.#isRunning = true;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#isRunning = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#chain;
  }

  on(listener: (e: PublisherEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  noteError(reason: string, message: string): void {
    this.#lastError = { reason, message, at_ms: this.#clock.now() };
    notifyListeners(this.#listeners, { type: "error", reason, message });
  }

  offer(cp: CheckpointInput): boolean {
    let key: string;
    try {
      key = bytesToHex(anchorFields(cp).checkpointHash);
    } catch (err) {
      this.noteError("invalid_checkpoint", String(err));
      return false;
    }
    if (this.book.isStoreBroken) {
      this.noteError("store_unavailable", "memory store broken");
      return false;
    }
    if (this.book.items.has(key)) return true;
    const all = [...this.book.items.values()];
    const isStale = all.some(
      (i) => i.treeSize >= cp.treeSize && ["queued", "sent", "mined", "final", "reorged"].includes(i.state),
    );
    if (isStale) {
      this.noteError("stale_checkpoint", "checkpoint not newer than one already anchored");
      return false;
    }
    for (const i of all) if (i.state === "queued") i.state = "superseded";
    const now = this.#clock.now();
    this.book.items.set(key, {
      key,
      treeSize: cp.treeSize,
      state: "queued",
      block: null,
      queuedAtMs: now,
      finalAtMs: null,
    });
    if (this.#isRunning) this.#schedule(0);
    return true;
  }

  /** One step for every open item; one transition per item at most. */
  tick(): Promise<void> {
    this.#chain = this.#chain.then(() => {
      if (!this.book.isReachable) return this.noteError("ledger_unreachable", "memory ledger down");
      this.#step();
      this.#lastError = null;
      if (this.#isRunning) this.#schedule(this.#pollMs);
    });
    return this.#chain;
  }

  settled(): Promise<void> {
    return this.#chain;
  }

  status(): PublisherStatus {
    if (this.book.isStoreBroken) {
      const last_error = {
        reason: "store_unavailable",
        message: "memory store broken",
        at_ms: this.#clock.now(),
      };
      return { ...(this.#lastStatus ?? this.#snapshot()), last_error };
    }
    this.#lastStatus = this.#snapshot();
    return this.#lastStatus;
  }

  #step(): void {
    const b = this.book;
    const inState = (s: AnchorState) =>
      [...b.items.values()].filter((i) => i.state === s).sort((x, y) => (x.treeSize > y.treeSize ? -1 : 1));
    const onChain = (i: MemoryItem) => b.chain.find((e) => e.key === i.key);
    // each item moves at most once per tick: the lists are taken before any move
    const [mined, reorged, sentItems] = [inState("mined"), inState("reorged"), inState("sent")];
    for (const i of mined) {
      if (onChain(i) === undefined) this.#move(i, "reorged");
      else if (b.height > i.block!) this.#move(i, "final");
    }
    for (const i of reorged) {
      const newer = inState("queued")[0];
      if (newer !== undefined && newer.treeSize > i.treeSize) this.#move(i, "superseded");
      else this.#move(i, "queued");
    }
    for (const i of sentItems) {
      const landed = onChain(i);
      if (landed !== undefined) {
        i.block = landed.block;
        this.#move(i, "mined");
      } else if (b.pending !== i.key) {
        b.pending = i.key; // re-sent: the pool lost it (e.g. a restart)
      }
    }
    const q = inState("queued")[0];
    const sent = inState("sent")[0];
    if (q === undefined) return;
    if (sent !== undefined && q.treeSize > sent.treeSize) {
      this.#move(sent, "superseded"); // the newer checkpoint replaces the pending transaction
    } else if (sent !== undefined || inState("mined").length > 0 || inState("reorged").length > 0) {
      return;
    }
    b.pending = q.key;
    this.#move(q, "sent");
  }

  #move(i: MemoryItem, state: AnchorState): void {
    i.state = state;
    if (state === "final") i.finalAtMs = this.#clock.now();
    notifyListeners(this.#listeners, { type: "state", treeSize: i.treeSize, state });
  }

  #snapshot(): PublisherStatus {
    const items = [...this.book.items.values()];
    const counts = Object.fromEntries(ANCHOR_STATES.map((s) => [s, 0])) as Record<AnchorState, number>;
    for (const i of items) counts[i.state]++;
    const open = OPEN.map((s) => items.find((i) => i.state === s)).find((i) => i !== undefined);
    const finals = items
      .filter((i) => i.state === "final")
      .sort((x, y) => (x.treeSize > y.treeSize ? -1 : 1));
    const fin = finals[0];
    const openSince = items.filter((i) => OPEN.includes(i.state)).map((i) => i.queuedAtMs);
    return {
      ledger: this.ledgerName,
      counts,
      pending: open
        ? { state: open.state, tree_size: open.treeSize.toString(), nonce: null, tx_hash: null }
        : null,
      pending_since_ms: openSince.length > 0 ? Math.min(...openSince) : null,
      last_final: fin
        ? {
            tree_size: fin.treeSize.toString(),
            tx_hash: fin.key,
            block_number: String(fin.block),
            block_timestamp: Math.floor((fin.finalAtMs ?? 0) / 1000),
            final_at_ms: fin.finalAtMs ?? 0,
          }
        : null,
      last_error: this.#lastError,
    };
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.tick();
    }, delayMs);
  }
}
