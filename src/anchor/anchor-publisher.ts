/**
 * The anchor-publisher contract: what the gateway relies on when it hands signed checkpoints to a
 * ledger (reference §6.3–6.4). The daemon's implementation is the EVM `Publisher`; tests of callers use
 * an in-memory double. Every implementation runs test/anchor/anchor-publisher-conformance.ts.
 *
 * Life of a checkpoint (persisted states, wire strings):
 *
 *   queued → sent → mined → final
 *     ↑        │         │
 *     └─ reorged ◄───────┘      superseded: folded into a newer checkpoint; rejected: refused for good
 */
import type { CheckpointInput } from "./anchor.js";

/** Persisted states; wire strings (status output, metrics), only ever added to. */
export type AnchorState = "queued" | "sent" | "mined" | "final" | "reorged" | "superseded" | "rejected";
export const ANCHOR_STATES: readonly AnchorState[] = [
  "queued",
  "sent",
  "mined",
  "final",
  "reorged",
  "superseded",
  "rejected",
];

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

/** A transition (after it is durable) or an error, for logging and metrics. */
export type PublisherEvent =
  | { type: "state"; treeSize: bigint; state: AnchorState; txHash?: string }
  | { type: "error"; reason: string; message: string };

/**
 * Publishes signed checkpoints to a ledger, durably and in the background.
 *
 * - `offer` MUST return at once: it MUST NOT await, block on the ledger or throw, whatever the input
 *   and whatever the state of the ledger or the store. It returns true when the checkpoint is (or
 *   already was) accepted, false otherwise (invalid, stale, store busy), and then records why in
 *   `status().last_error` (except a busy store, which it MUST retry itself).
 * - Offers MUST be idempotent per checkpoint (the SHA-256 of its note text): the same checkpoint
 *   offered any number of times, before or after a restart, is anchored at most once.
 * - Newest wins: at most one checkpoint waits (queued) and at most one is in flight; a newer offer
 *   supersedes the waiting one and MAY replace the one in flight. A checkpoint not newer than one
 *   already sent is refused (`stale_checkpoint`). The newest accepted checkpoint MUST eventually be
 *   final, or superseded by a newer final one, while the ledger works.
 * - Restart in any state (queued, sent, mined, reorged): a new publisher over the same persisted
 *   state MUST NOT anchor any checkpoint twice and MUST NOT lose the newest accepted one.
 * - `final` is terminal; evidence is archived once, at `final`.
 * - `status` MUST NOT throw; when the store cannot be read it returns the last snapshot it could build
 *   with `last_error` saying why.
 * - `stop` MUST resolve within a bounded time (one ledger call's timeout), leave no timer behind, and
 *   after it resolves no state changes; `offer` keeps its contract after `stop`.
 * - Listeners MUST only observe: a throwing listener MUST NOT change what the publisher does.
 */
export interface AnchorPublisher {
  /** Stable ledger name (e.g. `evm:31337:0x5fbd…`). */
  readonly ledgerName: string;
  /** Starts the background loop; idempotent. */
  start(): void;
  stop(): Promise<void>;
  offer(cp: CheckpointInput): boolean;
  status(): PublisherStatus;
  /**
   * Records an error seen outside the publisher's own loop (e.g. the composition's chain-id check)
   * in `status().last_error` and as an event.
   */
  noteError(reason: string, message: string): void;
  /** Subscribes to transitions and errors; returns the unsubscribe function. */
  on(listener: (e: PublisherEvent) => void): () => void;
}

/** Delivers `e` to every listener; a listener's exception is dropped (listeners only observe). */
export function notifyListeners(listeners: Iterable<(e: PublisherEvent) => void>, e: PublisherEvent): void {
  for (const l of listeners) {
    try {
      l(e);
    } catch {
      // an observer's failure is not the publisher's: the state machine goes on
    }
  }
}
