import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { bytesToHex } from "@noble/hashes/utils.js";
import Database from "better-sqlite3";
import { MemoryTree } from "../../src/batcher/memory-tree.js";
import { EMPTY_ROOT } from "../../src/batcher/merkle.js";
import { verifyConsistency, verifyInclusion } from "../../src/batcher/merkle-verify.js";
import { TILE_STORE_MIGRATION, TileStore } from "../../src/batcher/tile-store.js";
import { rightEdgeTiles } from "../../src/batcher/tiles.js";
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

describe("TileStore on a real SQLite file", () => {
  it("starts empty with the empty-tree root", () => {
    const { db } = openDb();
    const store = new TileStore(db);
    assert.equal(store.size(), 0);
    assert.equal(hex(store.root()), hex(EMPTY_ROOT));
    db.close();
  });

  it("refuses to append outside a transaction", () => {
    const { db } = openDb();
    assert.throws(() => new TileStore(db).append([LEAVES[0]!]), TypeError);
    db.close();
  });

  it("matches the in-memory reference root after every batch, and for every earlier size", () => {
    const { db } = openDb();
    const store = new TileStore(db);
    const ref = new MemoryTree();
    const batches = [1, 2, 1, 5, 7, 16, 33, 100, 255, 256, 257, 1, 511, 600];
    let at = 0;
    for (const count of batches) {
      const batch = LEAVES.slice(at, at + count);
      const res = db.transaction(() => store.append(batch))();
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
    db.close();
  });

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

  it("enforces append-only storage and names a modified or missing hash in the audit", () => {
    const { db } = openDb();
    const store = new TileStore(db);
    db.transaction(() => store.append(LEAVES.slice(0, 64)))();
    assert.throws(
      () => db.prepare("UPDATE tlog_hashes SET hash = zeroblob(32) WHERE id = 5").run(),
      /append-only/,
    );
    assert.throws(() => db.prepare("DELETE FROM tlog_hashes WHERE id = 5").run(), /append-only/);
    // An attacker with file access can drop the triggers: the audit still finds the change.
    db.exec("DROP TRIGGER tlog_hashes_append_only_update; DROP TRIGGER tlog_hashes_append_only_delete;");
    db.prepare("UPDATE tlog_hashes SET hash = ? WHERE id = 3").run(LEAVES[99]!); // leaf 2
    // Leaf 2 feeds parent (1, 1) = H(leaf 2, leaf 3), stored at id 5: the first hash that disagrees.
    assert.deepEqual(store.audit().mismatch, { level: 1, index: 1, reason: "modified" });
    assert.equal(store.audit(2).mismatch, undefined, "the tree of size 2 does not contain leaf 2");
    assert.notEqual(hex(store.recomputeRoot()), hex(store.root()));

    const other = openDb();
    const store2 = new TileStore(other.db);
    other.db.transaction(() => store2.append(LEAVES.slice(0, 64)))();
    other.db.exec("DROP TRIGGER tlog_hashes_append_only_delete; DELETE FROM tlog_hashes WHERE id = 10;"); // leaf 6
    assert.deepEqual(store2.audit().mismatch, { level: 0, index: 6, reason: "missing" });
    assert.equal(store2.audit(6).mismatch, undefined);
    other.db.close();
    db.close();
  });
});
