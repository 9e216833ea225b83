import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { base64Decode, base64Encode } from "../../src/batcher/verifier/base64.js";

const utf8 = (s: string) => new TextEncoder().encode(s);

// [RFC 4648 §10] the published test vectors for BASE64.
const RFC4648_VECTORS: [string, string][] = [
  ["", ""],
  ["f", "Zg=="],
  ["fo", "Zm8="],
  ["foo", "Zm9v"],
  ["foob", "Zm9vYg=="],
  ["fooba", "Zm9vYmE="],
  ["foobar", "Zm9vYmFy"],
];

// Texts a lenient decoder (Buffer.from(s, "base64"), atob) accepts or repairs, and a C2SP decoder must refuse:
// each byte string has exactly one accepted encoding.
const REFUSED: [string, string][] = [
  // [RFC 4648 §3.5] pad bits must be zero in a canonical encoding
  ["Zh==", "non-zero trailing bits before =="],
  ["Zm9=", "non-zero trailing bits before ="],
  ["Zm9vYh==", "non-zero trailing bits in the last quantum"],
  ["AB==", "non-zero trailing bits of a zero byte"],
  // [RFC 4648 §3.2] padding is required (C2SP uses the padded form)
  ["Zg", "missing both pad characters"],
  ["Zg=", "missing one pad character"],
  ["Zm8", "missing the pad character"],
  ["Zm9vYmE", "missing the pad character after a full quantum"],
  // padding where none belongs, or too much of it
  ["Zg===", "three pad characters"],
  ["Zm9v====", "a whole quantum of padding"],
  ["Zm8==", "an extra pad character"],
  ["=", "padding alone"],
  ["====", "a quantum of padding alone"],
  ["Zg==Zg==", "padding in the middle"],
  ["Z=g=", "a pad character inside a quantum"],
  // [RFC 4648 §3.3] characters outside the alphabet, whitespace included, are refused
  [" Zg==", "leading space"],
  ["Zg== ", "trailing space"],
  ["Zg==\n", "trailing newline"],
  ["Zm9v\nYmFy", "line break inside"],
  ["Zm9v YmFy", "space inside"],
  ["\tZm9v", "leading tab"],
  ["Zm9v\r\n", "trailing CRLF"],
  // [RFC 4648 §5] the URL and filename safe alphabet is a different encoding
  ["-_8=", "URL alphabet for +/8="],
  ["Zm9-", "URL alphabet '-'"],
  ["Zm9_", "URL alphabet '_'"],
  ["Zm9v.mFy", "a character of no alphabet"],
  ["Zm9vYmF\u00e9", "a non-ASCII character"],
  ["Zm9vYmF\u0000", "a NUL"],
];

describe("RFC 4648 base64 (C2SP strict profile)", () => {
  it("encodes the RFC 4648 §10 vectors", () => {
    for (const [plain, encoded] of RFC4648_VECTORS) assert.equal(base64Encode(utf8(plain)), encoded, plain);
  });

  it("decodes the RFC 4648 §10 vectors", () => {
    for (const [plain, encoded] of RFC4648_VECTORS)
      assert.deepEqual(base64Decode(encoded), utf8(plain), encoded);
  });

  it("encodes the alphabet's last two characters as + and /", () => {
    assert.equal(base64Encode(Uint8Array.of(0xfb, 0xff)), "+/8=");
    assert.deepEqual(base64Decode("+/8="), Uint8Array.of(0xfb, 0xff));
  });

  it("refuses every non-canonical text with a SyntaxError", () => {
    for (const [text, why] of REFUSED) {
      assert.throws(() => base64Decode(text), SyntaxError, `${why}: ${JSON.stringify(text)}`);
    }
  });

  it("refuses a non-string with a TypeError", () => {
    assert.throws(() => base64Decode(undefined as unknown as string), TypeError);
    assert.throws(() => base64Decode(Uint8Array.of(1) as unknown as string), TypeError);
  });

  it("agrees with Node's encoder and round-trips for every length up to 96 bytes", () => {
    for (let len = 0; len <= 96; len++) {
      const bytes = new Uint8Array(randomBytes(len));
      const text = base64Encode(bytes);
      assert.equal(text, Buffer.from(bytes).toString("base64"), `length ${len}`);
      assert.deepEqual(base64Decode(text), bytes, `length ${len}`);
    }
  });

  it("returns a plain Uint8Array for a Buffer input's encoding", () => {
    const decoded = base64Decode(base64Encode(Buffer.from("foobar")));
    assert.equal(Object.getPrototypeOf(decoded), Uint8Array.prototype);
    assert.deepEqual(decoded, utf8("foobar"));
  });
});
