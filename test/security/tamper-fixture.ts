/**
 * A ward's worth of clinically meaningful state, made by a real gateway on a real SQLite file, for the
 * tamper tests: devices provisioned, re-keyed and re-bound (device events), readings, HIGH alerts raised,
 * one acknowledged and one silenced by a named nurse through a station, clinicians' NEWS2 entries, and
 * refused frames (rejection samples and counts, sealed in the log). Each test tampers with a copy.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Gateway } from "../../src/app/gateway.js";
import { systemClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import type { ReadingInput } from "../../src/reading.js";
import type { AlertEvent } from "../../src/rules/alert-event.js";
import { cli } from "../batcher/tlog-fixture.js";
import { waitFor } from "../helpers/gateway.js";
import { addUsers } from "../helpers/users.js";

export const STATION = "station-1";

/** What the base state holds, to aim the tampering. */
export interface WardState {
  readonly dir: string;
  readonly configFile: string;
  /** Reading ids per device, in storage order. */
  readonly readings: Map<string, string[]>;
  /** The raise of each subject's HIGH alert (pt-a: acknowledged by nurse-ann; pt-b: silenced by nurse-bob). */
  readonly raised: Map<string, AlertEvent>;
}

/** The audit report as `vitalog audit --json` prints it. */
export interface AuditJson {
  ok: boolean;
  findings: { kind: string; ref: string | null; leafIndex: number | null; detail: string; table?: string }[];
  tables: { table: string; rows: number; verified: number; pending: number; erased: number }[];
}

export function writeWardConfig(dir: string, extra: string[] = []): string {
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, "vitalog.yaml");
  writeFileSync(
    configFile,
    [
      "gateway: { id: ward-gw, origin: test.vitalog.invalid/gw/ward-gw, stateDir: state }",
      "mqtt: { port: 0 }",
      "admin: { port: 0 }",
      "log: { level: silent }",
      "storage: { synchronous: normal }",
      "tlog: { checkpointIntervalSec: 0.05 }",
      ...extra,
    ].join("\n"),
  );
  return configFile;
}

/** Runs `fn` on a gateway started in-process on `configFile`, then stops it (flushing every commit). */
export async function withGateway<T>(configFile: string, fn: (gw: Gateway) => Promise<T>): Promise<T> {
  const gw = await Gateway.start(loadConfig(configFile), { log: createLogger("silent"), clock: systemClock });
  try {
    return await fn(gw);
  } finally {
    await gw.stop();
  }
}

/** Submits one frame from a provisioned device and waits until it is durable. */
export function submit(
  gw: Gateway,
  deviceId: string,
  subjectId: string,
  inputs: ReadingInput[],
): Promise<void> {
  return new Promise((res, rej) =>
    gw.ingest.submit({ deviceId, subjectId, transport: "mqtt" }, { inputs }, null, (err) =>
      err ? rej(err) : res(),
    ),
  );
}

/** Builds the base ward state in `dir` (see the module comment). */
export async function buildWardState(dir: string): Promise<WardState> {
  const configFile = writeWardConfig(dir);
  const readings = new Map<string, string[]>();
  const raised = new Map<string, AlertEvent>();
  await withGateway(configFile, async (gw) => {
    const now = Date.now();
    await gw.registry.add(
      { id: "cuff-1", subjectId: "pt-a", password: "cuff-1-secret", model: "BP-100" },
      now,
    );
    await gw.registry.add({ id: "cuff-2", subjectId: "pt-b", password: "cuff-2-secret-old" }, now);
    await gw.registry.add({ id: "cuff-3", subjectId: "pt-c", password: "cuff-3-secret" }, now);
    await gw.registry.setPassword("cuff-2", "cuff-2-secret", now + 1, { via: "cli", by: "ops-eve" });
    await gw.registry.bind({ id: "cuff-3", subjectId: "pt-d" }, now + 2, { via: "cli", by: "ops-eve" });
    gw.ingest.addListener({
      onReading: (r) => readings.set(r.deviceId, [...(readings.get(r.deviceId) ?? []), r.id]),
    });
    const { engine, commands } = gw.rules;
    engine.onAlertEvent((e) => {
      if (e.transition === "raise") raised.set(e.subject_id, e);
    });
    const t0 = now - 30_000;
    for (let n = 0; n < 6; n++) {
      await submit(gw, "cuff-1", "pt-a", [
        { kind: "heart_rate", value: 70 + n, unit: "/min", deviceTimeMs: t0 + n * 1000 },
      ]);
      await submit(gw, "cuff-2", "pt-b", [
        { kind: "heart_rate", value: 80 + n, unit: "/min", deviceTimeMs: t0 + n * 1000 },
      ]);
    }
    await submit(gw, "cuff-1", "pt-a", [
      { kind: "bp_systolic", value: 58, unit: "mm[Hg]", deviceTimeMs: t0 + 9000 },
    ]);
    await submit(gw, "cuff-2", "pt-b", [
      { kind: "bp_systolic", value: 57, unit: "mm[Hg]", deviceTimeMs: t0 + 9000 },
    ]);
    await submit(gw, "cuff-3", "pt-d", [{ kind: "heart_rate", value: 66, unit: "/min", deviceTimeMs: t0 }]);
    await waitFor(() => raised.has("pt-a") && raised.has("pt-b"), 5000, "both HIGH alerts raised");
    await addUsers(gw.config, [
      { id: "nurse-ann", role: "nurse" },
      { id: "nurse-bob", role: "nurse" },
      { id: "dr-cho", role: "clinician" },
    ]);
    const command = (verb: string, body: Record<string, unknown>) => {
      const reply = commands.handle(STATION, verb as "ack", JSON.stringify(body));
      assert.equal(reply.ok, true, JSON.stringify(reply));
    };
    command("ack", { alert_id: raised.get("pt-a")!.alert_id, by: "nurse-ann" });
    command("silence", { alert_id: raised.get("pt-b")!.alert_id, by: "nurse-bob", duration_sec: 120 });
    command("observe", { subject_id: "pt-a", by: "dr-cho", acvpu: "A", supplemental_oxygen: false });
    command("observe", { subject_id: "pt-b", by: "dr-cho", acvpu: "V", spo2_scale: 2 });
    // refused frames: an impossible value from a known device, and frames from a device nobody provisioned
    await submit(gw, "cuff-1", "pt-a", [
      { kind: "heart_rate", value: 900, unit: "/min", deviceTimeMs: t0 + 20_000 },
    ]);
    for (let k = 0; k < 3; k++) {
      await new Promise<void>((res, rej) =>
        gw.ingest.reject(
          { deviceId: null, subjectId: null },
          { reason: "device_not_provisioned", detail: `unknown client id intruder-${k}` },
          Buffer.from(`{"readings":[${k}]}`),
          (err) => (err ? rej(err) : res()),
        ),
      );
    }
    // one more commit so that the alert transitions and observations recorded above are durable
    await submit(gw, "cuff-1", "pt-a", [
      { kind: "heart_rate", value: 77, unit: "/min", deviceTimeMs: t0 + 30_000 },
    ]);
  });
  const state: WardState = { dir, configFile, readings, raised };
  const report = await audit(configFile, 0);
  assert.deepEqual(report.findings, [], "the base state audits clean");
  return state;
}

/** Runs `vitalog audit --json` and checks its exit code. */
export async function audit(configFile: string, expectedCode: number): Promise<AuditJson> {
  const r = await cli(["audit", "--config", configFile, "--json"]);
  assert.equal(r.code, expectedCode, `audit exit ${r.code}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as AuditJson;
}

/** A fresh copy of the base state, tampered with by `tamper` on the copy's database (triggers dropped). */
export function tamperedCopy(base: WardState, name: string, tamper: (db: Database.Database) => void): string {
  const dir = join(base.dir, "..", name);
  cpSync(join(base.dir, "state"), join(dir, "state"), { recursive: true });
  const configFile = writeWardConfig(dir);
  const db = new Database(join(dir, "state", "vitalog.db"));
  try {
    for (const t of db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
      .pluck()
      .all() as string[])
      db.exec(`DROP TRIGGER ${t}`);
    tamper(db);
  } finally {
    db.close();
  }
  return configFile;
}
