import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import fc from "fast-check";
import { MemoryTree } from "../../src/batcher/tlog/memory-tree.js";
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  memoryReader,
  nodeHash,
  rootOf,
  splitPoint,
  subtreeHash,
} from "../../src/batcher/verifier/merkle.js";
import {
  runConsistencySteps,
  runInclusionSteps,
  verifyConsistency,
  verifyInclusion,
} from "../../src/batcher/verifier/merkle-verify.js";
import { CT_LEAVES, flipBit, syntheticLeafHashes, threeValueReader } from "./merkle-fixtures.js";

const hex = bytesToHex;

// [reference §1.7] MTH of the first `size` CT test leaves.
const CT_ROOTS = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

const CT_LEAF_HASHES = CT_LEAVES.map(leafHash);
const ctRead = memoryReader(CT_LEAF_HASHES);

/** Matches a hash against the reference's abbreviated "first8…last3" hex form. */
function assertAbbrev(actual: Uint8Array, abbrev: string): void {
  const [head, tail] = abbrev.split("…") as [string, string];
  const h = hex(actual);
  assert.ok(h.startsWith(head) && h.endsWith(tail), `${h} does not match ${abbrev}`);
}

describe("RFC 9162 §2.1.1 Merkle Tree Hash", () => {
  it("matches the published roots for sizes 0 to 8 of the CT test leaves", () => {
    for (let n = 0; n <= 8; n++)
      assert.equal(hex(rootOf(CT_LEAF_HASHES.slice(0, n))), CT_ROOTS[n], `size ${n}`);
  });

  it("hashes the empty tree to SHA-256 of the empty string", () => {
    assert.equal(hex(EMPTY_ROOT), CT_ROOTS[0]);
  });

  it("splits at the largest power of two below n, not at n/2", () => {
    const cases: [number, number][] = [
      [2, 1],
      [3, 2],
      [4, 2],
      [5, 4],
      [6, 4],
      [8, 4],
      [9, 8],
      [2 ** 32 + 1, 2 ** 32],
    ];
    for (const [n, k] of cases) assert.equal(splitPoint(n), k, `n=${n}`);
    assert.equal(splitPoint(2 ** 53 - 1), 2 ** 52);
    assert.equal(splitPoint(2 ** 33), 2 ** 32);
    assert.throws(() => splitPoint(1), RangeError);
  });

  it("rejects bad arguments with TypeError and RangeError", () => {
    assert.throws(() => leafHash("x" as unknown as Uint8Array), TypeError);
    assert.throws(() => rootOf([new Uint8Array(31)]), RangeError);
    assert.throws(() => inclusionProof(3, 3, ctRead), RangeError);
    assert.throws(() => inclusionProof(-1, 3, ctRead), RangeError);
    assert.throws(() => inclusionProof(0.5, 3, ctRead), RangeError);
    assert.throws(() => consistencyProof(4, 3, ctRead), RangeError);
    assert.throws(() => verifyInclusion(CT_LEAF_HASHES[0]!, 0, 1, [], new Uint8Array(3)), RangeError);
  });
});

describe("RFC 9162 §2.1.3 / §2.1.4 the RFC's 7-leaf example", () => {
  // Node names as in the RFC figure: a..f and j are leaf hashes of d0..d6.
  const [a, b, c, d, e, f, j] = CT_LEAF_HASHES as [Uint8Array, ...Uint8Array[]] as Uint8Array[];
  const g = nodeHash(a!, b!);
  const h = nodeHash(c!, d!);
  const i = nodeHash(e!, f!);
  const k = nodeHash(g, h);
  const l = nodeHash(i, j!);
  const root7 = nodeHash(k, l);
  const names = (list: Uint8Array[]) => list.map(hex);

  it("builds the 7-leaf root from the named nodes", () => {
    assert.equal(hex(root7), CT_ROOTS[7]);
  });

  it("generates the RFC's inclusion proofs d0→[b,h,l], d3→[c,g,l], d4→[f,j,k], d6→[i,k]", () => {
    assert.deepEqual(names(inclusionProof(0, 7, ctRead)), names([b!, h, l]));
    assert.deepEqual(names(inclusionProof(3, 7, ctRead)), names([c!, g, l]));
    assert.deepEqual(names(inclusionProof(4, 7, ctRead)), names([f!, j!, k]));
    assert.deepEqual(names(inclusionProof(6, 7, ctRead)), names([i, k]));
  });

  it("generates the RFC's consistency proofs PROOF(3)=[c,d,g,l], PROOF(4)=[l], PROOF(6)=[i,j,k]", () => {
    assert.deepEqual(names(consistencyProof(3, 7, ctRead)), names([c!, d!, g, l]));
    assert.deepEqual(names(consistencyProof(4, 7, ctRead)), names([l]));
    assert.deepEqual(names(consistencyProof(6, 7, ctRead)), names([i, j!, k]));
  });

  it("matches the reference's printed PATH(2, D[7]), PROOF(3, D[7]) and PROOF(4, D[7])", () => {
    const path = inclusionProof(2, 7, ctRead);
    assert.equal(path.length, 3);
    assertAbbrev(path[0]!, "07506a85…7e7");
    assertAbbrev(path[1]!, "fac54203…125");
    assertAbbrev(path[2]!, "837dbb15…d0e");
    const p3 = consistencyProof(3, 7, ctRead);
    assert.equal(p3.length, 4);
    const abbrevs = ["0298d122…fe7", "07506a85…7e7", "fac54203…125", "837dbb15…d0e"];
    for (const [n, ab] of abbrevs.entries()) assertAbbrev(p3[n]!, ab);
    assert.deepEqual(names(consistencyProof(4, 7, ctRead)), [
      "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
    ]);
    assert.ok(verifyInclusion(CT_LEAF_HASHES[2]!, 2, 7, path, hexToBytes(CT_ROOTS[7]!)));
    assert.ok(verifyConsistency(3, 7, p3, hexToBytes(CT_ROOTS[3]!), hexToBytes(CT_ROOTS[7]!)));
  });
});

const MAX_N = 64;
const tree = new MemoryTree();
for (const lh of syntheticLeafHashes(MAX_N + 1)) tree.append(lh);
const LEAVES = syntheticLeafHashes(MAX_N + 1);
const ROOTS = Array.from({ length: 2 * MAX_N + 2 }, (_, n) => (n <= MAX_N + 1 ? tree.root(n) : undefined));

/** Bits to flip in one proof element: all 256 for small trees, 8 spread bits otherwise (time budget). */
function bitsFor(n: number): number[] {
  if (n <= 16) return Array.from({ length: 256 }, (_, b) => b);
  return [0, 37, 74, 111, 148, 185, 222, 255];
}

describe("RFC 9162 §2.1.3 inclusion proofs, exhaustive for every n ≤ 64 and every index", () => {
  it("verifies every generated proof, with exactly inner + border hashes", () => {
    for (let n = 1; n <= MAX_N; n++) {
      for (let m = 0; m < n; m++) {
        const proof = tree.inclusionProof(m, n);
        assert.ok(verifyInclusion(LEAVES[m]!, m, n, proof, ROOTS[n]!), `m=${m} n=${n}`);
        // [transparency-dev/merkle verify.go] inner = bitlen(m XOR (n-1)), border = popcount(m >> inner)
        const inner = (m ^ (n - 1)).toString(2).replace(/^0+/, "").length;
        const border = (m >> inner).toString(2).replace(/0/g, "").length;
        assert.equal(proof.length, inner + border, `length m=${m} n=${n}`);
      }
    }
  });

  it("rejects every tested single-bit mutation, truncation, extension, wrong leaf and wrong index", () => {
    for (let n = 1; n <= MAX_N; n++) {
      for (let m = 0; m < n; m++) {
        const proof = tree.inclusionProof(m, n);
        const root = ROOTS[n]!;
        for (let el = 0; el < proof.length; el++) {
          for (const bit of bitsFor(n)) {
            assert.ok(!verifyInclusion(LEAVES[m]!, m, n, flipBit(proof, el, bit), root), `flip ${el}/${bit}`);
          }
        }
        for (const bit of [0, 255]) {
          assert.ok(!verifyInclusion(LEAVES[m]!, m, n, proof, flipBit([root], 0, bit)[0]!));
          assert.ok(!verifyInclusion(flipBit([LEAVES[m]!], 0, bit)[0]!, m, n, proof, root));
        }
        if (proof.length > 0) assert.ok(!verifyInclusion(LEAVES[m]!, m, n, proof.slice(0, -1), root));
        assert.ok(!verifyInclusion(LEAVES[m]!, m, n, [...proof, root], root));
        assert.ok(!verifyInclusion(LEAVES[(m + 1) % n]!, m, n, proof, root) || n === 1);
        for (let w = 0; w < n + 2; w++) {
          if (w !== m)
            assert.ok(!verifyInclusion(LEAVES[m]!, w, n, proof, root), `wrong index ${w} m=${m} n=${n}`);
        }
      }
    }
  });

  it("rejects a wrong size n+1 against that tree's root; with the stale root_n it cannot (size is unbound)", () => {
    let staleAccepted = 0;
    for (let n = 1; n <= MAX_N; n++) {
      for (let m = 0; m < n; m++) {
        const proof = tree.inclusionProof(m, n);
        assert.ok(!verifyInclusion(LEAVES[m]!, m, n + 1, proof, ROOTS[n + 1]!), `m=${m} n=${n}`);
        if (verifyInclusion(LEAVES[m]!, m, n + 1, proof, ROOTS[n]!)) staleAccepted++;
      }
    }
    // [reference §1.6] 1,824 such cases for sizes 1–64: only the checkpoint signature binds size to root.
    assert.equal(staleAccepted, 1824);
  });

  it("needs the final sn == 0 check: without it, over-sized claims would verify", () => {
    let caughtOnlyBySn = 0;
    for (let n = 1; n <= MAX_N; n++) {
      for (let m = 0; m < n; m++) {
        const proof = tree.inclusionProof(m, n);
        for (let claimed = n + 1; claimed <= 2 * n + 1; claimed++) {
          const steps = runInclusionSteps(LEAVES[m]!, m, claimed, proof);
          if (steps && steps.sn !== 0 && hex(steps.root) === hex(ROOTS[n]!)) {
            caughtOnlyBySn++;
            assert.ok(!verifyInclusion(LEAVES[m]!, m, claimed, proof, ROOTS[n]!));
          }
        }
      }
    }
    assert.ok(caughtOnlyBySn > 0, "expected claims that only the sn == 0 check rejects");
  });
});

describe("RFC 9162 §2.1.4 consistency proofs, exhaustive for every 0 < m < n ≤ 64", () => {
  it("verifies every generated proof and the trivial cases", () => {
    for (let n = 1; n <= MAX_N; n++) {
      for (let m = 1; m < n; m++) {
        const proof = tree.consistencyProof(m, n);
        assert.ok(proof.length <= Math.ceil(Math.log2(n)) + 1, "RFC bound ceil(log2 n) + 1");
        assert.ok(verifyConsistency(m, n, proof, ROOTS[m]!, ROOTS[n]!), `m=${m} n=${n}`);
      }
      assert.deepEqual(tree.consistencyProof(n, n), []);
      assert.ok(verifyConsistency(n, n, [], ROOTS[n]!, ROOTS[n]!));
      assert.ok(!verifyConsistency(n, n, [], ROOTS[n]!, ROOTS[n - 1]!));
      assert.ok(verifyConsistency(0, n, [], EMPTY_ROOT, ROOTS[n]!));
      assert.ok(!verifyConsistency(0, n, [], ROOTS[1]!, ROOTS[n]!));
      assert.ok(!verifyConsistency(n, n - 1, [], ROOTS[n]!, ROOTS[n - 1]!));
    }
  });

  it("rejects every tested single-bit mutation, truncation, extension, swapped roots and wrong sizes", () => {
    for (let n = 2; n <= MAX_N; n++) {
      for (let m = 1; m < n; m++) {
        const proof = tree.consistencyProof(m, n);
        const [r1, r2] = [ROOTS[m]!, ROOTS[n]!];
        for (let el = 0; el < proof.length; el++) {
          for (const bit of bitsFor(n)) {
            assert.ok(
              !verifyConsistency(m, n, flipBit(proof, el, bit), r1, r2),
              `m=${m} n=${n} ${el}/${bit}`,
            );
          }
        }
        assert.ok(!verifyConsistency(m, n, proof, flipBit([r1], 0, 7)[0]!, r2));
        assert.ok(!verifyConsistency(m, n, proof, r1, flipBit([r2], 0, 7)[0]!));
        assert.ok(!verifyConsistency(m, n, proof.slice(0, -1), r1, r2));
        assert.ok(!verifyConsistency(m, n, [...proof, r2], r1, r2));
        assert.ok(!verifyConsistency(m, n, [], r1, r2));
        assert.ok(!verifyConsistency(m, n + 1, proof, r1, ROOTS[n + 1]!), `n+1 m=${m} n=${n}`);
        if (m > 1) assert.ok(!verifyConsistency(m - 1, n, proof, ROOTS[m - 1]!, r2), `m-1 m=${m} n=${n}`);
      }
    }
  });

  it("cannot bind sizes by itself: stale-root n+1 claims verify exactly where leaf m-1's inclusion would", () => {
    let staleAccepted = 0;
    let sameAsInclusion = 0;
    let caughtOnlyBySn = 0;
    for (let n = 2; n <= MAX_N; n++) {
      for (let m = 1; m < n; m++) {
        const proof = tree.consistencyProof(m, n);
        const stale = verifyConsistency(m, n + 1, proof, ROOTS[m]!, ROOTS[n]!);
        if (stale) staleAccepted++;
        // §2.1.4.2 folds like §2.1.3.2 for the old tree's last leaf m-1, so the size ambiguity is shared.
        const inclusionStale = verifyInclusion(
          LEAVES[m - 1]!,
          m - 1,
          n + 1,
          tree.inclusionProof(m - 1, n),
          ROOTS[n]!,
        );
        if (stale === inclusionStale) sameAsInclusion++;
        for (let claimed = n + 1; claimed <= 2 * n + 1; claimed++) {
          const steps = runConsistencySteps(m, claimed, proof, ROOTS[m]!);
          if (
            steps &&
            steps.sn !== 0 &&
            hex(steps.firstRoot) === hex(ROOTS[m]!) &&
            hex(steps.secondRoot) === hex(ROOTS[n]!)
          ) {
            caughtOnlyBySn++;
            assert.ok(!verifyConsistency(m, claimed, proof, ROOTS[m]!, ROOTS[n]!));
          }
        }
      }
    }
    // The reference (§1.6) reports 656 here; this RFC-literal verifier finds 1,824, the same count as for
    // inclusion proofs, because each case coincides with the inclusion case for leaf m-1 (asserted below).
    assert.ok(staleAccepted > 0);
    assert.equal(sameAsInclusion, ((MAX_N - 1) * MAX_N) / 2);
    assert.ok(caughtOnlyBySn > 0, "expected claims that only the final sn == 0 check rejects");
  });
});

describe("RFC 9162 index arithmetic beyond 2^32", () => {
  const A = leafHash(new Uint8Array([1]));
  const B = leafHash(new Uint8Array([2]));
  const C = leafHash(new Uint8Array([3]));
  const cases: [number, number][] = [
    [2 ** 32 - 1, 2 ** 32 + 1],
    [2 ** 32, 2 ** 32 + 7],
    [2 ** 33 + 5, 2 ** 40 + 3],
    [2 ** 31 + 3, 2 ** 35],
    [2 ** 53 - 2, 2 ** 53 - 1],
    [2 ** 52 + 12345, 2 ** 53 - 1],
  ];
  for (const [m, n] of cases) {
    it(`proves leaf ${m} in a tree of ${n} leaves and rejects neighbouring indexes`, () => {
      const read = threeValueReader(m, A, C, B); // leaf m hashes to C, earlier ones to A, later ones to B
      const root = subtreeHash(read, 0, n);
      const proof = inclusionProof(m, n, read);
      assert.ok(verifyInclusion(C, m, n, proof, root));
      assert.ok(!verifyInclusion(A, m, n, proof, root));
      for (const w of [m - 1, m + 1, m - 2 ** 32, m + 2 ** 32, m - 2 ** 31, n - 1]) {
        if (w >= 0 && w < n && w !== m) assert.ok(!verifyInclusion(C, w, n, proof, root), `wrong index ${w}`);
      }
      const size1 = m + 1;
      const root1 = subtreeHash(read, 0, size1);
      const cproof = consistencyProof(size1, n, read);
      assert.ok(verifyConsistency(size1, n, cproof, root1, root));
      assert.ok(!verifyConsistency(size1 - 1, n, cproof, subtreeHash(read, 0, size1 - 1), root));
    });
  }
});

describe("RFC 9162 generation and verification agree (property)", () => {
  it("for random trees up to 300 leaves, proofs verify and a random bit flip never does", () => {
    const leaves = syntheticLeafHashes(300);
    const big = new MemoryTree();
    for (const lh of leaves) big.append(lh);
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 300 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.integer({ min: 0, max: n - 1 }),
              fc.nat(),
              fc.integer({ min: 0, max: 255 }),
            ),
          ),
        ([n, m, pick, bit]) => {
          const root = big.root(n);
          const proof = big.inclusionProof(m, n);
          assert.ok(verifyInclusion(leaves[m]!, m, n, proof, root));
          if (proof.length > 0) {
            assert.ok(!verifyInclusion(leaves[m]!, m, n, flipBit(proof, pick % proof.length, bit), root));
          }
          if (m > 0) {
            const cp = big.consistencyProof(m, n);
            assert.ok(verifyConsistency(m, n, cp, big.root(m), root));
            if (cp.length > 0) {
              assert.ok(!verifyConsistency(m, n, flipBit(cp, pick % cp.length, bit), big.root(m), root));
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
