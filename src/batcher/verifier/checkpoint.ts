/**
 * C2SP tlog-checkpoint v1.0.0: the note text `<origin>\n<size>\n<base64 root>\n[<extension>\n]*`, signed as a
 * C2SP signed note (Ed25519, type 0x01). Browser-safe.
 */
import { assertHash, assertIndex, assertString } from "./assert.js";
import { base64Decode, base64Encode } from "./base64.js";
import type { NoteSignature } from "./note.js";
import { assertNoteText, openNote, signNote } from "./note.js";
import type { Signer, Verifier } from "./signer.js";

/** A tree head as a checkpoint states it. `size` is a Number, exact up to 2^53 − 1. */
export interface Checkpoint {
  /** Log identity; the log's key name SHOULD equal it. */
  readonly origin: string;
  readonly size: number;
  /** RFC 6962 Merkle Tree Hash at `size` (32 bytes). */
  readonly root: Uint8Array;
  /** Opaque, non-empty extension lines (NOT RECOMMENDED by the spec). */
  readonly extensions: readonly string[];
}

/** Outcome of {@link verifyCheckpoint}: on success, the checkpoint as signed by a trusted key. */
export type CheckpointVerification =
  | {
      readonly ok: true;
      readonly checkpoint: Checkpoint;
      readonly text: string;
      readonly verified: readonly NoteSignature[];
    }
  | { readonly ok: false; readonly reason: string; readonly detail: string };

/** Formats the checkpoint note text (ends in "\n"). */
export function formatCheckpoint(cp: Checkpoint): string {
  assertString(cp.origin, "origin");
  assertIndex(cp.size, "size");
  assertHash(cp.root, "root");
  // [C2SP tlog-checkpoint §Note text] origin MUST be non-empty; lines are newline-free
  if (cp.origin.length === 0 || cp.origin.includes("\n"))
    throw new RangeError("origin must be one non-empty line");
  for (const ext of cp.extensions) {
    if (ext.length === 0 || ext.includes("\n"))
      throw new RangeError("extension lines must be non-empty single lines");
  }
  const text = [cp.origin, String(cp.size), base64Encode(cp.root), ...cp.extensions].join("\n") + "\n";
  assertNoteText(text);
  return text;
}

/**
 * Parses a checkpoint note text (the text only, without signatures).
 * @throws SyntaxError when malformed.
 */
export function parseCheckpoint(text: string): Checkpoint {
  assertString(text, "text");
  if (!text.endsWith("\n")) throw new SyntaxError("checkpoint must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new SyntaxError("checkpoint needs origin, size and root lines");
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw new SyntaxError("checkpoint origin is empty");
  // [C2SP tlog-checkpoint] ASCII decimal, no leading zeroes unless the size is 0
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText))
    throw new SyntaxError("checkpoint size is not a canonical decimal");
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new SyntaxError("checkpoint size exceeds 2^53 - 1");
  const root = base64Decode(rootText);
  if (root.length !== 32) throw new SyntaxError("checkpoint root is not a 32-byte hash");
  if (extensions.some((e) => e.length === 0))
    throw new SyntaxError("checkpoint extension lines must be non-empty");
  return { origin, size, root, extensions };
}

/** Formats and signs a checkpoint; the signer's key name SHOULD equal the origin. */
export function signCheckpoint(cp: Checkpoint, signers: readonly Signer[]): string {
  return signNote(formatCheckpoint(cp), signers);
}

/**
 * Verifies a signed checkpoint note: a known key must sign it ([C2SP signed-note]), its text must parse as a
 * checkpoint, and its origin must equal `origin`. Size and root are trustworthy only from a successful result.
 */
export function verifyCheckpoint(
  note: string | Uint8Array,
  origin: string,
  verifiers: readonly Verifier[],
): CheckpointVerification {
  const opened = openNote(note, verifiers);
  if (!opened.ok) return opened;
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(opened.text);
  } catch (err) {
    return { ok: false, reason: "malformed_checkpoint", detail: (err as Error).message };
  }
  if (checkpoint.origin !== origin) {
    return {
      ok: false,
      reason: "wrong_origin",
      detail: `origin ${JSON.stringify(checkpoint.origin)} is not trusted`,
    };
  }
  return { ok: true, checkpoint, text: opened.text, verified: opened.verified };
}
