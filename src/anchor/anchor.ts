/**
 * The ledger-agnostic anchoring contract. A checkpoint (a signed C2SP tlog-checkpoint note) is
 * anchored on an external ledger so that an auditor can later show it "existed no later than" a
 * ledger timestamp, offline, from archived evidence.
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

/** Where and when a checkpoint was durably accepted by a ledger. */
export interface AnchorRecord {
  /** Stable ledger name, e.g. `evm:31337:0x5fbd…` (chain id and registry address). */
  readonly ledger: string;
  readonly checkpointHash: Uint8Array;
  readonly treeSize: bigint;
  /** Ledger transaction id (0x-hex for EVM). */
  readonly txId: string;
  readonly blockNumber: bigint;
  /** Block timestamp in Unix seconds: the checkpoint existed no later than this. */
  readonly timestampSec: number;
  /** Self-contained, offline-verifiable evidence (JSON-serialisable), ledger-specific format. */
  readonly evidence: unknown;
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
 * Operational anchoring error. `retryable` (from the GatewayError catalog) tells the caller whether
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

/**
 * An external ledger that anchors checkpoints.
 *
 * Contract (every implementation runs test/anchor/anchor-conformance.ts):
 * - `publish` MUST resolve only once the ledger durably accepted the checkpoint under the
 *   implementation's finality policy (EVM: `finalized` tag, or `latest` minus N confirmations),
 *   and MUST resolve with evidence an auditor can verify offline.
 * - `publish` MUST be idempotent per checkpoint (same `checkpointHash`): a second call, concurrent
 *   or later (also after a restart, when the ledger itself can be searched), MUST NOT write to the
 *   ledger again and MUST resolve with the same `txId`.
 * - `publish` MUST reject with an `AnchorError`: `retryable === true` for transient failures (ledger
 *   unreachable, timeout, fees above cap), `retryable === false` when the ledger refused the
 *   checkpoint (tree size not growing for this log, revert, wrong chain). It MUST NOT reject with
 *   anything else for operational failures; TypeError/RangeError only for invalid input.
 * - Implementations MUST NOT retry forever inside `publish`; retry policy and queueing belong to the
 *   caller (see Publisher). Callers on the ingest/alert path MUST NOT await `publish`.
 * - After `close()` resolves, `publish` MUST reject with reason `closed` and no timers or sockets may
 *   remain.
 */
export interface Anchor {
  /** Stable ledger name, also stored in every AnchorRecord. */
  readonly ledger: string;
  publish(cp: CheckpointInput): Promise<AnchorRecord>;
  close(): Promise<void>;
}
