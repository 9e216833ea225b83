import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bytesToHex } from "viem";
import { buildTrie, indexKey, verifyTrieProof } from "../../src/anchor/mpt.js";

const enc = (s: string) => new TextEncoder().encode(s);

describe("Merkle-Patricia trie (Yellow Paper appendix D)", () => {
  it("gives the canonical empty-trie root", () => {
    assert.equal(
      bytesToHex(buildTrie([]).root),
      "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
    );
  });

  it("matches the ethereum/tests trietest 'puppy' vector and proves every key", () => {
    const pairs = [
      ["do", "verb"],
      ["horse", "stallion"],
      ["doge", "coin"],
      ["dog", "puppy"],
    ].map(([k, v]) => [enc(k!), enc(v!)] as const);
    const { root } = buildTrie(pairs);
    assert.equal(bytesToHex(root), "0x5991bb8c6514148a29db676a14ac506cd2cd5775ace63c30a4fe457715e9ac84");
    for (const [k, v] of pairs) {
      const { proof } = buildTrie(pairs, k);
      assert.deepEqual(verifyTrieProof(root, k, proof), v);
    }
    assert.throws(() => verifyTrieProof(root, enc("cat"), buildTrie(pairs, enc("cat")).proof), /not in trie/);
  });

  it("proves every index of list tries of many sizes, including RLP(0) = 0x80 and 2-byte keys", () => {
    for (const n of [1, 2, 3, 16, 17, 128, 130, 300]) {
      const pairs = Array.from(
        { length: n },
        (_, i) => [indexKey(i), new Uint8Array(40).fill(i % 251)] as const,
      );
      const { root } = buildTrie(pairs);
      for (const i of [0, 1, Math.floor(n / 2), n - 1]) {
        if (i >= n) continue;
        const { proof } = buildTrie(pairs, indexKey(i));
        assert.deepEqual(verifyTrieProof(root, indexKey(i), proof), pairs[i]![1]);
      }
    }
  });

  it("rejects a proof with a changed node", () => {
    const pairs = Array.from({ length: 20 }, (_, i) => [indexKey(i), new Uint8Array(40).fill(i)] as const);
    const { root, proof } = buildTrie(pairs, indexKey(7));
    const bad = proof.map((p) => p.slice());
    bad[1]![5]! ^= 1;
    assert.throws(() => verifyTrieProof(root, indexKey(7), bad), /proof node missing/);
  });
});
