import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatNote, openNote, parseNote, signNote } from "../../src/batcher/verifier/note.js";
import {
  computeKeyId,
  Ed25519Signer,
  Ed25519Verifier,
  keyIdHex,
  parseSkey,
  parseVkey,
} from "../../src/batcher/verifier/signer.js";

// [C2SP signed-note §Verifier keys, example] and the signed example note, as published.
const SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const SPEC_NOTE =
  "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

// golang.org/x/mod/sumdb/note package documentation and tests (Go's reference implementation).
const GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG =
  "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

const enc = (s: string) => new TextEncoder().encode(s);

describe("C2SP signed-note: keys", () => {
  it("parses the spec's example vkey and recomputes key ID 530d903a", () => {
    const v = parseVkey(SPEC_VKEY);
    assert.equal(v.name, "example.com/foo");
    assert.equal(keyIdHex(v.keyId), "530d903a");
    assert.equal(v.toVkey(), SPEC_VKEY);
  });

  it("computes key ID = SHA-256(name || 0x0A || 0x01 || pubkey)[:4] as big-endian uint32", () => {
    const v = parseVkey(GO_VKEY);
    const typed = new Uint8Array([0x01, ...v.publicKey]);
    assert.equal(computeKeyId("PeterNeumann", typed), 0xc74f20a3);
    // A different type byte or name gives a different ID (domain separation).
    assert.notEqual(computeKeyId("PeterNeumann", new Uint8Array([0x04, ...v.publicKey])), 0xc74f20a3);
    assert.notEqual(computeKeyId("PeterNeumann2", typed), 0xc74f20a3);
  });

  it("round-trips Go's skey and derives the matching vkey", () => {
    const signer = parseSkey(GO_SKEY);
    assert.equal(signer.toSkey(), GO_SKEY);
    assert.equal(signer.verifier().toVkey(), GO_VKEY);
    assert.equal(JSON.stringify(signer).includes("AYEKF"), false, "toJSON must not leak the seed");
  });

  it("rejects malformed vkeys and mismatched key IDs", () => {
    const bad = [
      "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", // wrong ID
      "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", // upper-case hex
      "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", // wrong type byte
      "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2", // bad base64
      "example.com/foo+530d903a",
      "example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
      "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ];
    for (const vkey of bad) assert.throws(() => parseVkey(vkey), SyntaxError, vkey);
    assert.throws(() => new Ed25519Verifier("a+b", new Uint8Array(32)), RangeError);
    assert.throws(() => new Ed25519Verifier("a\u00a0b", new Uint8Array(32)), RangeError);
    assert.throws(() => new Ed25519Signer("ok", new Uint8Array(31)), RangeError);
  });
});

describe("C2SP signed-note: notes", () => {
  it("verifies the spec's example note with the example vkey", () => {
    const result = openNote(SPEC_NOTE, [parseVkey(SPEC_VKEY)]);
    assert.ok(result.ok);
    assert.equal(result.text, "This is an example message.\n");
    assert.equal(result.verified[0]?.name, "example.com/foo");
    assert.equal(result.verified[0]?.signature.length, 64);
  });

  it("verifies Go's two-signature note, ignoring the unknown key, and reproduces Go's signature bytes", () => {
    const note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG;
    const both = openNote(note, [parseVkey(GO_VKEY), parseVkey(ENOCH_VKEY)]);
    assert.ok(both.ok && both.verified.length === 2);
    const one = openNote(enc(note), [parseVkey(GO_VKEY)]);
    assert.ok(one.ok && one.verified.length === 1 && one.unknown.length === 1);
    // Ed25519 is deterministic: our signer must emit Go's exact line.
    assert.equal(signNote(GO_TEXT, [parseSkey(GO_SKEY)]), GO_TEXT + "\n" + PETER_SIG);
  });

  it("round-trips sign, format and parse with a generated key", () => {
    const signer = Ed25519Signer.generate("ward7.example-hospital.org/vitalog/gw-01");
    const text = "first line\n\nafter an empty line\n";
    const note = signNote(text, [signer]);
    const parsed = parseNote(note);
    assert.equal(parsed.text, text); // the LAST blank line separates text from signatures
    assert.equal(formatNote(parsed), note);
    const opened = openNote(note, [parseVkey(signer.verifier().toVkey())]);
    assert.ok(opened.ok);
  });

  it("rejects tampered text, tampered signature, wrong key and unknown keys only", () => {
    const verifier = parseVkey(SPEC_VKEY);
    const tamperedText = SPEC_NOTE.replace("example message", "example massage");
    assert.deepEqual(reason(openNote(tamperedText, [verifier])), "invalid_signature");
    const sigStart = SPEC_NOTE.indexOf("Uw2Q") + 10;
    const flipped =
      SPEC_NOTE.slice(0, sigStart) +
      (SPEC_NOTE[sigStart] === "A" ? "B" : "A") +
      SPEC_NOTE.slice(sigStart + 1);
    assert.equal(reason(openNote(flipped, [verifier])), "invalid_signature");
    const other = Ed25519Signer.generate("example.com/foo").verifier();
    assert.equal(reason(openNote(SPEC_NOTE, [other])), "no_known_signature"); // same name, other key ID
    // Same name and key ID but a different public key: a known key whose signature fails.
    const impostor = { name: "example.com/foo", keyId: 0x530d903a, verify: other.verify.bind(other) };
    assert.equal(reason(openNote(SPEC_NOTE, [impostor])), "invalid_signature");
    assert.equal(reason(openNote(SPEC_NOTE, [])), "no_known_signature");
  });

  it("rejects malformed notes", () => {
    const v = [parseVkey(SPEC_VKEY)];
    const cases = [
      SPEC_NOTE.slice(0, -1), // no final newline
      SPEC_NOTE.replace("\n\n", "\n"), // no blank line
      SPEC_NOTE.replace("— ", "- "), // not an em dash
      SPEC_NOTE.replace("— example.com/foo ", "— example.com/foo  "), // bad base64
      SPEC_NOTE.replace("This", "Th\tis"), // control character
      SPEC_NOTE.replace("This", "Th\ris"),
      "This is text.\n\n— k AAAA\n", // signature shorter than 5 bytes
    ];
    for (const note of cases) assert.equal(reason(openNote(note, v)), "malformed", JSON.stringify(note));
    assert.equal(reason(openNote(new Uint8Array([0xff, 0x0a, 0x0a]), v)), "malformed");
    assert.throws(() => signNote("no newline", [parseSkey(GO_SKEY)]), SyntaxError);
  });

  it("accepts at least 16 signatures and verifies each known one", () => {
    const signers = Array.from({ length: 20 }, (_, i) => Ed25519Signer.generate(`witness${i}.example`));
    const note = signNote("many signers\n", signers);
    const opened = openNote(
      note,
      signers.map((s) => s.verifier()),
    );
    assert.ok(opened.ok && opened.verified.length === 20);
  });
});

function reason(r: ReturnType<typeof openNote>): string {
  return r.ok ? "ok" : r.reason;
}
