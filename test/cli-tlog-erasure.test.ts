import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { openTlogForCli } from "../src/batcher/tlog/open-tlog.js";
import { loadConfig } from "../src/config.js";
import { cli, fillLog, writeConfig } from "./batcher/tlog-fixture.js";
import { tempDir } from "./helpers/gateway.js";

describe("tlog erasure (crypto-shredding) on a real SQLite file", () => {
  const dir = tempDir("vitalog-tlog-erase-");
  after(() => process.env.KEEP || rmSync(dir, { recursive: true, force: true }));

  it("after erasing subject A, A's openings are gone, B's bundles verify and audit passes", async () => {
    mkdirSync(dir, { recursive: true });
    const cfg = writeConfig(dir, ["tlog: { checkpointIntervalSec: 0.05 }"]);
    const { ids } = await fillLog(cfg, ["subject-alpha", "subject-beta"], 15);
    const vkey = (await cli(["keys", "show", "--config", cfg])).stdout.trim();
    const bundle = async (id: string) => {
      const r = await cli(["proof", id, "--config", cfg]);
      const file = join(dir, `${id}.json`);
      writeFileSync(file, r.stdout);
      return { code: r.code, file, stderr: r.stderr };
    };
    const a = ids.get("subject-alpha")!;
    const b = ids.get("subject-beta")!;
    const bBefore = await bundle(b[3]!);
    assert.equal(bBefore.code, 0);

    // a device still bound to the subject blocks the erasure
    const add = await cli([
      "devices",
      "add",
      "--config",
      cfg,
      "--id",
      "wear-a",
      "--subject",
      "subject-alpha",
    ]);
    assert.equal(add.code, 0, add.stderr);
    const blocked = await cli(["subjects", "erase", "subject-alpha", "--config", cfg, "--yes"]);
    assert.equal(blocked.code, 1);
    assert.match(blocked.stderr, /still bound/);
    assert.equal((await cli(["devices", "remove", "--config", cfg, "--id", "wear-a"])).code, 0);
    assert.equal(
      (await cli(["subjects", "erase", "subject-alpha", "--config", cfg])).code,
      64,
      "needs --yes",
    );

    const erased = await cli(["subjects", "erase", "subject-alpha", "--config", cfg, "--yes"]);
    assert.equal(erased.code, 0, erased.stderr);
    const result = JSON.parse(erased.stdout);
    assert.ok(result.records_shredded >= a.length, erased.stdout);
    assert.equal(result.readings_deleted, a.length);

    // A: nothing left to open
    for (const id of [a[0]!, a[7]!]) {
      const r = await bundle(id);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /SUBJECT_ERASED/);
    }
    assert.equal((await cli(["readings", "--config", cfg, "--subject", "subject-alpha"])).stdout, "");
    assert.equal(
      (await cli(["subjects", "erase", "subject-alpha", "--config", cfg, "--yes"])).code,
      1,
      "already erased",
    );
    // the subject id is gone from the database file (secure_delete + WAL truncated)
    const state = join(dir, "state");
    const bytes = readFileSync(join(state, "vitalog.db"));
    assert.equal(
      bytes.includes(Buffer.from("subject-alpha")),
      false,
      "no copy of the subject id in the file",
    );

    // B: old and new bundles verify; the tree is unchanged up to the old checkpoint
    assert.equal((await cli(["verify", bBefore.file, "--vkey", vkey])).code, 0);
    const bAfter = await bundle(b[9]!);
    assert.equal(bAfter.code, 0, bAfter.stderr);
    assert.equal((await cli(["verify", bAfter.file, "--vkey", vkey])).code, 0);

    // the erasure is an auditable event, and audit accepts the shredded openings because of it
    const audit = await cli(["audit", "--config", cfg, "--json"]);
    assert.equal(audit.code, 0, audit.stdout);
    const report = JSON.parse(audit.stdout);
    assert.ok(report.erased >= a.length);
    const db = new Database(join(state, "vitalog.db"), { readonly: true });
    const ev = db.prepare("SELECT ref FROM tlog_records WHERE ref = ?").get(result.event_id);
    db.close();
    assert.ok(ev, "subject_erased event is in the log");
    // a reading made to look erased without a logged erasure (entry kept, row deleted) would be named
    const tlog = openTlogForCli(loadConfig(cfg));
    const real = tlog.records.openings.byRef(b[1]!); // the true entry: only the erasure event is missing
    const keyId = tlog.records.keys.existingKeyFor("subject-beta")!.keyId;
    tlog.db
      .prepare("INSERT INTO tlog_erased (leaf_index, ref, key_id, entry) VALUES (?, ?, ?, ?)")
      .run(real.leafIndex, b[1]!, keyId, real.entry);
    tlog.db.prepare("DELETE FROM readings WHERE id = ?").run(b[1]!);
    tlog.close();
    const audit2 = await cli(["audit", "--config", cfg, "--json"]);
    assert.equal(audit2.code, 70);
    assert.deepEqual(
      JSON.parse(audit2.stdout).findings.map((f: { ref: string }) => f.ref),
      [b[1]],
    );
  });
});
