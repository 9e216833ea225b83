/**
 * The offline verifier of proof bundles (docs/tamper-evident-log.md, "`vitalog verify`"). Browser-safe: no
 * Node APIs (only @noble, @scure and standard JS), so the same code can run in an auditor's browser.
 *
 * Steps, in order; the verdict names the first that fails:
 *   opening → entry → leaf_hash → inclusion → checkpoint_signature (→ anchor, when a checker is given)
 * Tree size and root come ONLY from the checkpoint note, which must be signed by a trusted key (reference
 * §1.6: a proof alone binds no size). Bundle fields such as `log.vkey` are hints and are never trusted.
 */
import { base64Decode } from "./base64.js";
import { type DecodedRecord, decodeRecord } from "./canonical-record.js";
import { parseCheckpoint, verifyCheckpoint } from "./checkpoint.js";
import { commitEntry, ENTRY_DOMAIN, SALT_BYTES } from "./commitment.js";
import { leafHash } from "./merkle.js";
import { verifyConsistency, verifyInclusion } from "./merkle-verify.js";
import { parseNote } from "./note.js";
import type { Verifier } from "./signer.js";
import { parseTlogProof } from "./tlog-proof.js";

export type VerifyStep =
  | "opening"
  | "entry"
  | "leaf_hash"
  | "inclusion"
  | "checkpoint_signature"
  | "anchor"
  | "old_checkpoint_signature"
  | "new_checkpoint_signature"
  | "consistency";

export interface StepResult {
  readonly step: VerifyStep;
  readonly ok: boolean;
  readonly detail: string;
}

/** The verdict. `unusable`: the input is not a bundle at all (exit 2), as opposed to an invalid one. */
export interface Verdict {
  readonly ok: boolean;
  readonly unusable: boolean;
  readonly readingId: string | null;
  readonly failedStep: VerifyStep | null;
  /** When the anchor step failed: which of its own steps (the checker's wire string), else null. */
  readonly failedAnchorStep: string | null;
  readonly steps: readonly StepResult[];
  /** The opened record's fields (personal data: show only to whom the bundle was given). */
  readonly record: Readonly<Record<string, unknown>> | null;
  readonly leafIndex: number | null;
  readonly treeSize: number | null;
}

/** Optional anchor check, supplied by the anchor subsystem: verifies `anchor` against the checkpoint note. */
export type AnchorChecker = (
  anchor: unknown,
  checkpointNote: string,
) => {
  ok: boolean;
  detail: string /** The anchor check's own failing step (a wire string). */;
  step?: string;
};

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

function unusable(detail: string): Verdict {
  return {
    ok: false,
    failedAnchorStep: null,
    unusable: true,
    readingId: null,
    failedStep: null,
    steps: [{ step: "opening", ok: false, detail }],
    record: null,
    leafIndex: null,
    treeSize: null,
  };
}

/**
 * Verifies a parsed `vitalog-proof/v1` bundle against trusted log keys. `origin` defaults to the trusted
 * keys' name (C2SP: the log's key name is its origin).
 */
export function verifyProofBundle(
  bundle: unknown,
  trusted: readonly Verifier[],
  opts: { origin?: string; checkAnchor?: AnchorChecker } = {},
): Verdict {
  if (bundle === null || typeof bundle !== "object") return unusable("bundle is not a JSON object");
  const b = bundle as Record<string, unknown>;
  if (b.format !== "vitalog-proof/v1") return unusable(`unknown bundle format ${JSON.stringify(b.format)}`);
  const opening = b.opening as Record<string, unknown> | undefined;
  if (
    typeof b.reading_id !== "string" ||
    typeof b.tlog_proof !== "string" ||
    !opening ||
    typeof opening !== "object"
  ) {
    return unusable("bundle lacks reading_id, opening or tlog_proof");
  }
  const readingId = b.reading_id;
  const steps: StepResult[] = [];
  let record: DecodedRecord | null = null;
  let leafIndex: number | null = null;
  let treeSize: number | null = null;
  let failedAnchorStep: string | null = null;
  const done = (failed: VerifyStep | null): Verdict => ({
    ok: failed === null,
    unusable: false,
    readingId,
    failedStep: failed,
    failedAnchorStep,
    steps,
    record: record?.fields ?? null,
    leafIndex,
    treeSize,
  });
  const fail = (step: VerifyStep, detail: string) => {
    steps.push({ step, ok: false, detail });
    return done(step);
  };

  // 1. opening: domain, 256-bit salt, canonical record of a known version naming this reading
  let salt: Uint8Array;
  try {
    if (opening.domain !== ENTRY_DOMAIN) throw new Error(`domain is not ${ENTRY_DOMAIN}`);
    if (typeof opening.salt !== "string" || typeof opening.record !== "string")
      throw new Error("salt or record missing");
    salt = base64Decode(opening.salt);
    if (salt.length !== SALT_BYTES) throw new Error(`salt is ${salt.length} bytes, not ${SALT_BYTES}`);
    record = decodeRecord(new TextEncoder().encode(opening.record));
    if (record.id !== readingId)
      throw new Error(`record id ${record.id} is not the bundle's reading ${readingId}`);
  } catch (err) {
    return fail("opening", (err as Error).message);
  }
  steps.push({
    step: "opening",
    ok: true,
    detail: `record v${record.v} ${record.type}, RFC 8785 canonical, 256-bit salt`,
  });

  // 2–3. entry = SHA-256(domain || 0x00 || salt || record); leaf hash = SHA-256(0x00 || entry)
  const entry = commitEntry(salt, new TextEncoder().encode(opening.record));
  steps.push({ step: "entry", ok: true, detail: hex(entry) });
  const leaf = leafHash(entry);
  steps.push({ step: "leaf_hash", ok: true, detail: hex(leaf) });

  // 4. inclusion, with size and root read from the checkpoint note (whose signature step 5 checks)
  let note: string;
  try {
    const proof = parseTlogProof(b.tlog_proof);
    note = proof.checkpoint;
    const cp = parseCheckpoint(parseNote(note).text);
    leafIndex = proof.index;
    treeSize = cp.size;
    if (proof.index >= cp.size) throw new Error(`leaf index ${proof.index} ≥ checkpoint size ${cp.size}`);
    if (!verifyInclusion(leaf, proof.index, cp.size, proof.inclusion, cp.root)) {
      throw new Error(
        `leaf ${proof.index} does not lead to the root of the checkpoint of size ${cp.size}: the record, salt or proof was altered`,
      );
    }
  } catch (err) {
    return fail("inclusion", (err as Error).message);
  }
  steps.push({ step: "inclusion", ok: true, detail: `leaf ${leafIndex} of ${treeSize}, RFC 9162 §2.1.3.2` });

  // 5. the checkpoint is signed by a trusted log key for the expected origin
  const origin = opts.origin ?? trusted[0]?.name ?? "";
  const cv = verifyCheckpoint(note, origin, trusted);
  if (!cv.ok) return fail("checkpoint_signature", `${cv.reason}: ${cv.detail}`);
  steps.push({
    step: "checkpoint_signature",
    ok: true,
    detail: `origin ${origin}, key ${keyList(cv.verified)}`,
  });

  // 6. anchor evidence, when present and a checker is configured
  if (b.anchor !== undefined && b.anchor !== null) {
    if (!opts.checkAnchor) {
      steps.push({ step: "anchor", ok: true, detail: "present, not checked by this verifier" });
    } else {
      const a = opts.checkAnchor(b.anchor, note);
      if (!a.ok) {
        failedAnchorStep = a.step ?? null;
        return fail("anchor", a.detail);
      }
      steps.push({ step: "anchor", ok: true, detail: a.detail });
    }
  }
  return done(null);
}

function keyList(sigs: readonly { name: string; keyId: number }[]): string {
  return sigs.map((s) => s.keyId.toString(16).padStart(8, "0")).join(",");
}

/** Verifies a `vitalog-consistency/v1` bundle: both notes signed by trusted keys, and the proof. */
export function verifyConsistencyBundle(
  bundle: unknown,
  trusted: readonly Verifier[],
  opts: { origin?: string } = {},
): Verdict {
  const b = bundle as Record<string, unknown>;
  if (typeof b?.old !== "string" || typeof b.new !== "string" || !Array.isArray(b.proof)) {
    return unusable("consistency bundle lacks old, new or proof");
  }
  const steps: StepResult[] = [];
  const origin = opts.origin ?? trusted[0]?.name ?? "";
  const result = (failed: VerifyStep | null, size: number | null): Verdict => ({
    ok: failed === null,
    unusable: false,
    failedAnchorStep: null,
    readingId: null,
    failedStep: failed,
    steps,
    record: null,
    leafIndex: null,
    treeSize: size,
  });
  const heads = [];
  for (const [step, note] of [
    ["old_checkpoint_signature", b.old],
    ["new_checkpoint_signature", b.new],
  ] as const) {
    const cv = verifyCheckpoint(note, origin, trusted);
    if (!cv.ok) {
      steps.push({ step, ok: false, detail: `${cv.reason}: ${cv.detail}` });
      return result(step, null);
    }
    heads.push(cv.checkpoint);
    steps.push({ step, ok: true, detail: `size ${cv.checkpoint.size}` });
  }
  const [a, z] = heads as [(typeof heads)[0], (typeof heads)[0]];
  let ok = false;
  try {
    const proof = (b.proof as unknown[]).map((p) => base64Decode(String(p)));
    ok = verifyConsistency(a.size, z.size, proof, a.root, z.root);
  } catch {
    ok = false;
  }
  steps.push({
    step: "consistency",
    ok,
    detail: ok
      ? `tree ${z.size} extends tree ${a.size} (RFC 9162 §2.1.4.2)`
      : `tree ${z.size} does NOT extend ${a.size}`,
  });
  return result(ok ? null : "consistency", z.size);
}
