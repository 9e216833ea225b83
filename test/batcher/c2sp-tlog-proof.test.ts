import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryTree } from "../../src/batcher/tlog/memory-tree.js";
import { signCheckpoint } from "../../src/batcher/verifier/checkpoint.js";
import { leafHash } from "../../src/batcher/verifier/merkle.js";
import { Ed25519Signer } from "../../src/batcher/verifier/signer.js";
import {
  formatTlogProof,
  parseTlogProof,
  TLOG_PROOF_HEADER,
  verifyTlogProof,
} from "../../src/batcher/verifier/tlog-proof.js";

const ORIGIN = "ward7.example-hospital.org/vitalog/gw-01";
const signer = Ed25519Signer.generate(ORIGIN);
const witness = Ed25519Signer.generate("witness.example-hospital.org");
const entries = Array.from({ length: 37 }, (_, i) => new TextEncoder().encode(`entry ${i}`));
const tree = new MemoryTree();
for (const e of entries) tree.append(leafHash(e));
const checkpoint = signCheckpoint({ origin: ORIGIN, size: 37, root: tree.root(), extensions: [] }, [
  signer,
  witness,
]);

function proofFor(index: number, extra?: Uint8Array): string {
  const base = { index, inclusion: tree.inclusionProof(index, 37), checkpoint };
  return formatTlogProof(extra === undefined ? base : { ...base, extra });
}

const fail = (r: ReturnType<typeof verifyTlogProof>) => (r.ok ? "ok" : r.reason);

describe("c2sp.org/tlog-proof@v1", () => {
  it("formats the layout of the spec: header, optional extra, index, hashes, blank line, checkpoint", () => {
    const text = proofFor(5, new Uint8Array([1, 2, 3]));
    const lines = text.split("\n");
    assert.equal(lines[0], TLOG_PROOF_HEADER);
    assert.equal(lines[1], "extra AQID");
    assert.equal(lines[2], "index 5");
    const inclusion = tree.inclusionProof(5, 37);
    assert.equal(lines[3 + inclusion.length], "");
    assert.ok(text.endsWith(checkpoint));
    const parsed = parseTlogProof(text);
    assert.equal(parsed.index, 5);
    assert.deepEqual(parsed.extra, new Uint8Array([1, 2, 3]));
    assert.equal(parsed.checkpoint, checkpoint);
    assert.equal(formatTlogProof(parsed), text);
    assert.equal(parseTlogProof(proofFor(5)).extra, undefined);
  });

  it("verifies every leaf of the log, with the checkpoint's witness signature ignored as unknown", () => {
    for (let i = 0; i < entries.length; i++) {
      const r = verifyTlogProof(proofFor(i), leafHash(entries[i]!), ORIGIN, [signer.verifier()]);
      assert.ok(r.ok, `leaf ${i}`);
      assert.equal(r.checkpoint.size, 37);
    }
  });

  it("rejects a wrong leaf, a wrong index, a tampered hash, a foreign origin and an untrusted key", () => {
    const leaf = leafHash(entries[9]!);
    const good = proofFor(9);
    const trusted = [signer.verifier()];
    assert.equal(
      fail(verifyTlogProof(good, leafHash(entries[8]!), ORIGIN, trusted)),
      "invalid_inclusion_proof",
    );
    assert.equal(
      fail(verifyTlogProof(good.replace("index 9\n", "index 8\n"), leaf, ORIGIN, trusted)),
      "invalid_inclusion_proof",
    );
    assert.equal(
      fail(verifyTlogProof(good.replace("index 9\n", "index 37\n"), leaf, ORIGIN, trusted)),
      "index_out_of_range",
    );
    const hashLine = good.split("\n")[2]!;
    const tampered = good.replace(hashLine, (hashLine[0] === "A" ? "B" : "A") + hashLine.slice(1));
    assert.equal(fail(verifyTlogProof(tampered, leaf, ORIGIN, trusted)), "invalid_inclusion_proof");
    assert.equal(fail(verifyTlogProof(good, leaf, "other.example/log", trusted)), "wrong_origin");
    assert.equal(
      fail(verifyTlogProof(good, leaf, ORIGIN, [witness.verifier()].slice(1))),
      "no_known_signature",
    );
    // Size comes from the signed checkpoint: editing it breaks the signature.
    assert.equal(
      fail(verifyTlogProof(good.replace("\n37\n", "\n38\n"), leaf, ORIGIN, trusted)),
      "invalid_signature",
    );
  });

  it("rejects malformed proofs", () => {
    const good = proofFor(3);
    const bad = [
      good.replace(TLOG_PROOF_HEADER, "c2sp.org/tlog-proof@v2"),
      good.replace("index 3", "index 03"),
      good.replace("index 3", "index -3"),
      good.replace("index 3\n", ""),
      good.replace("index 3\n", "index 3\nAAAA\n"),
      good.replace("\n\n", "\n"),
      `${TLOG_PROOF_HEADER}\nindex 0\n\n`,
    ];
    for (const text of bad) {
      assert.throws(() => parseTlogProof(text), SyntaxError, JSON.stringify(text.slice(0, 60)));
      assert.equal(
        fail(verifyTlogProof(text, leafHash(entries[3]!), ORIGIN, [signer.verifier()])),
        "malformed",
      );
    }
  });

  it("proves the only leaf of a one-leaf tree with zero hash lines", () => {
    const one = new MemoryTree();
    one.append(leafHash(entries[0]!));
    const cp = signCheckpoint({ origin: ORIGIN, size: 1, root: one.root(), extensions: [] }, [signer]);
    const text = formatTlogProof({ index: 0, inclusion: [], checkpoint: cp });
    assert.ok(text.startsWith(`${TLOG_PROOF_HEADER}\nindex 0\n\n${ORIGIN}\n1\n`));
    assert.ok(verifyTlogProof(text, leafHash(entries[0]!), ORIGIN, [signer.verifier()]).ok);
  });
});
