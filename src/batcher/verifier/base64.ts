/**
 * Strict standard base64 ([RFC 4648 §4], with padding), browser-safe (no Buffer, no `node:*`: the offline
 * verifier uses it). Every C2SP format used here (signed-note, tlog-checkpoint, tlog-proof) mandates exactly
 * this encoding, so decoding is strict: no whitespace, no missing or extra padding, no URL alphabet, and no
 * non-zero trailing bits (so each byte string has exactly one accepted encoding).
 *
 * The coding itself is `@scure/base` rather than our own: it is audited, already in the tree through viem,
 * pure ESM with no platform imports (so the verifier stays browser-portable), and its padded `base64`
 * coder is strict in exactly the C2SP sense (it uses `Uint8Array.fromBase64` with
 * `lastChunkHandling: "strict"` where the runtime has it, its own strict radix-2 coder otherwise).
 * This module only pins the contract our callers rely on: a `TypeError` for a non-string and a
 * `SyntaxError` for any text that is not the canonical encoding, whichever path the library takes.
 */

import { base64 } from "@scure/base";

/** Encodes bytes as standard padded base64. */
export function base64Encode(bytes: Uint8Array): string {
  return base64.encode(bytes);
}

/**
 * Decodes strict standard base64.
 * @throws TypeError when `text` is not a string.
 * @throws SyntaxError when `text` is not the canonical padded base64 of some byte string.
 */
export function base64Decode(text: string): Uint8Array {
  if (typeof text !== "string") throw new TypeError("base64 input must be a string");
  try {
    return base64.decode(text);
  } catch (cause) {
    throw new SyntaxError(`not canonical padded base64: ${(cause as Error).message}`, { cause });
  }
}
