/**
 * Proof bundles (docs/tamper-evident-log.md, "`vitalog proof`"): what `vitalog proof` writes. Format
 * `vitalog-proof/v1` (JSON):
 *
 * ```json
 * { "format": "vitalog-proof/v1",
 *   "reading_id": "<reading or event id>",
 *   "opening": { "domain": "vitalog/tlog-entry/v1", "salt": "<base64, 32 bytes>",
 *                "record": "<the canonical JCS record text; its UTF-8 bytes are committed>" },
 *   "tlog_proof": "c2sp.org/tlog-proof@v1\nindex …\n…\n\n<signed checkpoint>",
 *   "log": { "origin": "<origin>", "vkey": "<vkey hint — NOT trusted; verifiers use their own>" },
 *   "anchor": <optional anchor evidence for the bundle's checkpoint, e.g. vitalog-evm-anchor-evidence/v1> }
 * ```
 * The opening is personal data (it is the reading): give a bundle only to whom may see that reading.
 * Everything else in it (index, hashes, checkpoint) reveals nothing about any patient.
 *
 * Consistency bundles (`vitalog proof --consistency OLD NEW`) are `vitalog-consistency/v1`:
 * `{ "format", "old": <signed note>, "new": <signed note>, "proof": [<base64 hash>, …] }`.
 */
import type { Database } from "better-sqlite3";
import { GatewayError } from "../../errors.js";
import { base64Encode } from "../verifier/base64.js";
import { ENTRY_DOMAIN } from "../verifier/commitment.js";
import { formatTlogProof } from "../verifier/tlog-proof.js";
import { type CheckpointStore, type StoredCheckpoint, signedHead } from "./checkpoint-store.js";
import type { LeafOpenings } from "./leaf-openings.js";
import { leafHashWithNodeCrypto } from "./record-crypto.js";
import type { TileStore } from "./tile-store.js";

export const PROOF_BUNDLE_FORMAT = "vitalog-proof/v1";
export const CONSISTENCY_BUNDLE_FORMAT = "vitalog-consistency/v1";

/** A per-reading proof bundle (wire names; fields are only ever added). */
export interface ProofBundle {
  format: typeof PROOF_BUNDLE_FORMAT;
  reading_id: string;
  opening: { domain: string; salt: string; record: string };
  tlog_proof: string;
  log: { origin: string; vkey: string };
  /** Anchor evidence of the bundle's checkpoint, when anchored (filled by the anchor subsystem). */
  anchor?: unknown;
}

/** A consistency bundle between two signed checkpoints. */
export interface ConsistencyBundle {
  format: typeof CONSISTENCY_BUNDLE_FORMAT;
  old: string;
  new: string;
  proof: string[];
}

/** What proof generation reads. */
export interface ProofSources {
  db: Database;
  tiles: TileStore;
  openings: LeafOpenings;
  checkpoints: CheckpointStore;
  origin: string;
  vkey: string;
}

/**
 * Builds the bundle of one reading (or event) against the latest signed checkpoint, or the one of
 * `atSize` (e.g. the anchored one). Checks the stored opening against the stored tree first, so a
 * bundle is never produced from tampered storage.
 * @throws GatewayError READING_UNKNOWN, SUBJECT_ERASED, CHECKPOINT_PENDING, INTEGRITY_FAILURE (see
 *   LeafOpenings.byRef; also when the opening does not match the stored tree).
 */
export function buildProofBundle(
  src: ProofSources,
  ref: string,
  opts: { atSize?: number } = {},
): ProofBundle {
  const opening = src.openings.byRef(ref);
  const { entry } = opening;
  const row = { leaf_index: opening.leafIndex };
  const cp = pickCheckpoint(src.checkpoints, row.leaf_index, opts.atSize, ref);
  const head = signedHead(cp);
  let inclusion: Uint8Array[];
  try {
    const stored = src.tiles.hashAt(0, row.leaf_index);
    if (!leafHashWithNodeCrypto(entry).equals(stored)) {
      throw new Error(`the stored ${opening.type} was modified: it does not match the tree's leaf hash`);
    }
    inclusion = src.tiles.inclusionProof(row.leaf_index, head.size);
  } catch (cause) {
    throw new GatewayError(
      "INTEGRITY_FAILURE",
      `reading ${ref} (leaf ${row.leaf_index}): the stored tree does not hold it as checkpointed: ${(cause as Error).message}`,
      { cause },
    );
  }
  return {
    format: PROOF_BUNDLE_FORMAT,
    reading_id: ref,
    opening: {
      domain: ENTRY_DOMAIN,
      salt: base64Encode(opening.salt),
      record: Buffer.from(opening.record).toString("utf8"),
    },
    tlog_proof: formatTlogProof({ index: row.leaf_index, inclusion, checkpoint: cp.note }),
    log: { origin: src.origin, vkey: src.vkey },
  };
}

function pickCheckpoint(
  store: CheckpointStore,
  index: number,
  atSize: number | undefined,
  ref: string,
): StoredCheckpoint {
  if (atSize !== undefined) {
    const cp = store.at(atSize);
    if (cp === undefined) throw new GatewayError("USAGE", `no signed checkpoint of size ${atSize}`);
    if (cp.size <= index)
      throw new GatewayError("USAGE", `checkpoint ${atSize} does not cover leaf ${index} (${ref})`);
    return cp;
  }
  const latest = store.latest();
  if (latest === undefined || latest.size <= index) {
    throw new GatewayError(
      "CHECKPOINT_PENDING",
      `reading ${ref} (leaf ${index}) is not covered by a signed checkpoint yet; retry after the next checkpoint`,
    );
  }
  return latest;
}

/** Builds a consistency bundle between the signed checkpoints of sizes `oldSize` < `newSize`. */
export function buildConsistencyBundle(
  src: ProofSources,
  oldSize: number,
  newSize: number,
): ConsistencyBundle {
  const a = src.checkpoints.at(oldSize);
  const b = src.checkpoints.at(newSize);
  if (a === undefined || b === undefined) {
    throw new GatewayError("USAGE", `no signed checkpoint of size ${a === undefined ? oldSize : newSize}`);
  }
  if (oldSize > newSize) throw new GatewayError("USAGE", "OLD must not be larger than NEW");
  let proof: Uint8Array[];
  try {
    proof = src.tiles.consistencyProof(oldSize, newSize);
  } catch (cause) {
    throw new GatewayError("INTEGRITY_FAILURE", `cannot prove ${oldSize} → ${newSize} from the stored tree`, {
      cause,
    });
  }
  return { format: CONSISTENCY_BUNDLE_FORMAT, old: a.note, new: b.note, proof: proof.map(base64Encode) };
}
