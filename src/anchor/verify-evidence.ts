/**
 * Offline verifier of EVM anchor evidence (reference §6.5 / §10.7 steps 4–5, 7). Free of Node-only
 * APIs (no Buffer, no node:crypto): it runs in a browser or an auditor's script years later, with no
 * RPC access. Chain trust (a trusted finalized header or QBFT seals) is the caller's policy: pass the
 * block hash you trust as `expect.blockHash` when you have one.
 */
import { bytesToHex, fromRlp, type Hex, hexToBytes, isHex } from "viem";
import { anchorFields, type CheckpointInput } from "./anchor.js";
import { headerHashing } from "./bft-header.js";
import { ANCHORED_TOPIC, EVIDENCE_VERSION, type EvmAnchorEvidence } from "./evidence.js";
import { equalBytes, indexKey, verifyTrieProof } from "./mpt.js";

/** Verification steps in the order they run; the first failing one is reported. Wire strings. */
export type EvidenceStep =
  | "format"
  | "chain_id"
  | "contract"
  | "block_hash"
  | "header_hash"
  | "header_fields"
  | "receipt_proof"
  | "receipt_status"
  | "event_present"
  | "event_log_id"
  | "event_tree_size"
  | "event_root_hash"
  | "event_checkpoint_hash"
  | "declared_log_id"
  | "declared_tree_size"
  | "declared_root_hash"
  | "declared_checkpoint_hash";

export type EvidenceResult =
  | {
      ok: true;
      chainId: number;
      blockNumber: bigint;
      blockHash: Hex;
      /** Unix seconds: the checkpoint existed no later than this block timestamp. */
      existedNoLaterThanSec: number;
      /** Human-readable statement, e.g. `existed no later than 2026-01-01T00:00:00.000Z`. */
      statement: string;
    }
  | { ok: false; step: EvidenceStep; reason: string };

/** Trust anchors the auditor supplies; each given one is enforced. */
export interface EvidenceExpectations {
  chainId?: number;
  contract?: Hex;
  /** A block hash obtained from a trusted source (finalized header, consortium validators). */
  blockHash?: Hex;
}

class StepError extends Error {
  constructor(
    readonly step: EvidenceStep,
    message: string,
  ) {
    super(message);
  }
}

function check(cond: boolean, step: EvidenceStep, reason: string): asserts cond {
  if (!cond) throw new StepError(step, reason);
}

function bytesOf(x: unknown, step: EvidenceStep, what: string): Uint8Array {
  check(x instanceof Uint8Array, step, `${what} is not a byte string`);
  return x;
}

function toBig(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(bytesToHex(b));
}

function checkFormat(e: unknown): asserts e is EvmAnchorEvidence {
  const o = e as Record<string, unknown>;
  check(typeof o === "object" && o !== null && o.version === EVIDENCE_VERSION, "format", "unknown version");
  for (const k of ["contract", "txHash", "blockHash", "headerRlp", "receiptRlp"] as const) {
    check(isHex(o[k], { strict: true }), "format", `${k} is not hex`);
  }
  check(
    Array.isArray(o.receiptProof) && o.receiptProof.every((p) => isHex(p, { strict: true })),
    "format",
    "bad proof",
  );
  check(
    Number.isSafeInteger(o.txIndex) && Number.isSafeInteger(o.logIndexInReceipt),
    "format",
    "bad indices",
  );
  check(Number.isSafeInteger(o.chainId), "format", "bad chainId");
}

/**
 * The evidence also declares what it anchors (logId, treeSize, rootHash, checkpointHash: "as on chain").
 * The verdict never reads them, but evidence that states one thing and proves another is refused, each
 * field with its own step: an auditor or a tool that reads the declared values must not be misled, and
 * a contradiction means the evidence was edited or built wrong. Runs after the event is proven equal to
 * `fields`, so each declared value is compared with what was proven.
 */
function checkDeclared(e: EvmAnchorEvidence, proven: ReturnType<typeof anchorFields>): void {
  const declared = e as unknown as Record<string, unknown>;
  const hash32 = (key: string, step: EvidenceStep, value: Uint8Array) => {
    const v = declared[key];
    check(isHex(v, { strict: true }) && v.length === 66, step, `declared ${key} is not 32-byte hex`);
    check(
      v.toLowerCase() === bytesToHex(value),
      step,
      `declared ${key} ${v} contradicts the proven ${bytesToHex(value)}`,
    );
  };
  hash32("logId", "declared_log_id", proven.logId);
  const size = declared.treeSize;
  check(
    typeof size === "string" && /^(0|[1-9][0-9]*)$/.test(size),
    "declared_tree_size",
    "declared treeSize is not a decimal integer",
  );
  check(
    BigInt(size) === proven.treeSize,
    "declared_tree_size",
    `declared treeSize ${size} contradicts the proven ${proven.treeSize}`,
  );
  hash32("rootHash", "declared_root_hash", proven.rootHash);
  hash32("checkpointHash", "declared_checkpoint_hash", proven.checkpointHash);
}

/** Verifies `evidence` against the checkpoint it claims to anchor; never throws. */
export function verifyEvidence(
  evidence: unknown,
  checkpoint: CheckpointInput,
  expect: EvidenceExpectations = {},
): EvidenceResult {
  try {
    return verifyOrThrow(evidence, checkpoint, expect);
  } catch (err) {
    if (err instanceof StepError) return { ok: false, step: err.step, reason: err.message };
    return { ok: false, step: "format", reason: err instanceof Error ? err.message : String(err) };
  }
}

function verifyOrThrow(e: unknown, cp: CheckpointInput, expect: EvidenceExpectations): EvidenceResult {
  checkFormat(e);
  const contract = e.contract.toLowerCase();
  if (expect.chainId !== undefined) check(e.chainId === expect.chainId, "chain_id", "chain id differs");
  if (expect.contract !== undefined) {
    check(contract === expect.contract.toLowerCase(), "contract", "registry address differs");
  }
  if (expect.blockHash !== undefined) {
    check(
      e.blockHash.toLowerCase() === expect.blockHash.toLowerCase(),
      "block_hash",
      "not the trusted block",
    );
  }
  // [§6.5 step 1] keccak256(header RLP) == blockHash, by Ethereum rules or Besu QBFT/IBFT 2.0 rules
  // (extraData hashed without committed seals and with round 0; see bft-header.ts)
  const headerRlp = hexToBytes(e.headerRlp);
  check(
    headerHashing(headerRlp, hexToBytes(e.blockHash)) !== undefined,
    "header_hash",
    "header does not hash to blockHash",
  );
  const header = fromRlp(headerRlp, "bytes");
  check(Array.isArray(header) && header.length >= 15, "header_fields", "header is not a list of ≥ 15 fields");
  const receiptsRoot = bytesOf(header[5], "header_fields", "receiptsRoot");
  const number = toBig(bytesOf(header[8], "header_fields", "number"));
  const timestamp = Number(toBig(bytesOf(header[11], "header_fields", "timestamp")));
  check(number.toString() === String(e.blockNumber), "header_fields", "block number differs from header");
  check(timestamp === e.blockTimestamp, "header_fields", "block timestamp differs from header");
  // [§6.5 step 2] receipts-trie proof, key RLP(txIndex), to header.receiptsRoot.
  let leaf: Uint8Array;
  try {
    leaf = verifyTrieProof(
      receiptsRoot,
      indexKey(e.txIndex),
      e.receiptProof.map((p) => hexToBytes(p)),
    );
  } catch (err) {
    throw new StepError("receipt_proof", err instanceof Error ? err.message : String(err));
  }
  const receiptRlp = hexToBytes(e.receiptRlp);
  check(equalBytes(leaf, receiptRlp), "receipt_proof", "proven receipt differs from receiptRlp");
  // [EIP-2718] a first byte < 0x80 is a transaction type, not an RLP list header.
  const body = receiptRlp[0]! < 0x80 ? receiptRlp.subarray(1) : receiptRlp;
  const receipt = fromRlp(body, "bytes");
  check(Array.isArray(receipt) && receipt.length === 4, "receipt_status", "receipt is not a 4-item list");
  check(
    toBig(bytesOf(receipt[0], "receipt_status", "status")) === 1n,
    "receipt_status",
    "transaction failed",
  );
  const logs = receipt[3];
  check(Array.isArray(logs), "event_present", "logs is not a list");
  const log = logs[e.logIndexInReceipt];
  check(Array.isArray(log) && log.length === 3, "event_present", "no log at logIndexInReceipt");
  const [address, topics, data] = log;
  check(
    bytesToHex(bytesOf(address, "event_present", "address")) === contract,
    "event_present",
    "log not from contract",
  );
  check(Array.isArray(topics) && topics.length === 2, "event_present", "log is not an Anchored event");
  check(
    bytesToHex(bytesOf(topics[0], "event_present", "topic0")) === ANCHORED_TOPIC,
    "event_present",
    "not Anchored",
  );
  const fields = anchorFields(cp);
  const logId = bytesOf(topics[1], "event_log_id", "logId");
  check(equalBytes(logId, fields.logId), "event_log_id", "logId is not SHA-256(origin)");
  const d = bytesOf(data, "event_tree_size", "data");
  check(d.length === 96, "event_tree_size", "event data is not 3 words");
  check(toBig(d.subarray(0, 32)) === fields.treeSize, "event_tree_size", "treeSize differs");
  check(equalBytes(d.subarray(32, 64), fields.rootHash), "event_root_hash", "rootHash differs");
  check(
    equalBytes(d.subarray(64, 96), fields.checkpointHash),
    "event_checkpoint_hash",
    "not SHA-256(noteText)",
  );
  checkDeclared(e, fields);
  const statement = `existed no later than ${new Date(timestamp * 1000).toISOString()}`;
  return {
    ok: true,
    chainId: e.chainId,
    blockNumber: number,
    blockHash: e.blockHash,
    existedNoLaterThanSec: timestamp,
    statement,
  };
}
