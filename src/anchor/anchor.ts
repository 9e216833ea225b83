/**
 * What anchoring takes in and how it fails, for every ledger. A checkpoint (a signed C2SP
 * tlog-checkpoint note) is anchored on an external ledger so that an auditor can later show it
 * "existed no later than" a ledger timestamp, offline, from archived evidence. The contract of the
 * publisher that does it is in anchor-publisher.ts.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { type ErrorCode, GatewayError } from "../errors.js";

/** What gets anchored: produced by the batcher; the anchor never parses or re-signs the note. */
export interface CheckpointInput {
  /** Log origin, e.g. `ward7.example-hospital.org/vitalog/gw-01`. */
  readonly origin: string;
  /** Tree size from the signed checkpoint; 1 ≤ treeSize < 2^64. */
  readonly treeSize: bigint;
  /** RFC 9162 root hash, 32 bytes. */
  readonly rootHash: Uint8Array;
  /** The full signed note text exactly as signed, including the final newline. */
  readonly noteText: string;
}

/** The 32-byte values that go on chain for a checkpoint. */
export interface AnchorFields {
  /** SHA-256(origin). */
  readonly logId: Uint8Array;
  readonly treeSize: bigint;
  readonly rootHash: Uint8Array;
  /** SHA-256(noteText as UTF-8). */
  readonly checkpointHash: Uint8Array;
}

const UINT64_LIMIT = 1n << 64n;

/** Validates a checkpoint input; throws TypeError/RangeError on a bug in the caller. */
export function assertCheckpoint(cp: CheckpointInput): void {
  if (typeof cp.origin !== "string" || cp.origin.length === 0) throw new TypeError("origin must be a string");
  if (typeof cp.treeSize !== "bigint") throw new TypeError("treeSize must be a bigint");
  if (cp.treeSize < 1n || cp.treeSize >= UINT64_LIMIT) throw new RangeError("treeSize must be in [1, 2^64)");
  if (!(cp.rootHash instanceof Uint8Array) || cp.rootHash.length !== 32) {
    throw new TypeError("rootHash must be 32 bytes");
  }
  if (typeof cp.noteText !== "string" || !cp.noteText.endsWith("\n")) {
    throw new TypeError("noteText must be the full signed note ending in a newline");
  }
}

/** Derives the on-chain fields: logId = SHA-256(origin), checkpointHash = SHA-256(noteText). */
export function anchorFields(cp: CheckpointInput): AnchorFields {
  assertCheckpoint(cp);
  const enc = new TextEncoder();
  return {
    logId: sha256(enc.encode(cp.origin)),
    treeSize: cp.treeSize,
    rootHash: cp.rootHash,
    checkpointHash: sha256(enc.encode(cp.noteText)),
  };
}

/** Machine-readable reason inside an AnchorError; wire strings, only ever added to. */
export type AnchorErrorReason =
  | "ledger_unreachable"
  | "ledger_timeout"
  | "chain_id_mismatch"
  | "not_growing"
  | "reverted"
  | "insufficient_funds"
  | "fee_cap_reached"
  | "evidence_invalid"
  | "closed";

/**
 * Operational anchoring error, thrown by the ledger client and recorded by the publisher (its reason
 * is the `last_error.reason` and the metric label). `retryable` (from the GatewayError catalog) tells whether
 * trying the same checkpoint again later can succeed: LEDGER_UNAVAILABLE (transient: outage,
 * timeout, fee cap until fees drop) vs LEDGER_REJECTED (the ledger refused this checkpoint for
 * good: not growing, reverted, wrong chain).
 */
export class AnchorError extends GatewayError {
  readonly reason: AnchorErrorReason;

  constructor(
    reason: AnchorErrorReason,
    message: string,
    options: { cause?: unknown; details?: unknown } = {},
  ) {
    super(anchorErrorCode(reason), message, options);
    this.name = "AnchorError";
    this.reason = reason;
  }
}

function anchorErrorCode(reason: AnchorErrorReason): ErrorCode {
  switch (reason) {
    case "ledger_unreachable":
    case "ledger_timeout":
    case "fee_cap_reached":
    case "insufficient_funds":
    case "evidence_invalid": // the node's data may be consistent again later (reorg race)
      return "LEDGER_UNAVAILABLE";
    default:
      return "LEDGER_REJECTED";
  }
}
