/**
 * Strict standard base64 ([RFC 4648 §4], with padding), browser-safe (no Buffer). Every C2SP format used
 * here (signed-note, tlog-checkpoint, tlog-proof) mandates exactly this encoding, so decoding is strict:
 * no whitespace, no missing padding, no URL alphabet, and no non-zero trailing bits (so each byte string
 * has exactly one accepted encoding).
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Encodes bytes as standard padded base64. */
export function base64Encode(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + "==";
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + "=";
  }
  return out;
}

function sextet(text: string, i: number): number {
  const c = text.charCodeAt(i);
  const v = c < 128 ? DECODE[c]! : -1;
  if (v < 0) throw new SyntaxError(`invalid base64 character at ${i}`);
  return v;
}

/**
 * Decodes strict standard base64.
 * @throws SyntaxError when `text` is not the canonical padded base64 of some byte string.
 */
export function base64Decode(text: string): Uint8Array {
  if (typeof text !== "string") throw new TypeError("base64 input must be a string");
  if (text.length % 4 !== 0) throw new SyntaxError("base64 length must be a multiple of 4");
  let pad = 0;
  if (text.endsWith("==")) pad = 2;
  else if (text.endsWith("=")) pad = 1;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    const a = sextet(text, i);
    const b = sextet(text, i + 1);
    if (last && pad === 2) {
      // [RFC 4648 §3.5] canonical encodings have zero pad bits
      if ((b & 15) !== 0) throw new SyntaxError("non-canonical base64 padding bits");
      out[o++] = (a << 2) | (b >> 4);
    } else if (last && pad === 1) {
      const c = sextet(text, i + 2);
      if ((c & 3) !== 0) throw new SyntaxError("non-canonical base64 padding bits");
      out[o++] = (a << 2) | (b >> 4);
      out[o++] = ((b & 15) << 4) | (c >> 2);
    } else {
      const c = sextet(text, i + 2);
      const d = sextet(text, i + 3);
      out[o++] = (a << 2) | (b >> 4);
      out[o++] = ((b & 15) << 4) | (c >> 2);
      out[o++] = ((c & 3) << 6) | d;
    }
  }
  return out;
}
