import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  encodeTileIndex,
  newTiles,
  parseTilePath,
  rightEdgeTiles,
  splitStoredHashIndex,
  storedHashCount,
  storedHashIndex,
  tileForLeaf,
  tileLevels,
  tilePath,
} from "../../src/batcher/tlog/tiles.js";

describe("C2SP tlog-tiles paths", () => {
  it("encodes indexes in x-prefixed 3-digit groups as the spec's examples", () => {
    assert.equal(encodeTileIndex(1234067n), "x001/x234/067");
    assert.equal(encodeTileIndex(1000n), "x001/000");
    assert.equal(encodeTileIndex(0n), "000");
    assert.equal(encodeTileIndex(999n), "999");
    assert.equal(encodeTileIndex(2n ** 53n), "x009/x007/x199/x254/x740/992");
  });

  it("formats full and partial tile paths and parses them back", () => {
    assert.equal(tilePath({ level: 0, n: 1234067n, width: 256 }), "tile/0/x001/x234/067");
    assert.equal(tilePath({ level: 2, n: 0n, width: 1 }), "tile/2/000.p/1");
    assert.deepEqual(parseTilePath("tile/1/x001/000.p/17"), { level: 1, n: 1000n, width: 17 });
    for (const bad of [
      "tile/0/1",
      "tile/0/x000/001",
      "tile/64/000",
      "tile/0/000.p/0",
      "tile/0/000.p/256",
      "tile/00/000",
      "tile/entries/000",
    ]) {
      assert.throws(() => parseTilePath(bad), SyntaxError, bad);
    }
    assert.throws(() => tilePath({ level: 0, n: 0n, width: 0 }), RangeError);
  });

  it("round-trips every path (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 63 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n }),
        fc.integer({ min: 1, max: 256 }),
        (level, n, width) => {
          assert.deepEqual(parseTilePath(tilePath({ level, n, width })), { level, n, width });
        },
      ),
    );
  });
});

describe("C2SP tlog-tiles geometry", () => {
  it("splits size 70,000 as the reference checks: 273 + .p/112, 1 + .p/17, level 2 .p/1", () => {
    assert.deepEqual(tileLevels(70000n), [
      { level: 0, fullTiles: 273n, partialWidth: 112 },
      { level: 1, fullTiles: 1n, partialWidth: 17 },
      { level: 2, fullTiles: 0n, partialWidth: 1 },
    ]);
    assert.deepEqual(rightEdgeTiles(70000n).map(tilePath), [
      "tile/0/273.p/112",
      "tile/1/001.p/17",
      "tile/2/000.p/1",
    ]);
    assert.deepEqual(rightEdgeTiles(65536n).map(tilePath), ["tile/0/255", "tile/1/000", "tile/2/000.p/1"]);
    assert.deepEqual(tileLevels(0n), []);
  });

  it("lists the tiles that change when the tree grows", () => {
    assert.deepEqual(newTiles(250n, 600n).map(tilePath), [
      "tile/0/000",
      "tile/0/001",
      "tile/0/002.p/88",
      "tile/1/000.p/2",
    ]);
    assert.deepEqual(newTiles(600n, 600n), []);
    assert.deepEqual(newTiles(0n, 1n).map(tilePath), ["tile/0/000.p/1"]);
    assert.throws(() => newTiles(2n, 1n), RangeError);
  });

  it("keeps tile arithmetic exact above 2^32 and near 2^53", () => {
    const size = 2n ** 53n - 1n;
    const levels = tileLevels(size);
    assert.equal(levels.length, 7); // 256^6 = 2^48 ≤ size < 2^56
    assert.equal(levels[0]!.fullTiles, (2n ** 53n - 1n) / 256n);
    assert.equal(levels[0]!.partialWidth, 255);
    assert.equal(levels[6]!.partialWidth, 31);
    const big = 2n ** 32n + 300n;
    assert.deepEqual(tileForLeaf(big, big + 1n), { level: 0, n: 2n ** 24n + 1n, width: 45 });
    assert.equal(tilePath(tileForLeaf(big, big + 1n)), "tile/0/x016/x777/217.p/45");
  });
});

describe("stored hash index (golang.org/x/mod/sumdb/tlog)", () => {
  it("matches Go's layout for the first leaves", () => {
    // leaf 0 → 0; leaf 1 → 1, parent(1,0) → 2; leaf 2 → 3; leaf 3 → 4, (1,1) → 5, (2,0) → 6; leaf 4 → 7
    const expected: [number, bigint, bigint][] = [
      [0, 0n, 0n],
      [0, 1n, 1n],
      [1, 0n, 2n],
      [0, 2n, 3n],
      [0, 3n, 4n],
      [1, 1n, 5n],
      [2, 0n, 6n],
      [0, 4n, 7n],
    ];
    for (const [level, n, id] of expected) assert.equal(storedHashIndex(level, n), id);
    assert.deepEqual([0n, 1n, 2n, 3n, 4n, 5n, 8n].map(storedHashCount), [0n, 1n, 3n, 4n, 7n, 8n, 15n]);
  });

  it("is dense, append-ordered and invertible", () => {
    let next = 0n;
    for (let leaf = 0n; leaf < 2000n; leaf++) {
      assert.equal(storedHashIndex(0, leaf), next);
      next++;
      for (let l = 1; (leaf + 1n) % (1n << BigInt(l)) === 0n; l++) {
        assert.equal(storedHashIndex(l, (leaf + 1n) / (1n << BigInt(l)) - 1n), next);
        next++;
      }
      assert.equal(storedHashCount(leaf + 1n), next);
    }
    for (let id = 0n; id < 5000n; id += 7n) {
      const { level, n } = splitStoredHashIndex(id);
      assert.equal(storedHashIndex(level, n), id);
    }
  });

  it("is exact beyond 2^32 and near 2^53", () => {
    for (const n of [2n ** 32n - 1n, 2n ** 32n, 2n ** 40n + 5n, 2n ** 51n - 1n, 2n ** 53n - 1n, 2n ** 62n]) {
      for (const level of [0, 1, 7, 8, 16]) {
        const id = storedHashIndex(level, n);
        assert.deepEqual(splitStoredHashIndex(id), { level, n });
      }
    }
    // 2^53 - 1 leaves need ≈ 2^54 stored hashes: beyond Number, exact as bigint.
    assert.equal(storedHashCount(2n ** 53n), 2n ** 54n - 1n);
  });
});
