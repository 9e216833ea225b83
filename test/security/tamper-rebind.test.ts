/**
 * A device's binding changed behind the gateway's back, then laundered by legitimate-looking steps: the
 * gateway, restarted, stamps the device's readings with the forged subject (the table is what it acts on),
 * and the device is then removed with a logged unbinding that names the forged subject. Every event is
 * authentic and every row matches its leaf, so only replaying the bindings in leaf order alongside the
 * readings shows what happened: `vitalog audit` must name the readings stored under a subject the log never
 * bound the device to, and the unbinding of that subject.
 *
 * The removal is done the way a registry that does not compare the row with the log would do it (the row
 * deleted and its `device_unbound` appended in one transaction), so the audit is tested on its own,
 * whatever the registry refuses.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { openTlogForCli } from "../../src/batcher/tlog/open-tlog.js";
import { loadConfig } from "../../src/config.js";
import { deviceUnbound } from "../../src/drivers/device-events.js";
import { tempDir } from "../helpers/gateway.js";
import { type AuditJson, audit, submit, withGateway, writeWardConfig } from "./tamper-fixture.js";

/** Removes `deviceId` with a logged unbinding of whatever subject its row names (one transaction, CLI-side). */
function removeAsLogged(configFile: string, deviceId: string): void {
  const tlog = openTlogForCli(loadConfig(configFile));
  try {
    tlog.db
      .transaction(() => {
        const subject = tlog.db.prepare("SELECT subject_id FROM devices WHERE id = ?").pluck().get(deviceId);
        tlog.db.prepare("DELETE FROM devices WHERE id = ?").run(deviceId);
        tlog.records.append(
          [],
          [
            deviceUnbound(
              { deviceId, subjectId: String(subject) },
              "removed",
              { via: "cli", by: "ops" },
              Date.now(),
            ),
          ],
        );
      })
      .immediate();
  } finally {
    tlog.close();
  }
}

describe("a binding changed behind the gateway's back and then unbound through the log is still named", () => {
  const dir = tempDir("vitalog-tamper-rebind-");
  const dbFile = join(dir, "state", "vitalog.db");
  const configFile = writeWardConfig(dir);
  let report: AuditJson;
  const genuine: string[] = [];
  const forged: string[] = [];
  after(() => rmSync(dir, { recursive: true, force: true }));

  before(async () => {
    await withGateway(configFile, async (gw) => {
      await gw.registry.add(
        { id: "cuff-1", subjectId: "pt-a", password: "cuff-1-secret-xxxxxxxx" },
        Date.now(),
      );
      gw.ingest.addListener({ onReading: (r) => genuine.push(r.id) });
      await submit(gw, "cuff-1", "pt-a", [
        { kind: "heart_rate", value: 70, unit: "/min", deviceTimeMs: Date.now() - 60_000 },
      ]);
    });
    assert.equal((await audit(configFile, 0)).findings.length, 0, "clean before the tampering");
    const db = new Database(dbFile);
    db.prepare("UPDATE devices SET subject_id = 'pt-evil' WHERE id = 'cuff-1'").run();
    db.close();
    const tampered = await audit(configFile, 70);
    assert.deepEqual(
      tampered.findings.map((f) => [f.kind, f.ref]),
      [["device_mismatch", "cuff-1"]],
    );
    await withGateway(configFile, async (gw) => {
      // the device reconnects after the restart: its session is stamped from the table
      const dev = gw.registry.get("cuff-1")!;
      assert.equal(dev.subjectId, "pt-evil");
      gw.ingest.addListener({ onReading: (r) => forged.push(r.id) });
      await submit(gw, "cuff-1", dev.subjectId, [
        { kind: "heart_rate", value: 140, unit: "/min", deviceTimeMs: Date.now() },
      ]);
      await submit(gw, "cuff-1", dev.subjectId, [
        { kind: "heart_rate", value: 141, unit: "/min", deviceTimeMs: Date.now() + 1000 },
      ]);
    });
    // the operator notices the odd device and removes it
    removeAsLogged(configFile, "cuff-1");
    report = await audit(configFile, 70);
  });

  it("audit names each reading stored under a subject the log never bound its device to", () => {
    const named = report.findings.filter((f) => f.table === "readings");
    assert.deepEqual(
      named.map((f) => [f.kind, f.ref]),
      forged.map((id) => ["reading_binding_mismatch", id]),
      JSON.stringify(report.findings),
    );
    assert.match(named[0]!.detail, /pt-evil/);
    assert.match(named[0]!.detail, /pt-a/);
    assert.ok(
      !report.findings.some((f) => genuine.includes(f.ref ?? "")),
      "the genuine reading is no finding",
    );
  });

  it("audit names the unbinding of a subject the log never bound the device to", () => {
    const device = report.findings.filter((f) => f.kind === "device_mismatch");
    assert.deepEqual(
      device.map((f) => f.ref),
      ["cuff-1"],
      JSON.stringify(report.findings),
    );
    assert.match(device[0]!.detail, /unbinding names subject "pt-evil".*bound to "pt-a"/);
    assert.equal(report.findings.length, forged.length + 1, JSON.stringify(report.findings));
  });
});
