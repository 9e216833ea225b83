/**
 * The `anchor` section of a `vitalog-proof/v1` bundle and its offline check (issue #4 §4; reference
 * §10.6–10.7). Browser-safe: no Node APIs, so an auditor's page can run it too.
 *
 * ```json
 * "anchor": { "format": "vitalog-anchor/v1",
 *             "checkpoint": "<the ANCHORED signed checkpoint note>",
 *             "consistency": ["<base64 hash>", …],   // RFC 9162 proof: bundle checkpoint → anchored one
 *             "evidence": { "version": "vitalog-evm-anchor-evidence/v1", … } }
 * ```
 * The bundle's own checkpoint (the first one that covered the reading) may be older than the anchored
 * one: the consistency proof shows the anchored tree extends it, so the reading was in the anchored tree.
 *
 * Check steps, in order; a failure is reported as `<step>: <reason>` under the bundle step `anchor`:
 *   format → anchored_checkpoint (signed by a trusted key, same origin) → consistency → the evidence
 *   steps of verifyEvidence (chain_id, contract, block_hash, header_hash, header_fields, receipt_proof,
 *   receipt_status, event_present, event_log_id, event_tree_size, event_root_hash, event_checkpoint_hash,
 *   then declared_log_id, declared_tree_size, declared_root_hash, declared_checkpoint_hash).
 */
import type { Hex } from "viem";
import { base64Decode } from "../batcher/verifier/base64.js";
import type { AnchorChecker } from "../batcher/verifier/bundle-verify.js";
import { parseCheckpoint, verifyCheckpoint } from "../batcher/verifier/checkpoint.js";
import { verifyConsistency } from "../batcher/verifier/merkle-verify.js";
import { parseNote } from "../batcher/verifier/note.js";
import type { Verifier } from "../batcher/verifier/signer.js";
import type { EvmAnchorEvidence } from "./evidence.js";
import { type EvidenceExpectations, verifyEvidence } from "./verify-evidence.js";

export const ANCHOR_SECTION_FORMAT = "vitalog-anchor/v1";

/** The bundle's anchor section (wire names; fields are only ever added). */
export interface AnchorSection {
  format: typeof ANCHOR_SECTION_FORMAT;
  /** The anchored checkpoint: a signed note, verbatim. */
  checkpoint: string;
  /** Consistency proof from the bundle's checkpoint to the anchored one (empty when they are equal). */
  consistency: string[];
  evidence: EvmAnchorEvidence;
}

/** What a successful anchor check establishes. */
export interface AnchorFinding {
  chainId: number;
  blockNumber: bigint;
  blockHash: Hex;
  existedNoLaterThanSec: number;
  anchoredTreeSize: number;
}

/** `existed no later than <ISO> (block N, chain C)`: the sentence `vitalog verify` prints. */
export function existedStatement(
  f: Pick<AnchorFinding, "existedNoLaterThanSec" | "blockNumber" | "chainId">,
) {
  const iso = new Date(f.existedNoLaterThanSec * 1000).toISOString();
  return `existed no later than ${iso} (block ${f.blockNumber}, chain ${f.chainId})`;
}

class AnchorStepError extends Error {
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Verifies an anchor section against the bundle's (already signature-checked) checkpoint note.
 * Returns the finding, or `{ step, reason }` of the first failing step; never throws.
 */
export function checkAnchorSection(
  section: unknown,
  bundleNote: string,
  trusted: readonly Verifier[],
  opts: { origin?: string; expect?: EvidenceExpectations } = {},
): { ok: true; finding: AnchorFinding } | { ok: false; step: string; reason: string } {
  try {
    return { ok: true, finding: checkOrThrow(section, bundleNote, trusted, opts) };
  } catch (err) {
    if (err instanceof AnchorStepError) return { ok: false, step: err.step, reason: err.message };
    return { ok: false, step: "format", reason: err instanceof Error ? err.message : String(err) };
  }
}

function checkOrThrow(
  section: unknown,
  bundleNote: string,
  trusted: readonly Verifier[],
  opts: { origin?: string; expect?: EvidenceExpectations },
): AnchorFinding {
  const s = section as Partial<AnchorSection> | null;
  if (
    typeof s !== "object" ||
    s === null ||
    s.format !== ANCHOR_SECTION_FORMAT ||
    typeof s.checkpoint !== "string" ||
    !Array.isArray(s.consistency) ||
    !s.consistency.every((h) => typeof h === "string") ||
    typeof s.evidence !== "object"
  ) {
    throw new AnchorStepError("format", `not a ${ANCHOR_SECTION_FORMAT} section`);
  }
  const origin = opts.origin ?? trusted[0]?.name ?? "";
  const anchored = verifyCheckpoint(s.checkpoint, origin, trusted);
  if (!anchored.ok)
    throw new AnchorStepError("anchored_checkpoint", `${anchored.reason}: ${anchored.detail}`);
  const own = parseCheckpoint(parseNote(bundleNote).text);
  const { size: n, root: rootN } = anchored.checkpoint;
  let isConsistent = false;
  try {
    const proof = s.consistency.map((h) => base64Decode(h));
    isConsistent = verifyConsistency(own.size, n, proof, own.root, rootN);
  } catch {
    isConsistent = false;
  }
  if (!isConsistent) {
    throw new AnchorStepError(
      "consistency",
      `anchored tree ${n} does not provably extend the bundle's tree ${own.size} (RFC 9162 §2.1.4.2)`,
    );
  }
  const result = verifyEvidence(
    s.evidence,
    { origin: anchored.checkpoint.origin, treeSize: BigInt(n), rootHash: rootN, noteText: s.checkpoint },
    opts.expect ?? {},
  );
  if (!result.ok) throw new AnchorStepError(result.step, result.reason);
  return {
    chainId: result.chainId,
    blockNumber: result.blockNumber,
    blockHash: result.blockHash,
    existedNoLaterThanSec: result.existedNoLaterThanSec,
    anchoredTreeSize: n,
  };
}

/**
 * The AnchorChecker `verifyProofBundle` takes. Success detail: `existed no later than <ISO> (block N,
 * chain C) …`; failure detail: `<step>: <reason>`. Without `expect.chainId`/`contract`/`blockHash`
 * the chain itself is not pinned, and the detail says so.
 */
export function anchorChecker(
  trusted: readonly Verifier[],
  opts: { origin?: string; expect?: EvidenceExpectations } = {},
): AnchorChecker {
  return (section, note) => {
    const r = checkAnchorSection(section, note, trusted, opts);
    if (!r.ok) return { ok: false, step: r.step, detail: `${r.step}: ${r.reason}` };
    const f = r.finding;
    const e = opts.expect ?? {};
    const pinned = [
      e.chainId === undefined ? null : "chain id",
      e.contract === undefined ? null : "registry",
      e.blockHash === undefined ? null : "block hash",
    ].filter((x) => x !== null);
    const trust = pinned.length > 0 ? `trusted ${pinned.join(", ")}` : "chain not pinned";
    return {
      ok: true,
      detail: `${existedStatement(f)}; anchored checkpoint ${f.anchoredTreeSize}, block ${f.blockHash}; ${trust}`,
    };
  };
}
