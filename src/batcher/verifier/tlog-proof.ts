/**
 * c2sp.org/tlog-proof@v1: an offline-verifiable inclusion proof bundle (leaf index, RFC 6962 inclusion
 * hashes, and the signed checkpoint verbatim). Browser-safe.
 *
 * ```
 * c2sp.org/tlog-proof@v1
 * extra <base64>            (optional, NOT authenticated)
 * index <decimal>
 * <base64 hash>             (leaf sibling first … root child last; zero or more)
 *
 * <signed checkpoint note>
 * ```
 */
import { assertBytes, assertHash, assertHashList, assertIndex } from "./assert.js";
import { base64Decode, base64Encode } from "./base64.js";
import type { Checkpoint } from "./checkpoint.js";
import { verifyCheckpoint } from "./checkpoint.js";
import { verifyInclusion } from "./merkle-verify.js";
import type { Verifier } from "./signer.js";

/** First line of every proof. */
export const TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1";

/** A parsed tlog-proof. Nothing in it is trusted until {@link verifyTlogProof} succeeds. */
export interface TlogProof {
  /** Opaque application data; unauthenticated, applications MUST NOT trust it implicitly. */
  readonly extra?: Uint8Array;
  readonly index: number;
  readonly inclusion: readonly Uint8Array[];
  /** The signed checkpoint note, verbatim (text, blank line, signature lines). */
  readonly checkpoint: string;
}

/** Outcome of {@link verifyTlogProof}. */
export type TlogProofVerification =
  | { readonly ok: true; readonly checkpoint: Checkpoint; readonly index: number }
  | { readonly ok: false; readonly reason: string; readonly detail: string };

/** Formats a proof. */
export function formatTlogProof(proof: TlogProof): string {
  assertIndex(proof.index, "index");
  assertHashList(proof.inclusion, "inclusion");
  if (proof.extra !== undefined) assertBytes(proof.extra, "extra");
  if (typeof proof.checkpoint !== "string" || !proof.checkpoint.endsWith("\n")) {
    throw new TypeError("checkpoint must be a signed note ending in a newline");
  }
  const lines = [TLOG_PROOF_HEADER];
  if (proof.extra !== undefined) lines.push(`extra ${base64Encode(proof.extra)}`);
  lines.push(`index ${proof.index}`);
  for (const h of proof.inclusion) lines.push(base64Encode(h));
  return lines.join("\n") + "\n\n" + proof.checkpoint;
}

/**
 * Parses a proof (format only; see {@link verifyTlogProof}).
 * @throws SyntaxError when malformed.
 */
export function parseTlogProof(text: string): TlogProof {
  if (typeof text !== "string") throw new TypeError("proof must be a string");
  const blank = text.indexOf("\n\n");
  if (blank < 0) throw new SyntaxError("proof has no empty line before the checkpoint");
  const head = text.slice(0, blank).split("\n");
  const checkpoint = text.slice(blank + 2);
  if (head[0] !== TLOG_PROOF_HEADER) throw new SyntaxError(`proof must start with ${TLOG_PROOF_HEADER}`);
  let i = 1;
  let extra: Uint8Array | undefined;
  if (head[i]?.startsWith("extra ")) {
    extra = base64Decode(head[i]!.slice("extra ".length));
    i++;
  }
  const indexLine = head[i];
  // [c2sp.org/tlog-proof] "index" SP decimal, no leading zeroes unless 0
  const m = indexLine === undefined ? null : /^index (0|[1-9][0-9]*)$/.exec(indexLine);
  if (m === null) throw new SyntaxError("proof has no valid index line");
  const index = Number(m[1]);
  if (!Number.isSafeInteger(index)) throw new SyntaxError("proof index exceeds 2^53 - 1");
  const inclusion = head.slice(i + 1).map((line) => {
    const h = base64Decode(line);
    if (h.length !== 32) throw new SyntaxError("inclusion proof line is not a 32-byte hash");
    return h;
  });
  if (checkpoint.length === 0) throw new SyntaxError("proof has no checkpoint");
  return extra === undefined ? { index, inclusion, checkpoint } : { extra, index, inclusion, checkpoint };
}

/**
 * Verifies a proof for a leaf hash, per [c2sp.org/tlog-proof] verification:
 * (1) the caller computes `leafHash` (application-specific, e.g. SHA-256(0x00 || entry));
 * (2) the checkpoint's origin is `origin` and a configured log key signed it;
 * (3) witness cosignature policy: not applied here (cosignature lines are ignored as unknown keys);
 * (4) the inclusion proof verifies ([RFC 9162 §2.1.3.2]) against size and root FROM THE SIGNED CHECKPOINT.
 */
export function verifyTlogProof(
  text: string,
  leafHash: Uint8Array,
  origin: string,
  logVerifiers: readonly Verifier[],
): TlogProofVerification {
  assertHash(leafHash, "leafHash");
  let proof: TlogProof;
  try {
    proof = parseTlogProof(text);
  } catch (err) {
    return { ok: false, reason: "malformed", detail: (err as Error).message };
  }
  const cp = verifyCheckpoint(proof.checkpoint, origin, logVerifiers);
  if (!cp.ok) return cp;
  const { size, root } = cp.checkpoint;
  if (proof.index >= size)
    return { ok: false, reason: "index_out_of_range", detail: `index ${proof.index} ≥ size ${size}` };
  if (!verifyInclusion(leafHash, proof.index, size, proof.inclusion, root)) {
    return {
      ok: false,
      reason: "invalid_inclusion_proof",
      detail: "inclusion proof does not lead to the checkpoint root",
    };
  }
  return { ok: true, checkpoint: cp.checkpoint, index: proof.index };
}
