/**
 * Proof bundles with anchor evidence (`vitalog proof`): the reading's inclusion proof against its own
 * checkpoint plus, when a FINAL anchor covers it, the anchored checkpoint, the consistency proof
 * between the two and the archived ledger evidence (format: bundle-anchor.ts). Reads only the local
 * database: no ledger access, so it works while the ledger is down.
 */

import { buildProofBundle, type ProofBundle, type ProofSources } from "../batcher/tlog/proof-bundle.js";
import { base64Encode } from "../batcher/verifier/base64.js";
import { GatewayError } from "../errors.js";
import { ANCHOR_SECTION_FORMAT, type AnchorSection } from "./bundle-anchor.js";
import type { EvmAnchorEvidence } from "./evidence.js";
import { PublisherStore } from "./publisher-store.js";

/** How the bundle relates to the anchors; for the CLI's notes. */
export interface AnchoredBundle {
  bundle: ProofBundle;
  /** Tree size of the anchored checkpoint included, or null when no FINAL anchor covers the bundle. */
  anchoredSize: number | null;
}

/**
 * Builds the bundle of `ref`. Without `atSize`, the bundle's checkpoint is the first signed checkpoint
 * that covered the reading when a FINAL anchor covers it (else the latest, as `buildProofBundle`); the
 * anchor is the earliest FINAL one at or above the bundle's checkpoint (the earliest "no later than").
 */
export function buildAnchoredProofBundle(
  src: ProofSources,
  ref: string,
  opts: { atSize?: number } = {},
): AnchoredBundle {
  const leaf = src.openings.leafIndexOf(ref);
  const row = leaf === undefined ? undefined : { leaf_index: leaf };
  if (row === undefined) return { bundle: buildProofBundle(src, ref, opts), anchoredSize: null };
  const store = new PublisherStore(src.db);
  let size = opts.atSize;
  if (size === undefined) {
    const covering = store.firstFinalAtLeast(src.origin, BigInt(row.leaf_index) + 1n);
    if (covering === undefined) return { bundle: buildProofBundle(src, ref), anchoredSize: null };
    size = src.checkpoints.atLeast(row.leaf_index + 1)?.size ?? Number(covering.treeSize);
  }
  const bundle = buildProofBundle(src, ref, { atSize: size });
  const item = store.firstFinalAtLeast(src.origin, BigInt(size));
  if (item === undefined || item.evidence === null) return { bundle, anchoredSize: null };
  const anchoredSize = Number(item.treeSize);
  let consistency: Uint8Array[];
  try {
    consistency = size === anchoredSize ? [] : src.tiles.consistencyProof(size, anchoredSize);
  } catch (cause) {
    throw new GatewayError(
      "INTEGRITY_FAILURE",
      `cannot prove checkpoint ${size} → anchored ${anchoredSize} from the stored tree`,
      { cause },
    );
  }
  const section: AnchorSection = {
    format: ANCHOR_SECTION_FORMAT,
    checkpoint: item.noteText,
    consistency: consistency.map(base64Encode),
    evidence: JSON.parse(item.evidence) as EvmAnchorEvidence,
  };
  return { bundle: { ...bundle, anchor: section }, anchoredSize };
}
