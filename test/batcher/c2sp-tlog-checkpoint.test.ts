import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bytesToHex } from "@noble/hashes/utils.js";
import { base64Decode } from "../../src/batcher/verifier/base64.js";
import {
  formatCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  verifyCheckpoint,
} from "../../src/batcher/verifier/checkpoint.js";
import { EMPTY_ROOT } from "../../src/batcher/verifier/merkle.js";
import { Ed25519Signer, parseVkey } from "../../src/batcher/verifier/signer.js";

// [C2SP tlog-checkpoint] the spec's example text.
const SPEC_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
// A real signed tree head of the Go checksum database (checkpoint format), and its published vkey.
const SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_NOTE =
  "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n" +
  "— sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=\n";

const ORIGIN = "ward7.example-hospital.org/vitalog/gw-01";

describe("C2SP tlog-checkpoint", () => {
  it("parses and re-formats the spec's example byte for byte", () => {
    const cp = parseCheckpoint(SPEC_TEXT);
    assert.equal(cp.origin, "example.com/behind-the-sofa");
    assert.equal(cp.size, 20852163);
    assert.equal(cp.root.length, 32);
    assert.deepEqual(cp.extensions, []);
    assert.equal(formatCheckpoint(cp), SPEC_TEXT);
  });

  it("verifies a real sum.golang.org signed tree head", () => {
    const result = verifyCheckpoint(SUMDB_NOTE, "go.sum database tree", [parseVkey(SUMDB_VKEY)]);
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.checkpoint.size, 65209736);
    assert.equal(
      bytesToHex(result.checkpoint.root),
      bytesToHex(base64Decode("5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=")),
    );
  });

  it("signs and verifies a checkpoint with extension lines; the empty tree has size 0", () => {
    const signer = Ed25519Signer.generate(ORIGIN);
    const note = signCheckpoint(
      { origin: ORIGIN, size: 0, root: EMPTY_ROOT, extensions: ["ext one", "two"] },
      [signer],
    );
    assert.ok(
      note.startsWith(
        `${ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next one\ntwo\n\n— ${ORIGIN} `,
      ),
    );
    const result = verifyCheckpoint(note, ORIGIN, [signer.verifier()]);
    assert.ok(result.ok);
    assert.deepEqual(result.checkpoint.extensions, ["ext one", "two"]);
  });

  it("handles sizes above 2^32 exactly", () => {
    const size = 2 ** 40 + 12345;
    const text = formatCheckpoint({ origin: ORIGIN, size, root: EMPTY_ROOT, extensions: [] });
    assert.equal(text.split("\n")[1], "1099511640121");
    assert.equal(parseCheckpoint(text).size, size);
    assert.throws(
      () => parseCheckpoint(`${ORIGIN}\n9007199254740992\n${text.split("\n")[2]}\n`),
      SyntaxError,
    );
  });

  it("rejects malformed checkpoints", () => {
    const root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    const bad = [
      `${ORIGIN}\n012\n${root}\n`, // leading zero
      `${ORIGIN}\n-1\n${root}\n`,
      `${ORIGIN}\n1 \n${root}\n`,
      `${ORIGIN}\n12\n${root}`, // no final newline
      `${ORIGIN}\n12\n`,
      `\n12\n${root}\n`, // empty origin
      `${ORIGIN}\n12\nAAAA\n`, // not 32 bytes
      `${ORIGIN}\n12\n${root}\n\n`, // empty extension line
    ];
    for (const text of bad) assert.throws(() => parseCheckpoint(text), SyntaxError, JSON.stringify(text));
    assert.throws(
      () => formatCheckpoint({ origin: "", size: 1, root: EMPTY_ROOT, extensions: [] }),
      RangeError,
    );
    assert.throws(
      () => formatCheckpoint({ origin: ORIGIN, size: 1, root: EMPTY_ROOT, extensions: [""] }),
      RangeError,
    );
  });

  it("rejects a wrong origin, a wrong key and a tampered size", () => {
    const signer = Ed25519Signer.generate(ORIGIN);
    const note = signCheckpoint({ origin: ORIGIN, size: 7, root: EMPTY_ROOT, extensions: [] }, [signer]);
    const fail = (r: ReturnType<typeof verifyCheckpoint>) => (r.ok ? "ok" : r.reason);
    assert.equal(fail(verifyCheckpoint(note, "other.example/log", [signer.verifier()])), "wrong_origin");
    assert.equal(
      fail(verifyCheckpoint(note, ORIGIN, [Ed25519Signer.generate(ORIGIN).verifier()])),
      "no_known_signature",
    );
    assert.equal(
      fail(verifyCheckpoint(note.replace("\n7\n", "\n8\n"), ORIGIN, [signer.verifier()])),
      "invalid_signature",
    );
  });
});
