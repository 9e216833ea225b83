/** Hex helpers for spec vectors and definition examples: `hex("16 48 55")`, `toHex(bytes)`. */

/** Parses hex octets, ignoring whitespace, `:` and `-` separators. Throws TypeError on anything else. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/[\s:-]/g, "");
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean))
    throw new TypeError(`not a hex octet string: ${JSON.stringify(text)}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Formats octets as upper-case hex separated by spaces, the way clinical.md §1 writes them. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(" ");
}
