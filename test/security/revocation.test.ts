/**
 * Revocation is immediate: a running daemon (`vitalog run`, its own process) and the provisioning CLI
 * (another process, reaching the daemon on its control socket). Re-binding a device, rotating its
 * password or removing it closes the device's live MQTT session at once; no reading stored afterwards
 * carries a binding that no longer holds; and every change is a log event committed with it.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import mqtt, { type MqttClient } from "mqtt";
import { cli, writeConfig } from "../batcher/tlog-fixture.js";
import { spawnGateway, waitExit } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";

interface Provisioned {
  device_id: string;
  mqtt: { port: number; username: string; password: string };
}

describe("revocation of live device sessions", () => {
  const dir = tempDir("vitalog-revocation-");
  const dbFile = join(dir, "state", "vitalog.db");
  let configFile: string;
  let child: ChildProcess;
  let port: number;
  const clients: MqttClient[] = [];

  before(async () => {
    configFile = writeConfig(dir, ["tlog: { checkpointIntervalSec: 0.2 }"]);
    writeFileSync(configFile, readFileSync(configFile, "utf8").replace("level: silent", "level: info"));
    const gw = await spawnGateway(configFile);
    child = gw.child;
    port = Number(/"mqttPort":(\d+)/.exec(gw.output())![1]);
  });
  after(async () => {
    for (const c of clients) c.end(true);
    child.kill("SIGTERM");
    await waitExit(child);
    rmSync(dir, { recursive: true, force: true });
  });

  const devices = async (...args: string[]) => {
    const r = await cli(["devices", ...args, "--config", configFile]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
  };

  const connect = async (id: string, password: string): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: id,
      username: id,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    clients.push(c);
    return c;
  };

  /** Resolves with the CONNACK refusal code, or "connected". */
  const tryConnect = (id: string, password: string): Promise<number | "connected"> =>
    new Promise((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
        clientId: id,
        username: id,
        password,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
      clients.push(c);
      c.once("connect", () => resolve("connected"));
      c.once("error", (err) => resolve((err as Error & { code?: number }).code ?? -1));
    });

  const publishHr = (c: MqttClient, id: string, value: number) =>
    c.publishAsync(
      `vitalog/dev/${id}/json`,
      JSON.stringify({ readings: [{ kind: "heart_rate", value, unit: "/min" }] }),
      {
        qos: 1,
      },
    );

  const closed = (c: MqttClient) => new Promise<void>((resolve) => c.once("close", () => resolve()));

  const rows = (sql: string, ...params: unknown[]) => {
    const db = new Database(dbFile, { readonly: true });
    try {
      return db.prepare(sql).all(...params) as Record<string, unknown>[];
    } finally {
      db.close();
    }
  };

  const logEvents = () => rows("SELECT COUNT(*) AS n FROM tlog_records WHERE type = 'event'")[0]!.n as number;

  it("re-binding a device closes its session at once, and its next readings carry the new subject", async () => {
    const added = (await devices(
      "add",
      "--id",
      "wear-001",
      "--subject",
      "pt-a",
      "--by",
      "ce.smith",
    )) as unknown as Provisioned;
    const c = await connect("wear-001", added.mqtt.password);
    await publishHr(c, "wear-001", 71);
    const eventsBefore = logEvents();
    const gone = closed(c);
    const bound = await devices(
      "bind",
      "--id",
      "wear-001",
      "--subject",
      "pt-b",
      "--by",
      "ce.smith",
      "--reason",
      "bed 4 discharged",
    );
    assert.equal(bound.rebound, true);
    assert.equal(bound.daemon, "notified");
    assert.equal(bound.sessions_closed, 1);
    await gone;
    // unbound from the former subject, bound to the new one: two events, committed with the change
    assert.equal(logEvents(), eventsBefore + 2);
    const again = await connect("wear-001", added.mqtt.password);
    await publishHr(again, "wear-001", 72);
    assert.deepEqual(
      rows("SELECT subject_id, value FROM readings WHERE device_id = 'wear-001' ORDER BY received_at_ms"),
      [
        { subject_id: "pt-a", value: 71 },
        { subject_id: "pt-b", value: 72 },
      ],
    );
  });

  it("a new password closes the session at once and the old password no longer connects", async () => {
    const added = (await devices("add", "--id", "wear-002", "--subject", "pt-c")) as unknown as Provisioned;
    const c = await connect("wear-002", added.mqtt.password);
    const gone = closed(c);
    const eventsBefore = logEvents();
    const rotated = (await devices("passwd", "--id", "wear-002")) as unknown as Provisioned & {
      sessions_closed: number;
    };
    assert.equal(rotated.sessions_closed, 1);
    await gone;
    assert.equal(logEvents(), eventsBefore + 1);
    assert.notEqual(rotated.mqtt.password, added.mqtt.password);
    assert.equal(await tryConnect("wear-002", added.mqtt.password), 4); // bad user name or password
    assert.equal(await tryConnect("wear-002", rotated.mqtt.password), "connected");
  });

  it("removing a device closes its session at once and it cannot connect again", async () => {
    const added = (await devices("add", "--id", "wear-003", "--subject", "pt-d")) as unknown as Provisioned;
    const c = await connect("wear-003", added.mqtt.password);
    await publishHr(c, "wear-003", 80);
    const gone = closed(c);
    const removed = await devices("remove", "--id", "wear-003");
    assert.equal(removed.sessions_closed, 1);
    await gone;
    assert.equal(await tryConnect("wear-003", added.mqtt.password), 4);
    assert.deepEqual(rows("SELECT value FROM readings WHERE device_id = 'wear-003'"), [{ value: 80 }]);
  });

  it("a binding changed behind the daemon's back refuses the session's next frame at commit and ends the session", async () => {
    const added = (await devices("add", "--id", "wear-004", "--subject", "pt-e")) as unknown as Provisioned;
    const c = await connect("wear-004", added.mqtt.password);
    await publishHr(c, "wear-004", 90);
    // no CLI, no control message: the table alone changes (the audit names it; the commit must not trust it)
    const db = new Database(dbFile);
    db.prepare("UPDATE devices SET subject_id = 'pt-z' WHERE id = 'wear-004'").run();
    db.close();
    const gone = closed(c);
    await publishHr(c, "wear-004", 91); // acknowledged as refused: a re-send would be stamped anew
    await gone;
    assert.deepEqual(rows("SELECT subject_id, value FROM readings WHERE device_id = 'wear-004'"), [
      { subject_id: "pt-e", value: 90 },
    ]);
    assert.deepEqual(rows("SELECT reason FROM rejections WHERE device_id = 'wear-004'"), [
      { reason: "binding_changed" },
    ]);
  });

  it("a command with nothing to re-check changes nothing and says so", async () => {
    await devices("add", "--id", "wear-005", "--subject", "pt-f");
    const again = await devices("bind", "--id", "wear-005", "--subject", "pt-f");
    assert.equal(again.rebound, false);
    assert.equal(again.sessions_closed, 0);
  });
});
