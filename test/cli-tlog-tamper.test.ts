import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { TileStore } from "../src/batcher/tlog/tile-store.js";
import { base64Decode, base64Encode } from "../src/batcher/verifier/base64.js";
import { EMPTY_ROOT } from "../src/batcher/verifier/merkle.js";
import { cli, fillLog, writeConfig } from "./batcher/tlog-fixture.js";
import { tempDir } from "./helpers/gateway.js";

const mkdir = (dir: string) => {
  mkdirSync(dir, { recursive: true });
  return dir;
};

/** Tamper tests on a real SQLite file: each case tampers a fresh copy of one gateway's state. */
describe("tlog tamper evidence: audit and verify name the reading", () => {
  const root = tempDir("vitalog-tlog-tamper-");
  let base: string;
  let ids: string[];
  let vkey: string;
  let n = 0;
  after(() => rmSync(root, { recursive: true, force: true }));

  before(async () => {
    base = join(root, "base");
    const configFile = writeConfig(mkdir(base), ["tlog: { checkpointIntervalSec: 0.05 }"]);
    const filled = await fillLog(configFile, ["pt-a", "pt-b"], 20);
    ids = filled.ids.get("pt-a")!;
    vkey = (await cli(["keys", "show", "--config", configFile])).stdout.trim();
    const audit = await cli(["audit", "--config", configFile]);
    assert.equal(audit.code, 0, audit.stdout + audit.stderr);
  });

  /** A fresh copy of the base state (append-only triggers dropped); `tamper` gets the database. */
  function copy(tamper: (db: Database.Database) => void): string {
    const dir = join(root, `case-${n++}`);
    cpSync(join(base, "state"), join(dir, "state"), { recursive: true });
    const configFile = writeConfig(dir);
    const db = new Database(join(dir, "state", "vitalog.db"));
    const triggers = db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").pluck().all();
    for (const t of triggers as string[]) db.exec(`DROP TRIGGER ${t}`);
    tamper(db);
    db.close();
    return configFile;
  }

  /** Rewrites the stored tree as the tree of `leaves` (what an attacker with the file can do). */
  function rewriteTree(db: Database.Database, edit: (leaves: Uint8Array[]) => Uint8Array[]): void {
    const tiles = new TileStore(db);
    const leaves = edit(tiles.leafHashes(0, tiles.size()).map((h) => Uint8Array.from(h)));
    db.exec("DELETE FROM tlog_tiles");
    db.prepare("UPDATE tlog_state SET size = 0, root = ? WHERE id = 1").run(EMPTY_ROOT);
    const fresh = new TileStore(db);
    db.transaction(() => fresh.append(leaves))();
  }

  async function audit(configFile: string) {
    const r = await cli(["audit", "--config", configFile, "--json"]);
    assert.equal(r.code, 70, `audit must fail: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout) as {
      findings: { kind: string; ref: string | null; leafIndex: number | null; detail: string }[];
    };
  }

  const leafOf = (db: Database.Database, id: string) =>
    db.prepare("SELECT leaf_index FROM readings WHERE id = ?").pluck().get(id) as number;
  const swapLeafIndexes = (db: Database.Database, x: string, y: string) => {
    const [i, j] = [leafOf(db, x), leafOf(db, y)];
    db.prepare("UPDATE readings SET leaf_index = ? WHERE id = ?").run(j, x);
    db.prepare("UPDATE readings SET leaf_index = ? WHERE id = ?").run(i, y);
    return [i, j] as const;
  };

  it("one byte of a sealed event record changed: audit names the event modified, proof refuses", async () => {
    let id = "";
    const cfg = copy((db) => {
      const row = db.prepare("SELECT ref, sealed FROM tlog_records LIMIT 1").get() as {
        ref: string;
        sealed: Buffer;
      };
      id = row.ref;
      row.sealed[40]! ^= 0x01;
      db.prepare("UPDATE tlog_records SET sealed = ? WHERE ref = ?").run(row.sealed, id);
    });
    const report = await audit(cfg);
    // the first record is the start-up event naming the durable alert sinks: the row that says which set was
    // logged last loses its evidence with it
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref]),
      [
        ["modified", id],
        ["rules_in_force_mismatch", "alert_outbox_sinks"],
      ],
    );
    const proof = await cli(["proof", id, "--config", cfg]);
    assert.equal(proof.code, 70);
    assert.match(proof.stderr, new RegExp(`event ${id}.*modified`));
  });

  it("one byte of a stored reading changed: audit names the reading, proof refuses", async () => {
    const id = ids[7]!;
    const cfg = copy((db) => db.prepare("UPDATE readings SET value = value + 1 WHERE id = ?").run(id));
    const report = await audit(cfg);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref]),
      [["modified", id]],
    );
    assert.match(report.findings[0]!.detail, /does not match the tree's leaf hash/);
    const proof = await cli(["proof", id, "--config", cfg]);
    assert.equal(proof.code, 70);
    assert.match(proof.stderr, new RegExp(`reading ${id}.*modified`));
  });

  it("a stored leaf hash changed: audit names the reading and the broken checkpoints", async () => {
    const id = ids[2]!;
    const cfg = copy((db) =>
      rewriteTree(db, (leaves) => {
        leaves[leafOf(db, id)]![0]! ^= 0x80;
        return leaves;
      }),
    );
    const findings = (await audit(cfg)).findings;
    assert.deepEqual(
      findings.filter((f) => f.ref === id).map((f) => f.kind),
      ["modified"],
    );
    assert.ok(
      findings.some((f) => f.kind === "checkpoint"),
      "the stored tree no longer matches a checkpoint",
    );
  });

  it("a reading row deleted: audit names it deleted, proof has nothing to prove", async () => {
    const id = ids[5]!;
    const cfg = copy((db) => db.prepare("DELETE FROM readings WHERE id = ?").run(id));
    const report = await audit(cfg);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref]),
      [["deleted", id]],
    );
    assert.equal((await cli(["proof", id, "--config", cfg])).code, 1);
  });

  it("a reading row and its entry in the log's map of leaves removed: audit names the leaf", async () => {
    const id = ids[9]!;
    let leaf = -1;
    const cfg = copy((db) => {
      leaf = leafOf(db, id);
      const batch = db
        .prepare(
          "SELECT first_leaf, ids FROM tlog_reading_ids WHERE first_leaf <= ? ORDER BY first_leaf DESC",
        )
        .get(leaf) as { first_leaf: number; ids: string };
      const list = batch.ids.split(",");
      list[leaf - batch.first_leaf] = "";
      db.prepare("UPDATE tlog_reading_ids SET ids = ? WHERE first_leaf = ?").run(
        list.join(","),
        batch.first_leaf,
      );
      db.prepare("DELETE FROM readings WHERE id = ?").run(id);
    });
    const report = await audit(cfg);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.leafIndex]),
      [["deleted", leaf]],
    );
  });

  it("a reading inserted behind the gateway's back: audit names it inserted", async () => {
    const cfg = copy((db) =>
      db
        .prepare(
          `INSERT INTO readings (id, device_id, subject_id, device_seq, kind, loinc, value, unit, device_time_ms,
             observed_at_ms, received_at_ms, flags, mdc) VALUES ('01FAKE00000000000000000000','dev-0','pt-a',999,'heart_rate','8867-4',61,'/min',1,1,1,'',NULL)`,
        )
        .run(),
    );
    const report = await audit(cfg);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref]),
      [["inserted", "01FAKE00000000000000000000"]],
    );
  });

  it("two readings' leaf indexes swapped: audit names both reordered", async () => {
    const [x, y] = [ids[3]!, ids[11]!];
    const cfg = copy((db) => swapLeafIndexes(db, x, y));
    const report = await audit(cfg);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref]).sort(),
      [
        ["reordered", x],
        ["reordered", y],
      ].sort(),
    );
  });

  it("two readings swapped in the tree too (rows and leaf hashes): audit names both", async () => {
    const [x, y] = [ids[0]!, ids[1]!];
    const cfg = copy((db) => {
      const [i, j] = swapLeafIndexes(db, x, y);
      rewriteTree(db, (leaves) => {
        [leaves[i], leaves[j]] = [leaves[j]!, leaves[i]!];
        return leaves;
      });
    });
    const report = await audit(cfg);
    const named = report.findings.filter((f) => f.ref !== null).map((f) => [f.kind, f.ref]);
    assert.deepEqual(
      named.sort(),
      [
        ["reordered", x],
        ["reordered", y],
      ].sort(),
    );
    assert.ok(report.findings.some((f) => f.kind === "checkpoint"));
  });

  it("the tree truncated: audit names every reading cut off, proof refuses", async () => {
    let cut: string[] = [];
    const keep = 25;
    const cfg = copy((db) => {
      rewriteTree(db, (leaves) => leaves.slice(0, keep));
      cut = db.prepare("SELECT id FROM readings WHERE leaf_index >= ?").pluck().all(keep) as string[];
    });
    const report = await audit(cfg);
    const deleted = new Set(report.findings.filter((f) => f.kind === "deleted").map((f) => f.ref));
    assert.ok(cut.length > 5);
    for (const id of cut) assert.ok(deleted.has(id), `${id} named`);
    assert.ok(report.findings.some((f) => f.kind === "checkpoint" && /truncated/.test(f.detail)));
    const proof = await cli(["proof", cut[0]!, "--config", cfg]);
    assert.equal(proof.code, 70);
    assert.match(proof.stderr, new RegExp(cut[0]!));
  });

  it("verify names the reading and the first failing step of a tampered bundle", async () => {
    const cfg = join(base, "vitalog.yaml");
    const id = ids[6]!;
    const good = JSON.parse((await cli(["proof", id, "--config", cfg])).stdout);
    const check = async (bundle: unknown, step: string | null, alt?: string) => {
      const file = join(root, `bundle-${n++}.json`);
      writeFileSync(file, JSON.stringify(bundle));
      const r = await cli(["verify", file, "--vkey", vkey, "--json"]);
      const verdict = JSON.parse(r.stdout);
      if (alt === undefined || verdict.failed_step !== alt) assert.equal(verdict.failed_step, step, r.stdout);
      assert.equal(verdict.reading_id, id);
      assert.equal(r.code, step === null ? 0 : 1);
    };
    await check(good, null);
    const clone = () => JSON.parse(JSON.stringify(good));
    const changedValue = clone();
    changedValue.opening.record = changedValue.opening.record.replace(
      /"value":(\d+)/,
      (_: string, v: string) => `"value":${Number(v) + 1}`,
    );
    await check(changedValue, "inclusion");
    const changedSalt = clone();
    const salt = base64Decode(changedSalt.opening.salt);
    salt[0]! ^= 1;
    changedSalt.opening.salt = base64Encode(salt);
    await check(changedSalt, "inclusion");
    const otherIndex = clone();
    otherIndex.tlog_proof = otherIndex.tlog_proof.replace(
      /^index (\d+)$/m,
      (_: string, v: string) => `index ${Number(v) + 1}`,
    );
    await check(otherIndex, "inclusion");
    const shortProof = clone();
    shortProof.tlog_proof = shortProof.tlog_proof.replace(/\nindex (\d+)\n[^\n]+\n/, "\nindex $1\n");
    await check(shortProof, "inclusion");
    const biggerTree = clone();
    biggerTree.tlog_proof = biggerTree.tlog_proof.replace(
      /\n(\d+)\n([A-Za-z0-9+/=]{44})\n\n/,
      (_: string, s: string, r: string) => `\n${Number(s) + 1}\n${r}\n\n`,
    );
    // a proof may verify for size n+1 too (reference §1.6): then the signature over the size catches it
    await check(biggerTree, "inclusion", "checkpoint_signature");
    const otherId = clone();
    otherId.reading_id = ids[8];
    const r = await cli(["verify", writeTmp(otherId), "--vkey", vkey]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`INVALID: reading ${ids[8]}: step opening`));
    // unusable input → exit 2
    assert.equal((await cli(["verify", writeTmp("not json"), "--vkey", vkey])).code, 2);
    assert.equal((await cli(["verify", writeTmp(good), "--vkey", "garbage"])).code, 2);
    // a key the auditor does not trust
    const other = readFileSync(writeTmp(good), "utf8");
    const otherVkey = vkey.replace(/\+[0-9a-f]{8}\+/, "+00000000+");
    assert.equal((await cli(["verify", writeTmp(JSON.parse(other)), "--vkey", otherVkey])).code, 2);
  });

  function writeTmp(content: unknown): string {
    const file = join(root, `bundle-${n++}.json`);
    writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
    return file;
  }
});
