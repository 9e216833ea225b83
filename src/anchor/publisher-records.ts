/**
 * What the EVM publisher keeps (reference §6.3: "per tx, record {nonce, raw signed tx, hash, fees,
 * state}") and the narrow interface through which it reads and writes it. Writes are data (typed
 * commands), so where they are applied (this connection today, the database's single writer later)
 * is the store's business, not the state machine's.
 */
import type { AnchorState } from "./anchor-publisher.js";

/** One offered checkpoint and where it stands. */
export interface ItemRow {
  id: number;
  ledger: string;
  origin: string;
  treeSize: bigint;
  rootHash: Uint8Array;
  noteText: string;
  checkpointHash: Uint8Array;
  state: AnchorState;
  nonce: number | null;
  txHash: string | null;
  blockNumber: bigint | null;
  blockHash: string | null;
  evidence: string | null;
  error: string | null;
  queuedAtMs: number;
  sentAtMs: number | null;
  finalAtMs: number | null;
}

/** One signed transaction, recorded before it is broadcast. */
export interface TxRow {
  txHash: string;
  itemId: number;
  nonce: number;
  raw: string;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  firstSentAtMs: number;
  lastSentAtMs: number;
}

/** A checkpoint as the publisher stores it. */
export interface NewItem {
  ledger: string;
  origin: string;
  treeSize: bigint;
  rootHash: Uint8Array;
  noteText: string;
  checkpointHash: Uint8Array;
}

/**
 * One write of the state machine. A list of them is applied atomically, in order. Field names are
 * the persisted meaning: `nonce: null` on `queue` frees the nonce, a number reserves it.
 */
export type AnchorWrite =
  | { op: "insert"; item: NewItem; nonce: number | null; atMs: number }
  | { op: "set_state"; id: number; state: AnchorState; error: string | null; atMs: number }
  | { op: "queue"; id: number; nonce: number | null; error: string | null; atMs: number }
  | { op: "sent"; id: number; nonce: number; tx: TxRow; atMs: number }
  | {
      op: "mined";
      id: number;
      nonce: number;
      txHash: string;
      blockNumber: bigint;
      blockHash: string;
      atMs: number;
    }
  | { op: "final"; id: number; evidence: string; atMs: number }
  | { op: "touch_tx"; txHash: string; atMs: number };

/**
 * The publisher's view of its persisted state. Reads MUST reflect every write applied before them.
 * `apply` MUST apply all writes or none; `decideAndApply` MUST run `decide`'s reads and the writes it
 * returns with no other writer in between (the compare-and-insert of `offer`). Both MUST NOT span an
 * await and MAY throw SQLITE_BUSY, which the caller retries.
 */
export interface AnchorRecords {
  byHash(hash: Uint8Array): ItemRow | undefined;
  byId(id: number): ItemRow | undefined;
  /** Items in `state`, newest (largest tree size) first. */
  inState(state: AnchorState): ItemRow[];
  /** Largest tree size already sent, mined, final or reorged (0 when none). */
  maxCommittedSize(): bigint;
  counts(): Record<AnchorState, number>;
  lastFinal(): ItemRow | undefined;
  /** When the oldest item still open (queued, sent, mined, reorged) was queued, or null. */
  oldestOpenMs(): number | null;
  /** Our transactions at `nonce`, the latest first. */
  txsAtNonce(nonce: number): TxRow[];
  /** The item's transactions, the latest first. */
  txsOfItem(id: number): TxRow[];
  /** When a checkpoint was last sent for the first time (fee bumps and re-sends excluded). */
  lastSentAtMs(): number | null;
  maxNonce(): number | null;
  apply(writes: readonly AnchorWrite[]): void;
  decideAndApply<T>(decide: () => { result: T; writes: readonly AnchorWrite[] }): T;
}
