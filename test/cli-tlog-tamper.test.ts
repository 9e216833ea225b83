import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { base64Decode, base64Encode } from "../src/batcher/base64.js";
import { storedIndex, TileStore } from "../src/batcher/tile-store.js";
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

  /** A fresh copy of the base state; `tamper` gets the database and returns nothing. */
  function copy(tamper: (db: Database.Database) => void): string {
    const dir = join(root, `case-${n++}`);
    cpSync(join(base, "state"), join(dir, "state"), { recursive: true });
    const configFile = writeConfig(dir);
    const db = new Database(join(dir, "state", "vitalog.db"));
    for (const t of [
      "tlog_records_no_delete",
      "tlog_records_only_shred",
      "tlog_hashes_append_only_update",
      "tlog_hashes_append_only_delete",
    ]) {
      db.exec(`DROP TRIGGER ${t}`);
    }
    tamper(db);
    db.close();
    return configFile;
  }

  async function audit(configFile: string) {
    const r = await cli(["audit", "--config", configFile, "--json"]);
    assert.equal(r.code, 70, `audit must fail: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout) as { findings: { kind: string; ref: string | null; detail: string }[] };
  }

  const leafOf = (db: Database.Database, id: string) =>
    db.prepare("SELECT leaf_index FROM tlog_records WHERE ref = ?").pluck().get(id) as number;

  it("one byte of a sealed record changed: audit names it modified, proof refuses", async () => {
    const id = ids[4]!;
    const cfg = copy((db) => {
      const sealed = db.prepare("SELECT sealed FROM tlog_records WHERE ref = ?").pluck().get(id) as Buffer;
      sealed[40]! ^= 0x01;
      db.prepare("UPDATE tlog_records SET sealed = ? WHERE ref = ?").run(sealed, id);
    });
    const report = await audit(cfg);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref]),
      [["modified", id]],
    );
    const proof = await cli(["proof", id, "--config", cfg]);
    assert.equal(proof.code, 70);
    assert.match(proof.stderr, new RegExp(`reading ${id}.*modified`));
  });

  it("one byte of a stored reading changed: audit names the reading and the field", async () => {
    const id = ids[7]!;
    const cfg = copy((db) => db.prepare("UPDATE readings SET value = value + 1 WHERE id = ?").run(id));
    const report = await audit(cfg);
    assert.equal(report.findings.length, 1);
    assert.equal(report.findings[0]!.kind, "modified");
    assert.equal(report.findings[0]!.ref, id);
    assert.match(report.findings[0]!.detail, /value/);
  });

  it("a committed entry changed: audit names the reading", async () => {
    const id = ids[2]!;
    const cfg = copy((db) => {
      const entry = db.prepare("SELECT entry FROM tlog_records WHERE ref = ?").pluck().get(id) as Buffer;
      entry[0]! ^= 0x80;
      db.prepare("UPDATE tlog_records SET entry = ? WHERE ref = ?").run(entry, id);
    });
    const kinds = (await audit(cfg)).findings.filter((f) => f.ref === id).map((f) => f.kind);
    assert.ok(kinds.includes("modified"), JSON.stringify(kinds));
  });

  it("a reading row deleted: audit names it deleted; its log record still proves it", async () => {
    const id = ids[5]!;
    const cfg = copy((db) => db.prepare("DELETE FROM readings WHERE id = ?").run(id));
    const report = await audit(cfg);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref]),
      [["deleted", id]],
    );
    assert.equal((await cli(["proof", id, "--config", cfg])).code, 0);
  });

  it("a log record deleted: audit names the reading, proof has nothing to prove", async () => {
    const id = ids[9]!;
    const cfg = copy((db) => db.prepare("DELETE FROM tlog_records WHERE ref = ?").run(id));
    const report = await audit(cfg);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref]),
      [["deleted", id]],
    );
    assert.equal((await cli(["proof", id, "--config", cfg])).code, 1);
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

  it("two log rows swapped: audit names both readings reordered", async () => {
    const [x, y] = [ids[3]!, ids[11]!];
    const cfg = copy((db) => {
      const [i, j] = [leafOf(db, x), leafOf(db, y)];
      db.prepare("UPDATE tlog_records SET leaf_index = -1 WHERE leaf_index = ?").run(i);
      db.prepare("UPDATE tlog_records SET leaf_index = ? WHERE leaf_index = ?").run(i, j);
      db.prepare("UPDATE tlog_records SET leaf_index = ? WHERE leaf_index = -1").run(j);
    });
    const report = await audit(cfg);
    const reordered = report.findings
      .filter((f) => f.kind === "reordered")
      .map((f) => f.ref)
      .sort();
    assert.deepEqual(reordered, [x, y].sort());
    assert.ok(
      report.findings.some((f) => f.kind === "checkpoint"),
      "the recomputed tree no longer matches the checkpoint",
    );
  });

  it("two readings swapped in the tree too (records and leaf hashes): audit names both", async () => {
    const [x, y] = [ids[0]!, ids[1]!];
    const cfg = copy((db) => {
      const [i, j] = [leafOf(db, x), leafOf(db, y)];
      const h = (k: number) =>
        db.prepare("SELECT hash FROM tlog_hashes WHERE id = ?").pluck().get(storedIndex(0, k)) as Buffer;
      const [hi, hj] = [h(i), h(j)];
      db.prepare("UPDATE tlog_hashes SET hash = ? WHERE id = ?").run(hj, storedIndex(0, i));
      db.prepare("UPDATE tlog_hashes SET hash = ? WHERE id = ?").run(hi, storedIndex(0, j));
      db.prepare("UPDATE tlog_records SET leaf_index = -1 WHERE leaf_index = ?").run(i);
      db.prepare("UPDATE tlog_records SET leaf_index = ? WHERE leaf_index = ?").run(i, j);
      db.prepare("UPDATE tlog_records SET leaf_index = ? WHERE leaf_index = -1").run(j);
    });
    const report = await audit(cfg);
    const named = new Set(report.findings.map((f) => f.ref));
    assert.ok(named.has(x) && named.has(y), JSON.stringify(report.findings));
    assert.ok(report.findings.some((f) => f.kind === "checkpoint"));
  });

  it("the tree truncated: audit names every reading cut off, proof refuses", async () => {
    let cut: string[] = [];
    const cfg = copy((db) => {
      const tiles = new TileStore(db);
      const keep = 25;
      const newRoot = tiles.rootAt(keep);
      db.prepare("DELETE FROM tlog_hashes WHERE id >= ?").run(storedIndex(0, keep));
      db.prepare("UPDATE tlog_state SET size = ?, root = ? WHERE id = 1").run(keep, newRoot);
      cut = db
        .prepare("SELECT ref FROM tlog_records WHERE leaf_index >= ? AND type = 'reading'")
        .pluck()
        .all(keep) as string[];
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
