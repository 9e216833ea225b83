/**
 * Readings of a device the log holds no binding for. Before the log had any device event (a release that
 * did not log bindings) that is how every reading was stored, and no finding. Once device events exist, a
 * device row written behind the gateway's back makes the gateway store its readings, and `vitalog audit`
 * names each of them with the row, until an operator adopts the row (`vitalog tlog adopt-unlogged --id`):
 * the adoption vouches for the binding as it stands, so readings stored under that same subject before it
 * are no longer findings; readings stored under another subject stay findings. Adoptions are listed in the
 * report (`device_adoptions`). `--devices-only` and `--readings-only` adopt one kind of row only.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { CommitThread } from "../../src/batcher/commit/commit-thread.js";
import { openTlogForCli } from "../../src/batcher/tlog/open-tlog.js";
import { tlogCommitWriter } from "../../src/batcher/tlog/tlog-commit-writer.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import type { Reading } from "../../src/reading.js";
import { cli } from "../batcher/tlog-fixture.js";
import { tempDir } from "../helpers/gateway.js";
import { type AuditJson, audit, submit, withGateway, writeWardConfig } from "./tamper-fixture.js";

interface AdoptJson {
  devices_adopted: string[];
  adopted: number;
}

interface DeviceAdoption {
  event_id: string;
  leaf_index: number;
  at_ms: number;
  device_id: string;
  subject_id: string | null;
  by: string;
  reason: string;
}

const T0 = Date.now() - 3_600_000;

function reading(id: string, deviceId: string, subjectId: string, n: number): Reading {
  return {
    id,
    deviceId,
    subjectId,
    kind: "heart_rate",
    loinc: "8867-4",
    value: 70 + n,
    unit: "/min",
    deviceTimeMs: T0 + n * 1000,
    receivedAtMs: T0 + n * 1000 + 5,
    observedAtMs: T0 + n * 1000,
    seq: n,
    flags: [],
    mdc: null,
  };
}

function insertDeviceRow(dbFile: string, id: string, subjectId: string): void {
  const db = new Database(dbFile);
  try {
    const hash = db.prepare("SELECT password_hash FROM devices LIMIT 1").pluck().get() as string;
    db.prepare(
      "INSERT INTO devices (id, subject_id, password_hash, model, created_at_ms, updated_at_ms) VALUES (?, ?, ?, NULL, 1, 1)",
    ).run(id, subjectId, hash);
  } finally {
    db.close();
  }
}

describe("readings of a device the log holds no binding for", () => {
  const dir = tempDir("vitalog-unbound-readings-");
  const dbFile = join(dir, "state", "vitalog.db");
  const configFile = writeWardConfig(dir);
  const stored = new Map<string, string[]>();
  after(() => rmSync(dir, { recursive: true, force: true }));

  const adopt = (...flags: string[]) =>
    cli([
      "tlog",
      "adopt-unlogged",
      "--config",
      configFile,
      "--by",
      "ce.smith",
      "--reason",
      "checked",
      ...flags,
    ]);
  const named = (r: AuditJson, table: string) =>
    r.findings.filter((f) => f.table === table).map((f) => [f.kind, f.ref]);

  before(async () => {
    await withGateway(configFile, async () => {}); // keys, database and the log's identity
    // readings logged before the log held any device event, as a release that did not log bindings stored them
    const config = loadConfig(configFile);
    const tlog = openTlogForCli(config);
    const storageKey = tlog.storageKey;
    tlog.close();
    const thread = new CommitThread(
      { dbPath: config.storage.path!, synchronous: "normal", busyTimeoutMs: 1000 },
      createLogger("silent"),
    );
    thread.addWriter(tlogCommitWriter(storageKey));
    try {
      await thread.commit(
        [
          {
            readings: [reading("old-1", "legacy-1", "pt-l", 0), reading("old-2", "legacy-1", "pt-l", 1)],
            rejections: [],
          },
        ],
        T0 + 5000,
      );
    } finally {
      await thread.close();
    }
    await withGateway(configFile, async (gw) => {
      await gw.registry.add(
        { id: "cuff-1", subjectId: "pt-a", password: "cuff-1-secret-xxxxxxxx" },
        Date.now(),
      );
    });
    // rows as an older release provisioned them, or as someone wrote them behind the gateway's back
    insertDeviceRow(dbFile, "legacy-1", "pt-l");
    insertDeviceRow(dbFile, "rogue-2", "pt-x");
    await withGateway(configFile, async (gw) => {
      gw.ingest.addListener({
        onReading: (r) => stored.set(r.deviceId, [...(stored.get(r.deviceId) ?? []), r.id]),
      });
      const at = Date.now();
      await submit(gw, "legacy-1", "pt-l", [
        { kind: "heart_rate", value: 80, unit: "/min", deviceTimeMs: at },
      ]);
      await submit(gw, "rogue-2", "pt-x", [
        { kind: "heart_rate", value: 81, unit: "/min", deviceTimeMs: at },
      ]);
      await submit(gw, "cuff-1", "pt-a", [{ kind: "heart_rate", value: 82, unit: "/min", deviceTimeMs: at }]);
    });
  });

  it("audit names each reading stored after device events existed, and not those stored before", async () => {
    const report = await audit(configFile, 70);
    assert.deepEqual(
      named(report, "readings"),
      [
        ["reading_binding_mismatch", stored.get("legacy-1")![0]],
        ["reading_binding_mismatch", stored.get("rogue-2")![0]],
      ],
      JSON.stringify(report.findings),
    );
    assert.match(report.findings.find((f) => f.table === "readings")!.detail, /no logged binding/);
    assert.deepEqual(named(report, "devices"), [
      ["device_mismatch", "legacy-1"],
      ["device_mismatch", "rogue-2"],
    ]);
  });

  it("--id adopts that one device row only, and the report lists the adoption", async () => {
    const r = await adopt("--id", "legacy-1", "--yes");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as AdoptJson;
    assert.deepEqual(out.devices_adopted, ["legacy-1"]);
    assert.equal(out.adopted, 0);
    const report = (await audit(configFile, 70)) as AuditJson & { device_adoptions: DeviceAdoption[] };
    assert.deepEqual(named(report, "devices"), [["device_mismatch", "rogue-2"]]);
    assert.deepEqual(
      named(report, "readings"),
      [["reading_binding_mismatch", stored.get("rogue-2")![0]]],
      "legacy-1's reading was stored under the binding its adoption vouches for",
    );
    assert.equal(report.device_adoptions.length, 1);
    const [a] = report.device_adoptions;
    assert.deepEqual(
      { device: a!.device_id, subject: a!.subject_id, by: a!.by, reason: a!.reason },
      { device: "legacy-1", subject: "pt-l", by: "ce.smith", reason: "checked" },
    );
    assert.ok(a!.leaf_index > 0 && a!.event_id.startsWith("evt-"));
    const text = await cli(["audit", "--config", configFile]);
    assert.match(
      text.stdout,
      /adopted \(binding not witnessed\): device legacy-1 bound to pt-l at leaf \d+, by ce\.smith/,
    );
  });

  it("a row changed before its adoption: the readings stored under the former subject stay findings", async () => {
    const db = new Database(dbFile);
    db.prepare("UPDATE devices SET subject_id = 'pt-y' WHERE id = 'rogue-2'").run();
    db.close();
    const r = await adopt("--devices-only", "--yes");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as AdoptJson).devices_adopted, ["rogue-2"]);
    const report = await audit(configFile, 70);
    assert.deepEqual(named(report, "devices"), []);
    assert.deepEqual(named(report, "readings"), [["reading_binding_mismatch", stored.get("rogue-2")![0]]]);
    assert.match(report.findings[0]!.detail, /pt-x/);
  });

  it("--readings-only adopts readings without a leaf and no device row; --devices-only adopts no reading", async () => {
    const db = new Database(dbFile);
    db.prepare(
      `INSERT INTO readings (id, device_id, subject_id, device_seq, kind, loinc, value, unit, device_time_ms,
         observed_at_ms, received_at_ms, flags, mdc) VALUES ('forged-1', 'cuff-1', 'pt-a', 99, 'heart_rate', '8867-4',
         61, '/min', ?, ?, ?, '', NULL)`,
    ).run(T0 + 99_000, T0 + 99_000, T0 + 99_100);
    db.close();
    insertDeviceRow(dbFile, "rogue-3", "pt-z");
    const devicesOnly = await adopt("--devices-only", "--yes");
    assert.equal(devicesOnly.code, 0, devicesOnly.stderr);
    assert.deepEqual(JSON.parse(devicesOnly.stdout), {
      devices_adopted: ["rogue-3"],
      adopted: 0,
      first_leaf: null,
      last_leaf: null,
      event_id: null,
      rejection_counts_adopted: 0,
      rejection_samples_adopted: 0,
      checkpoint_size: (JSON.parse(devicesOnly.stdout) as { checkpoint_size: number }).checkpoint_size,
    });
    insertDeviceRow(dbFile, "rogue-4", "pt-z");
    const readingsOnly = await adopt("--readings-only", "--yes");
    assert.equal(readingsOnly.code, 0, readingsOnly.stderr);
    const out = JSON.parse(readingsOnly.stdout) as AdoptJson;
    assert.deepEqual([out.devices_adopted, out.adopted], [[], 1]);
    const report = await audit(configFile, 70);
    assert.deepEqual(named(report, "devices"), [["device_mismatch", "rogue-4"]]);
    assert.ok(!report.findings.some((f) => f.ref === "forged-1"), JSON.stringify(report.findings));
  });

  it("refuses --id with --readings-only, and --devices-only with --readings-only", async () => {
    for (const flags of [
      ["--id", "rogue-4", "--readings-only"],
      ["--devices-only", "--readings-only"],
    ]) {
      const r = await adopt(...flags, "--yes");
      assert.equal(r.code, 64, `${flags.join(" ")}: ${r.stdout}${r.stderr}`);
    }
    const unknown = await adopt("--id", "no-such-device", "--yes");
    assert.equal(unknown.code, 64, unknown.stdout + unknown.stderr);
    assert.match(unknown.stderr, /no-such-device/);
  });
});
