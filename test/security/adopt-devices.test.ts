/**
 * A device row without a logged binding (provisioned before bindings were logged, or inserted behind the
 * gateway's back) is an audit finding until an operator adopts it, explicitly and logged; a row whose
 * logged binding was changed behind the gateway's back is never adopted.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { cli, fillLog, writeConfig } from "../batcher/tlog-fixture.js";
import { tempDir } from "../helpers/gateway.js";

interface AuditJson {
  ok: boolean;
  findings: { kind: string; ref: string | null; detail: string }[];
}

describe("adopting device rows that have no logged binding", () => {
  const dir = tempDir("vitalog-adopt-devices-");
  const dbFile = join(dir, "state", "vitalog.db");
  let configFile: string;
  after(() => rmSync(dir, { recursive: true, force: true }));

  const audit = async (code: number) => {
    const r = await cli(["audit", "--config", configFile, "--json"]);
    assert.equal(r.code, code, r.stdout + r.stderr);
    return JSON.parse(r.stdout) as AuditJson;
  };
  const deviceFindings = (a: AuditJson) =>
    a.findings.filter((f) => f.kind === "device_mismatch").map((f) => f.ref);

  before(async () => {
    configFile = writeConfig(dir, ["tlog: { checkpointIntervalSec: 0.05 }"]);
    await fillLog(configFile, ["pt-a"], 3);
    const r = await cli([
      "devices",
      "add",
      "--config",
      configFile,
      "--id",
      "wear-logged",
      "--subject",
      "pt-a",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const db = new Database(dbFile);
    // a row as an older release provisioned it: no event in the log
    db.prepare(
      "INSERT INTO devices (id, subject_id, password_hash, model, created_at_ms, updated_at_ms) VALUES ('wear-legacy', 'pt-b', 'scrypt$16384$8$1$AAAA$BBBB', NULL, 1, 1)",
    ).run();
    // and a logged binding changed behind the gateway's back
    db.prepare("UPDATE devices SET subject_id = 'pt-z' WHERE id = 'wear-logged'").run();
    db.close();
  });

  it("audit names both rows before any adoption", async () => {
    assert.deepEqual(deviceFindings(await audit(70)).sort(), ["wear-legacy", "wear-logged"]);
  });

  it("adoption logs only the row without a logged binding, and audit then names only the changed one", async () => {
    const r = await cli([
      "tlog",
      "adopt-unlogged",
      "--config",
      configFile,
      "--by",
      "ce.smith",
      "--reason",
      "upgrade from a release without logged bindings",
      "--yes",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      devices_adopted: string[];
      adopted: number;
      checkpoint_size: number;
    };
    assert.deepEqual(out.devices_adopted, ["wear-legacy"]);
    assert.equal(out.adopted, 0);
    assert.ok(out.checkpoint_size > 0);
    const after = await audit(70);
    assert.deepEqual(deviceFindings(after), ["wear-logged"]);
    assert.match(after.findings.find((f) => f.ref === "wear-logged")!.detail, /subject/);
  });

  it("a re-binding over the changed row does not hide the change: it is refused, or its unbinding is named", async () => {
    // the re-binding logs the unbinding of the subject the row names, which the log never bound
    await cli(["devices", "bind", "--config", configFile, "--id", "wear-logged", "--subject", "pt-a2"]);
    assert.deepEqual(deviceFindings(await audit(70)), ["wear-logged"]);
  });
});
