/**
 * C2SP signed-note v1: text ending in "\n", a blank line, then signature lines
 * `— <key name> <base64(key ID[4] || signature)>\n`. Browser-safe: no Buffer, no node:crypto.
 */
import { assertString } from "./assert.js";
import { base64Decode, base64Encode } from "./base64.js";
import type { Signer, Verifier } from "./signer.js";
import { hasLoneSurrogate, isValidKeyName } from "./signer.js";

/** One signature line of a note. `signature` excludes the 4-byte key ID. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  readonly signature: Uint8Array;
}

/** A parsed (not yet verified) note. The text MUST be ignored until {@link openNote} verified it. */
export interface Note {
  /** The signed text, including its final newline. */
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** Outcome of {@link openNote}. On success `verified` holds the signatures of known keys (≥ 1). */
export type NoteVerification =
  | {
      readonly ok: true;
      readonly text: string;
      readonly verified: readonly NoteSignature[];
      readonly unknown: readonly NoteSignature[];
    }
  | {
      readonly ok: false;
      readonly reason: "malformed" | "invalid_signature" | "no_known_signature";
      readonly detail: string;
    };

/** Em dash U+2014 and a space open every signature line. */
export const SIGNATURE_PREFIX = "\u2014 ";

/** Upper bound on signature lines (the spec requires accepting at least 16). */
export const MAX_SIGNATURES = 100;

/** [C2SP signed-note] valid UTF-8, no ASCII control characters other than newline. */
function assertNoteChars(text: string, what: string): void {
  if (/[\u0000-\u0009\u000B-\u001F]/.test(text))
    throw new SyntaxError(`${what} contains a control character`);
  if (hasLoneSurrogate(text)) throw new SyntaxError(`${what} is not valid UTF-8`);
}

/**
 * Checks a note text: non-empty, ends in "\n", valid characters.
 * @throws SyntaxError when the text cannot be signed as a note.
 */
export function assertNoteText(text: string): void {
  assertString(text, "text");
  if (!text.endsWith("\n")) throw new SyntaxError("note text must end with a newline");
  assertNoteChars(text, "note text");
}

function decodeNote(note: string | Uint8Array): string {
  if (typeof note === "string") return note;
  if (!(note instanceof Uint8Array)) throw new TypeError("note must be a string or Uint8Array");
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(note);
  } catch {
    throw new SyntaxError("note is not valid UTF-8");
  }
}

/** Formats one signature line. */
export function formatSignatureLine(sig: NoteSignature): string {
  const body = new Uint8Array(4 + sig.signature.length);
  new DataView(body.buffer).setUint32(0, sig.keyId);
  body.set(sig.signature, 4);
  return `${SIGNATURE_PREFIX}${sig.name} ${base64Encode(body)}\n`;
}

/** Formats a note from its text and signatures. */
export function formatNote(note: Note): string {
  assertNoteText(note.text);
  if (note.signatures.length === 0) throw new RangeError("a note needs at least one signature");
  return note.text + "\n" + note.signatures.map(formatSignatureLine).join("");
}

/**
 * Parses a signed note without verifying it.
 * @throws SyntaxError when malformed: bad characters, no blank line, bad signature lines.
 */
export function parseNote(input: string | Uint8Array): Note {
  const note = decodeNote(input);
  assertNoteChars(note, "note");
  // The text is separated from the signatures by the LAST empty line.
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new SyntaxError("note has no blank line before its signatures");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith("\n"))
    throw new SyntaxError("note signature block must end with a newline");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) throw new SyntaxError("too many signatures");
  const signatures = lines.map(parseSignatureLine);
  return { text, signatures };
}

function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIGNATURE_PREFIX))
    throw new SyntaxError("signature line must start with an em dash and a space");
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(" ");
  if (space < 0) throw new SyntaxError("signature line has no signature");
  const name = rest.slice(0, space);
  if (!isValidKeyName(name)) throw new SyntaxError("signature line has an invalid key name");
  const body = base64Decode(rest.slice(space + 1));
  if (body.length < 5) throw new SyntaxError("signature is too short");
  const keyId = new DataView(body.buffer, body.byteOffset).getUint32(0);
  return { name, keyId, signature: body.slice(4) };
}

/** Signs `text` with every signer and returns the formatted note. */
export function signNote(text: string, signers: readonly Signer[]): string {
  assertNoteText(text);
  if (signers.length === 0) throw new RangeError("signNote needs at least one signer");
  const message = new TextEncoder().encode(text);
  const signatures = signers.map((s) => {
    if (!isValidKeyName(s.name)) throw new RangeError(`invalid key name: ${JSON.stringify(s.name)}`);
    return { name: s.name, keyId: s.keyId, signature: s.sign(message) };
  });
  return formatNote({ text, signatures });
}

/**
 * Parses and verifies a note against known keys, per [C2SP signed-note §Signatures]:
 * signatures of unknown (name, key ID) pairs are ignored; a failing signature of a known key rejects the
 * whole note; at least one known key must verify. Never throws on bad input; returns a reason instead.
 */
export function openNote(input: string | Uint8Array, verifiers: readonly Verifier[]): NoteVerification {
  let note: Note;
  try {
    note = parseNote(input);
  } catch (err) {
    return { ok: false, reason: "malformed", detail: (err as Error).message };
  }
  const message = new TextEncoder().encode(note.text);
  const verified: NoteSignature[] = [];
  const unknown: NoteSignature[] = [];
  for (const sig of note.signatures) {
    // A known key is the pair (name, key ID); sharing only one of them is an unknown key.
    const v = verifiers.find((k) => k.name === sig.name && k.keyId === sig.keyId);
    if (v === undefined) {
      unknown.push(sig);
      continue;
    }
    if (!v.verify(message, sig.signature)) {
      return { ok: false, reason: "invalid_signature", detail: `signature by ${sig.name} does not verify` };
    }
    if (!verified.some((s) => s.name === sig.name && s.keyId === sig.keyId)) verified.push(sig);
  }
  if (verified.length === 0)
    return { ok: false, reason: "no_known_signature", detail: "no signature by a known key" };
  return { ok: true, text: note.text, verified, unknown };
}
