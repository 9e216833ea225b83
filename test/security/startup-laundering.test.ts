import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { cli, fillLog, writeConfig } from "../batcher/tlog-fixture.js";
import { spawnGateway, waitExit } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";

const FORGED = "01FORGED0000000000000000AA";

interface AuditJson {
  ok: boolean;
  treeSize: number;
  findings: { kind: string; ref: string | null; leafIndex: number | null }[];
  adoptions: {
    eventId: string;
    leafIndex: number;
    atMs: number;
    count: number;
    firstLeaf: number;
    lastLeaf: number;
    by: string;
    reason: string;
  }[];
}

/**
 * Someone with the gateway's database file (but none of its keys) inserts a reading while the gateway is
 * stopped, hoping the next start puts it into the signed log. The gateway must leave it out; `audit`
 * keeps naming it; only an operator's explicit, logged adoption can put it in.
 */
describe("start-up laundering: a reading forged into a stopped gateway's database never enters the log by itself", () => {
  const dir = tempDir("vitalog-laundering-");
  const dbFile = join(dir, "state", "vitalog.db");
  let configFile: string;
  after(() => rmSync(dir, { recursive: true, force: true }));

  const leafOf = (id: string) => {
    const db = new Database(dbFile, { readonly: true });
    try {
      return db.prepare("SELECT leaf_index FROM readings WHERE id = ?").pluck().get(id) as
        | number
        | null
        | undefined;
    } finally {
      db.close();
    }
  };

  async function audit(expectedCode: number): Promise<AuditJson> {
    const r = await cli(["audit", "--config", configFile, "--json"]);
    assert.equal(r.code, expectedCode, r.stdout + r.stderr);
    return JSON.parse(r.stdout) as AuditJson;
  }

  before(async () => {
    configFile = writeConfig(dir, ["tlog: { checkpointIntervalSec: 0.05 }"]);
    // the child gateway's log must show what it did at start-up (and its "ready" line)
    writeFileSync(configFile, readFileSync(configFile, "utf8").replace("level: silent", "level: info"));
    await fillLog(configFile, ["pt-a"], 5);
    assert.equal((await audit(0)).findings.length, 0);
    // the forgery: a plausible reading row without a leaf, written straight into the stopped gateway's file
    const db = new Database(dbFile);
    db.prepare(
      `INSERT INTO readings (id, device_id, subject_id, device_seq, kind, loinc, value, unit, device_time_ms,
         observed_at_ms, received_at_ms, flags, mdc) VALUES (?, 'dev-0', 'pt-a', 99, 'heart_rate', '8867-4',
         61, '/min', 1763700900000, 1763700900000, 1763700900100, '', NULL)`,
    ).run(FORGED);
    db.close();
  });

  it("audit names the forged reading inserted before any restart", async () => {
    const report = await audit(70);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref]),
      [["inserted", FORGED]],
    );
  });

  it("vitalog run leaves it out of the log, warns about it, and audit still names it", async () => {
    const { child, output } = await spawnGateway(configFile);
    try {
      assert.match(output(), /readings without a log leaf found/);
      assert.doesNotMatch(output(), /readings stored before the log was enabled appended/);
    } finally {
      child.kill("SIGTERM");
    }
    assert.deepEqual(await waitExit(child), { code: 0, signal: null });
    assert.equal(leafOf(FORGED), null);
    const report = await audit(70);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref]),
      [["inserted", FORGED]],
    );
  });

  it("a restart that ingests new readings and signs a checkpoint over them still leaves it out", async () => {
    const { ids } = await fillLog(configFile, ["pt-a"], 3, 1_763_800_000_000);
    assert.equal(leafOf(FORGED), null);
    const report = await audit(70);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref]),
      [["inserted", FORGED]],
    );
    // the newly ingested readings are in the log and provable; the forged one is not
    const fresh = await cli(["proof", ids.get("pt-a")![0]!, "--config", configFile]);
    assert.equal(fresh.code, 0, fresh.stderr);
    const forged = await cli(["proof", FORGED, "--config", configFile]);
    assert.equal(forged.code, 70, forged.stdout + forged.stderr);
    assert.match(forged.stderr, /INTEGRITY_FAILURE: reading 01FORGED0000000000000000AA is not in the log/);
  });

  it("only an explicit adoption with --yes puts it in the log, and the log and the audit record the adoption", async () => {
    const sizeBefore = (await audit(70)).treeSize;
    const refused = await cli([
      "tlog",
      "adopt-unlogged",
      "--config",
      configFile,
      "--by",
      "ops-alice",
      "--reason",
      "readings stored while tlog.enabled was false",
    ]);
    assert.equal(refused.code, 64, refused.stderr);
    assert.match(refused.stderr, /1 reading\(s\) without a log leaf/);
    assert.equal(leafOf(FORGED), null);

    const adopted = await cli([
      "tlog",
      "adopt-unlogged",
      "--config",
      configFile,
      "--by",
      "ops-alice",
      "--reason",
      "readings stored while tlog.enabled was false",
      "--yes",
    ]);
    assert.equal(adopted.code, 0, adopted.stderr);
    const result = JSON.parse(adopted.stdout);
    assert.deepEqual(
      { adopted: result.adopted, first_leaf: result.first_leaf, last_leaf: result.last_leaf },
      { adopted: 1, first_leaf: sizeBefore, last_leaf: sizeBefore },
    );
    assert.equal(result.checkpoint_size, sizeBefore + 2, "the reading and the adoption event, signed");
    assert.equal(leafOf(FORGED), sizeBefore);

    const report = await audit(0);
    assert.deepEqual(report.adoptions, [
      {
        eventId: result.event_id,
        leafIndex: sizeBefore + 1,
        atMs: report.adoptions[0]!.atMs,
        count: 1,
        firstLeaf: sizeBefore,
        lastLeaf: sizeBefore,
        by: "ops-alice",
        reason: "readings stored while tlog.enabled was false",
      },
    ]);
    const text = await cli(["audit", "--config", configFile]);
    assert.match(
      text.stdout,
      /adopted \(not through ingest\): 1 reading\(s\) at leaves \d+-\d+, by ops-alice/,
    );

    // the adopted reading now verifies like any other, against the checkpoint signed after the adoption
    const vkey = (await cli(["keys", "show", "--config", configFile])).stdout.trim();
    const bundle = await cli(["proof", FORGED, "--config", configFile]);
    assert.equal(bundle.code, 0, bundle.stderr);
    const bundleFile = join(dir, "adopted.json");
    writeFileSync(bundleFile, bundle.stdout);
    assert.equal((await cli(["verify", bundleFile, "--vkey", vkey])).code, 0);

    // a second adoption has nothing left to adopt and appends nothing
    const again = await cli([
      "tlog",
      "adopt-unlogged",
      "--config",
      configFile,
      "--by",
      "ops-alice",
      "--reason",
      "again",
      "--yes",
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).adopted, 0);
    assert.equal((await audit(0)).treeSize, sizeBefore + 2);
  });
});
