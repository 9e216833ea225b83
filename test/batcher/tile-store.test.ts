import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { bytesToHex } from "@noble/hashes/utils.js";
import Database from "better-sqlite3";
import { MemoryTree } from "../../src/batcher/tlog/memory-tree.js";
import { nodeHashWithNodeCrypto } from "../../src/batcher/tlog/record-crypto.js";
import { FULL_TILE_BYTES, nodePos, tileId } from "../../src/batcher/tlog/tile-math.js";
import { TILE_STORE_MIGRATION, TileStore } from "../../src/batcher/tlog/tile-store.js";
import { rightEdgeTiles } from "../../src/batcher/tlog/tiles.js";
import { EMPTY_ROOT } from "../../src/batcher/verifier/merkle.js";
import { verifyConsistency, verifyInclusion } from "../../src/batcher/verifier/merkle-verify.js";
import { syntheticLeafHashes } from "./merkle-fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "vitalog-tile-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
function openDb(
  file = join(dir, `log-${fileNo++}.db`),
  migrate = true,
): { db: Database.Database; file: string } {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  if (migrate) db.exec(TILE_STORE_MIGRATION);
  return { db, file };
}

const hex = bytesToHex;
const LEAVES = syntheticLeafHashes(3000);

/** Cheap distinct 32-byte "leaf hashes" for big trees (the store never looks inside them). */
function fakeLeaves(n: number, salt = 0): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(32, 0xab);
    b.writeUInt32BE(i, 0);
    b.writeUInt32BE(salt, 4);
    out.push(b);
  }
  return out;
}

/** node:crypto interior hash, as the gateway injects it. */
const nodeHashNode = (l: Uint8Array, r: Uint8Array): Uint8Array =>
  createHash("sha256").update(Uint8Array.of(1)).update(l).update(r).digest();

const DROP_TRIGGERS = `DROP TRIGGER tlog_tiles_append_only_insert; DROP TRIGGER tlog_tiles_append_only_update;
  DROP TRIGGER tlog_tiles_append_only_delete;`;

/** Overwrites hash `pos` of stored tile (level, n), as an attacker with file access would. */
function tamper(db: Database.Database, level: number, n: number, pos: number, value: Uint8Array): void {
  const blob = db.prepare("SELECT hashes FROM tlog_tiles WHERE level = ? AND idx = ?").pluck().get(level, n);
  const copy = Buffer.from(blob as Buffer);
  copy.set(value, pos * 32);
  db.prepare("UPDATE tlog_tiles SET hashes = ? WHERE level = ? AND idx = ?").run(copy, level, n);
}

describe("TileStore on a real SQLite file", () => {
  it("starts empty with the empty-tree root", () => {
    const { db } = openDb();
    const store = new TileStore(db);
    assert.equal(store.size(), 0);
    assert.equal(hex(store.root()), hex(EMPTY_ROOT));
    assert.equal(hex(store.recomputeRoot()), hex(EMPTY_ROOT));
    assert.deepEqual([...store.iterateLeafHashes()], []);
    db.close();
  });

  it("refuses to append outside a transaction, and leaf hashes that are not whole 32-byte hashes", () => {
    const { db } = openDb();
    const store = new TileStore(db);
    assert.throws(() => store.append([LEAVES[0]!]), TypeError);
    assert.throws(() => db.transaction(() => store.append(new Uint8Array(33)))(), RangeError);
    assert.throws(() => db.transaction(() => store.append([new Uint8Array(31)]))(), RangeError);
    assert.equal(store.size(), 0);
    db.close();
  });

  for (const [name, opts] of [
    ["@noble node hash", {}],
    ["the gateway's node:crypto node hash (allocation-free .pairInto)", { nodeHash: nodeHashWithNodeCrypto }],
  ] as const) {
    it(`matches the in-memory reference root after every batch, and for every earlier size (${name})`, () => {
      const { db } = openDb();
      const store = new TileStore(db, opts);
      const ref = new MemoryTree();
      const batches = [1, 2, 1, 5, 7, 16, 33, 100, 255, 256, 257, 1, 511, 600];
      let at = 0;
      for (const [k, count] of batches.entries()) {
        const batch = LEAVES.slice(at, at + count);
        // every other batch as one packed buffer (the gateway's form), the others as an array
        const arg = k % 2 === 0 ? batch : Buffer.concat(batch);
        const res = db.transaction(() => store.append(arg))();
        assert.equal(res.firstIndex, at);
        for (const lh of batch) ref.append(lh);
        at += count;
        assert.equal(res.size, at);
        assert.equal(hex(res.root), hex(ref.root()));
        assert.equal(hex(store.root()), hex(ref.root()));
      }
      for (let size = 0; size <= at; size += 13)
        assert.equal(hex(store.rootAt(size)), hex(ref.root(size)), `size ${size}`);
      assert.equal(hex(store.recomputeRoot()), hex(ref.root()));
      assert.equal(store.audit().mismatch, undefined);
      assert.equal(new TileStore(db).audit().mismatch, undefined, "stored inner nodes equal @noble's");
      db.close();
    });
  }

  it("serves proofs from storage that verify, for many (index, size) and (m, n)", () => {
    const { db } = openDb();
    const store = new TileStore(db);
    const ref = new MemoryTree();
    db.transaction(() => store.append(LEAVES.slice(0, 1100)))();
    for (const lh of LEAVES.slice(0, 1100)) ref.append(lh);
    for (let n = 1; n <= 1100; n += 37) {
      const root = store.rootAt(n);
      for (let m = 0; m < n; m += 11) {
        const proof = store.inclusionProof(m, n);
        assert.deepEqual(proof.map(hex), ref.inclusionProof(m, n).map(hex));
        assert.ok(verifyInclusion(LEAVES[m]!, m, n, proof, root));
      }
      for (let m = 1; m <= n; m += 29) {
        assert.ok(
          verifyConsistency(m, n, store.consistencyProof(m, n), store.rootAt(m), root),
          `${m} -> ${n}`,
        );
      }
    }
    assert.throws(() => store.inclusionProof(1100, 1100), RangeError);
    assert.throws(() => store.inclusionProof(0, 1101), RangeError);
    assert.throws(() => store.hashAt(1, 550), RangeError);
    db.close();
  });

  it("reads full and partial tiles whose hashes rebuild the tree", () => {
    const { db } = openDb();
    const store = new TileStore(db);
    db.transaction(() => store.append(LEAVES.slice(0, 2 * 256 * 1 + 300)))(); // 812 leaves
    const full = store.readTile(0, 1);
    assert.equal(full.length, 8192);
    assert.equal(hex(full.subarray(0, 32)), hex(LEAVES[256]!));
    const partial = store.readTile(0, 3, 44);
    assert.equal(partial.length, 44 * 32);
    assert.equal(
      hex(store.readTile(0, 3, 10)),
      hex(partial.subarray(0, 320)),
      "a narrower partial is a prefix",
    );
    const level1 = store.readTile(1, 0, 3);
    assert.equal(hex(level1.subarray(32, 64)), hex(store.hashAt(8, 1)));
    assert.throws(() => store.readTile(0, 3, 45), RangeError);
    assert.throws(() => store.readTile(1, 0, 4), RangeError);
    for (const t of rightEdgeTiles(812n))
      assert.equal(store.readTile(t.level, Number(t.n), t.width).length, t.width * 32);
    db.close();
  });

  it("keeps its state consistent when the caller's transaction rolls back", () => {
    const { db } = openDb();
    const store = new TileStore(db);
    db.transaction(() => store.append(LEAVES.slice(0, 10)))();
    const before = hex(store.root());
    assert.throws(() =>
      db.transaction(() => {
        store.append(LEAVES.slice(10, 20));
        throw new Error("caller failed after appending");
      })(),
    );
    assert.equal(store.size(), 10);
    assert.equal(hex(store.root()), before);
    const res = db.transaction(() => store.append(LEAVES.slice(20, 25)))();
    const ref = new MemoryTree();
    for (const lh of [...LEAVES.slice(0, 10), ...LEAVES.slice(20, 25)]) ref.append(lh);
    assert.equal(hex(res.root), hex(ref.root()));
    db.close();
  });

  it("forgets tiles completed and read inside a rolled-back transaction", () => {
    const { db } = openDb();
    const store = new TileStore(db);
    const kept = LEAVES.slice(0, 200);
    db.transaction(() => store.append(kept))();
    assert.throws(() =>
      db.transaction(() => {
        store.append(LEAVES.slice(1000, 1100)); // completes tile 0/0 with other leaves
        assert.equal(hex(store.hashAt(0, 210)), hex(LEAVES[1010]!));
        store.inclusionProof(5, 300);
        throw new Error("rolled back");
      })(),
    );
    const later = LEAVES.slice(2000, 2100);
    db.transaction(() => store.append(later))();
    const ref = new MemoryTree();
    for (const lh of [...kept, ...later]) ref.append(lh);
    assert.equal(hex(store.hashAt(0, 210)), hex(later[10]!));
    assert.equal(hex(store.hashAt(7, 1)), hex(ref.hashAt(7, 1)));
    assert.deepEqual(store.inclusionProof(5, 300).map(hex), ref.inclusionProof(5, 300).map(hex));
    assert.equal(hex(store.root()), hex(ref.root()));
    db.close();
  });

  it("reloads its right edge after a write fails halfway through an append", () => {
    const { db } = openDb();
    const store = new TileStore(db);
    db.transaction(() => store.append(LEAVES.slice(0, 200)))();
    db.exec(`CREATE TEMP TRIGGER fail_tile_1 BEFORE INSERT ON main.tlog_tiles WHEN NEW.id = ${tileId(0, 1)}
      BEGIN SELECT RAISE(ABORT, 'disk full'); END;`);
    // Tile 0/0 is completed and written, then the insert of tile 0/1 fails.
    assert.throws(() => db.transaction(() => store.append(LEAVES.slice(200, 300)))(), /disk full/);
    db.exec("DROP TRIGGER fail_tile_1");
    assert.equal(store.size(), 200);
    const res = db.transaction(() => store.append(LEAVES.slice(500, 600)))();
    const ref = new MemoryTree();
    for (const lh of [...LEAVES.slice(0, 200), ...LEAVES.slice(500, 600)]) ref.append(lh);
    assert.equal(hex(res.root), hex(ref.root()));
    assert.equal(store.audit().mismatch, undefined);
    db.close();
  });

  it("reopens the file and continues appending", () => {
    const { db, file } = openDb();
    db.transaction(() => new TileStore(db).append(LEAVES.slice(0, 777)))();
    db.close();
    const again = openDb(file, false);
    const store = new TileStore(again.db);
    assert.equal(store.size(), 777);
    again.db.transaction(() => store.append(LEAVES.slice(777, 2000)))();
    const ref = new MemoryTree();
    for (const lh of LEAVES.slice(0, 2000)) ref.append(lh);
    assert.equal(hex(store.root()), hex(ref.root()));
    assert.equal(hex(store.recomputeRoot(1500)), hex(ref.root(1500)));
    again.db.close();
  });

  it("lets two connections to one file append in turn, each seeing the other's leaves", () => {
    const { db, file } = openDb();
    const other = openDb(file, false).db;
    const stores = [new TileStore(db), new TileStore(other)];
    const dbs = [db, other];
    const ref = new MemoryTree();
    const leaves = fakeLeaves(1500);
    for (let at = 0, k = 0; at < leaves.length; k++) {
      const count = [1, 97, 255, 300][k % 4]!;
      const batch = leaves.slice(at, at + count);
      const res = dbs[k % 2]!.transaction(() => stores[k % 2]!.append(batch))();
      assert.equal(res.firstIndex, at);
      for (const lh of batch) ref.append(lh);
      at += batch.length;
      assert.equal(hex(stores[(k + 1) % 2]!.root()), hex(ref.root()));
    }
    assert.deepEqual(stores[1]!.inclusionProof(3, 1500).map(hex), ref.inclusionProof(3, 1500).map(hex));
    other.close();
    db.close();
  });
});

describe("TileStore across tile boundaries", () => {
  const total = 70_000; // 273 full level-0 tiles + 112, 1 full level-1 tile + 17, a level-2 tile of 1
  const leaves = fakeLeaves(total);
  const { db } = openDb();
  const store = new TileStore(db, { nodeHash: nodeHashNode });
  const ref = new MemoryTree();
  const around = [1, 2, 255, 256, 257, 511, 512, 513, 65_535, 65_536, 65_537, 69_999, 70_000];
  after(() => db.close());

  it("matches the reference root after every batch", () => {
    const batches = [255, 1, 1, 254, 3000, 62_024, 1, 1, 1, 4_462];
    let at = 0;
    for (const count of batches) {
      const batch = leaves.slice(at, at + count);
      const res = db.transaction(() => store.append(batch))();
      for (const lh of batch) ref.append(lh);
      at += count;
      assert.equal(res.size, at);
      assert.equal(hex(res.root), hex(ref.root()), `after ${at}`);
    }
    assert.equal(at, total);
  });

  it("serves every earlier root around the tile boundaries", () => {
    for (const size of around) assert.equal(hex(store.rootAt(size)), hex(ref.root(size)), `size ${size}`);
    for (let size = 0; size <= total; size += 997) assert.equal(hex(store.rootAt(size)), hex(ref.root(size)));
  });

  it("serves inclusion and consistency proofs that verify around the boundaries", () => {
    const indexes = [
      0, 1, 127, 128, 254, 255, 256, 257, 4_095, 65_279, 65_535, 65_536, 65_537, 69_998, 69_999,
    ];
    for (const size of around) {
      const root = store.rootAt(size);
      for (const index of indexes.filter((i) => i < size)) {
        const proof = store.inclusionProof(index, size);
        assert.deepEqual(proof.map(hex), ref.inclusionProof(index, size).map(hex), `${index} in ${size}`);
        assert.ok(verifyInclusion(leaves[index]!, index, size, proof, root), `${index} in ${size}`);
      }
      for (const size1 of around.filter((m) => m <= size)) {
        const proof = store.consistencyProof(size1, size);
        assert.deepEqual(proof.map(hex), ref.consistencyProof(size1, size).map(hex));
        assert.ok(verifyConsistency(size1, size, proof, store.rootAt(size1), root), `${size1} -> ${size}`);
      }
    }
  });

  it("reads tiles equal to the concatenated hashes of their level, full and partial", () => {
    const tiles: [level: number, n: number, width: number][] = [
      [0, 0, 256],
      [0, 0, 7],
      [0, 272, 256],
      [0, 273, 112],
      [0, 273, 50],
      [1, 0, 256],
      [1, 0, 200],
      [1, 1, 17],
      [2, 0, 1],
    ];
    for (const [level, n, width] of tiles) {
      const expected = Buffer.concat(
        Array.from({ length: width }, (_, i) => store.hashAt(8 * level, n * 256 + i)),
      );
      assert.equal(hex(store.readTile(level, n, width)), hex(expected), `tile ${level}/${n}.p/${width}`);
    }
    assert.equal(hex(store.hashAt(16, 0)), hex(ref.hashAt(16, 0)));
    assert.throws(() => store.readTile(1, 1, 18), RangeError);
    assert.throws(() => store.readTile(2, 0, 2), RangeError);
    assert.throws(() => store.readTile(3, 0, 1), RangeError);
  });

  it("stores one row per tile: full tiles with their interior, partial ones as the tile prefix", () => {
    const rows = db
      .prepare("SELECT level, idx, length(hashes) AS bytes FROM tlog_tiles ORDER BY id")
      .all() as { level: number; idx: number; bytes: number }[];
    assert.equal(rows.length, 274 + 2 + 1);
    assert.deepEqual(rows.at(-1), { level: 2, idx: 0, bytes: 32 });
    assert.deepEqual(rows[273], { level: 0, idx: 273, bytes: 112 * 32 });
    assert.deepEqual(rows[275], { level: 1, idx: 1, bytes: 17 * 32 });
    assert.ok(rows.filter((r) => r.bytes === FULL_TILE_BYTES).length === 274);
    // Interior layout: in-tile level 1 starts at hash 256, level 7 at 508.
    const blob = db.prepare("SELECT hashes FROM tlog_tiles WHERE id = ?").pluck().get(tileId(0, 5)) as Buffer;
    assert.equal(hex(blob.subarray(nodePos(1, 3) * 32, nodePos(1, 4) * 32)), hex(ref.hashAt(1, 5 * 128 + 3)));
    assert.equal(hex(blob.subarray(nodePos(7, 1) * 32, nodePos(7, 2) * 32)), hex(ref.hashAt(7, 5 * 2 + 1)));
    assert.equal(nodePos(1, 0), 256);
    assert.equal(nodePos(7, 1), 509);
  });

  it("streams and slices the stored leaf hashes", () => {
    let i = 0;
    for (const h of store.iterateLeafHashes()) assert.equal(hex(h), hex(leaves[i++]!));
    assert.equal(i, total);
    assert.equal([...store.iterateLeafHashes(300)].length, 300);
    assert.deepEqual(store.leafHashes(250, 70_000).map(hex), leaves.slice(250).map(hex));
    assert.deepEqual(store.leafHashes(65_530, 65_540).map(hex), leaves.slice(65_530, 65_540).map(hex));
    assert.deepEqual(store.leafHashes(7, 7), []);
    assert.throws(() => store.leafHashes(0, total + 1), RangeError);
    assert.throws(() => store.leafHashes(9, 8), RangeError);
    assert.throws(() => [...store.iterateLeafHashes(total + 1)], RangeError);
  });

  it("audits the whole tree and recomputes its root", () => {
    const res = store.audit();
    assert.equal(res.mismatch, undefined);
    assert.equal(res.size, total);
    assert.equal(hex(res.root), hex(ref.root()));
    assert.equal(hex(store.recomputeRoot(65_537)), hex(ref.root(65_537)));
  });
});

describe("TileStore append-only storage and audit", () => {
  /** A fresh file with 600 leaves: tiles 0/0 and 0/1 full, 0/2 of 88, 1/0 of 2. */
  function logOf600(): { db: Database.Database; store: TileStore; ref: MemoryTree } {
    const { db } = openDb();
    const store = new TileStore(db);
    const ref = new MemoryTree();
    db.transaction(() => store.append(LEAVES.slice(0, 600)))();
    for (const lh of LEAVES.slice(0, 600)) ref.append(lh);
    return { db, store, ref };
  }

  it("refuses a delete, a replace, a shrink and any update that does not extend the tile", () => {
    const { db, store } = logOf600();
    const partial = tileId(0, 2);
    const old = db.prepare("SELECT hashes FROM tlog_tiles WHERE id = ?").pluck().get(partial) as Buffer;
    const zero = Buffer.alloc(32);
    const update = (hashes: Buffer) => () =>
      db.prepare("UPDATE tlog_tiles SET hashes = ? WHERE id = ?").run(hashes, partial);
    const refused: [string, () => unknown][] = [
      ["delete", () => db.prepare("DELETE FROM tlog_tiles WHERE id = ?").run(tileId(0, 0))],
      [
        "replace",
        () => db.prepare("INSERT OR REPLACE INTO tlog_tiles (id, hashes) VALUES (?, ?)").run(partial, zero),
      ],
      ["shrink", update(old.subarray(0, 32))],
      ["rewrite with the same bytes", update(old)],
      ["same length", update(Buffer.concat([zero, old.subarray(32)]))],
      ["longer, not a prefix", update(Buffer.concat([zero, old]))],
      ["move", () => db.prepare("UPDATE tlog_tiles SET id = ? WHERE id = ?").run(tileId(0, 9), partial)],
    ];
    for (const [what, run] of refused) assert.throws(run, /append-only/, what);
    assert.equal(store.audit().mismatch, undefined);
    assert.equal(hex(store.readTile(0, 2, 88)), hex(old));
    // Growing a tile is allowed by the schema; the store notices it does not match the stored root.
    update(Buffer.concat([old, zero]))();
    assert.throws(() => new TileStore(db).size(), /tile 0\/2 does not hold 88 hashes/);
    db.close();
  });

  it("keys tiles by level·2^48 + index, exact beyond 2^32", () => {
    const { db } = openDb();
    const id = tileId(5, 2 ** 40 + 7);
    assert.equal(id, 5 * 2 ** 48 + 2 ** 40 + 7);
    db.prepare("INSERT INTO tlog_tiles (id, hashes) VALUES (?, ?)").run(id, Buffer.alloc(64));
    const row = db.prepare("SELECT level, idx FROM tlog_tiles WHERE id = ?").get(id);
    assert.deepEqual(row, { level: 5, idx: 2 ** 40 + 7 });
    assert.throws(() =>
      db.prepare("INSERT INTO tlog_tiles (id, hashes) VALUES (1, ?)").run(Buffer.alloc(33)),
    );
    assert.throws(() =>
      db.prepare("INSERT INTO tlog_tiles (id, hashes) VALUES (1, ?)").run(Buffer.alloc(8192)),
    );
    db.close();
  });

  it("names a modified leaf hash in a full tile by its leaf pair", () => {
    for (const leaf of [258, 259]) {
      const { db, store, ref } = logOf600();
      db.exec(DROP_TRIGGERS);
      tamper(db, 0, 1, leaf - 256, LEAVES[2999]!);
      assert.deepEqual(store.audit().mismatch, { level: 0, index: 258, reason: "modified" });
      assert.equal(store.audit(256).mismatch, undefined, "the tree of size 256 does not contain it");
      assert.notEqual(hex(store.recomputeRoot()), hex(ref.root()));
      db.close();
    }
  });

  it("names a modified interior hash, and still recomputes the true root from the leaves", () => {
    const cases: [pos: number, tile: number, expected: { level: number; index: number }][] = [
      [nodePos(1, 5), 0, { level: 1, index: 5 }],
      [nodePos(3, 2), 1, { level: 3, index: 32 + 2 }],
      [nodePos(7, 1), 1, { level: 7, index: 3 }],
    ];
    for (const [pos, n, expected] of cases) {
      const { db, store, ref } = logOf600();
      db.exec(DROP_TRIGGERS);
      tamper(db, 0, n, pos, LEAVES[2999]!);
      const res = store.audit();
      assert.deepEqual(res.mismatch, { ...expected, reason: "modified" });
      assert.equal(hex(res.root), hex(ref.root()));
      db.close();
    }
  });

  it("names a modified upper-tile hash", () => {
    const { db, store, ref } = logOf600();
    db.exec(DROP_TRIGGERS);
    tamper(db, 1, 0, 1, LEAVES[2999]!); // = hash (8, 1), the root of tile 0/1
    assert.deepEqual(store.audit().mismatch, { level: 8, index: 1, reason: "modified" });
    assert.equal(store.audit(511).mismatch, undefined);
    assert.equal(hex(store.recomputeRoot()), hex(ref.root()));
    db.close();
  });

  it("names a missing tile, and the leaf streams name it too", () => {
    const { db, store } = logOf600();
    db.exec(`${DROP_TRIGGERS} DELETE FROM tlog_tiles WHERE id = ${tileId(0, 1)};`);
    assert.deepEqual(store.audit().mismatch, { level: 0, index: 256, reason: "missing" });
    assert.equal(store.audit(256).mismatch, undefined);
    assert.throws(() => [...store.iterateLeafHashes()], /tile 0\/1 is missing/);
    assert.throws(() => new TileStore(db).leafHashes(250, 260), /tile 0\/1/);
    assert.throws(() => new TileStore(db).inclusionProof(300), /tile 0\/1/);
    db.exec(`DELETE FROM tlog_tiles WHERE id = ${tileId(1, 0)}`);
    assert.deepEqual(new TileStore(db).audit(256).mismatch, { level: 8, index: 0, reason: "missing" });
    db.close();
  });

  it("detects a modified leaf of the rightmost tile by its root, even when the edge no longer loads", () => {
    const { db, ref } = logOf600();
    db.exec(DROP_TRIGGERS);
    tamper(db, 0, 2, 20, LEAVES[2999]!); // leaf 532: no stored interior covers it yet
    assert.throws(() => new TileStore(db).size(), /right edge does not match the stored root/);
    const fresh = new TileStore(db);
    const res = fresh.audit();
    assert.equal(res.size, 600);
    assert.notEqual(hex(res.root), hex(ref.root()));
    assert.equal(hex(fresh.recomputeRoot(532)), hex(ref.root(532)));
    assert.equal([...fresh.iterateLeafHashes()].length, 600);
    db.close();
  });
});
