import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import mqtt, { type MqttClient } from "mqtt";
import { spawnGateway, waitExit } from "./helpers/child-gateway.js";
import { tempDir, writeSecret } from "./helpers/gateway.js";
import { seededIntegers, testSeed } from "./helpers/seed.js";

const DEVICES = ["crash-a", "crash-b", "crash-c"];
const BASE_SEC = 1_763_700_000;

describe("crash safety: SIGKILL of a child-process gateway", () => {
  const dir = tempDir("vitalog-crash-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps every PUBACKed reading exactly once across 12 SIGKILLs at random points", async (t) => {
    const devices = DEVICES.map((id) => ({
      id,
      subject: `pt-${id}`,
      passwordFile: writeSecret(dir, `${id}.pw`, `secret-${id}`),
    }));
    const configFile = join(dir, "vitalog.yaml");
    writeFileSync(
      configFile,
      [
        "gateway: { id: crash-gw, stateDir: state }",
        // port 0: each life binds a port of its own and names it in its "ready" line
        "mqtt: { host: 127.0.0.1, port: 0 }",
        "admin: { port: 0 }",
        "log: { level: info }",
        "storage: { synchronous: normal, batchMaxDelayMs: 3 }",
        "devices:",
        ...devices.map((d) => `  - { id: ${d.id}, subject: ${d.subject}, passwordFile: ${d.passwordFile} }`),
      ].join("\n"),
    );
    const acked = new Map<string, Set<number>>(DEVICES.map((d) => [d, new Set()]));
    // like real firmware, a device keeps what was not acknowledged and sends it again after reconnecting
    const unacked = new Map<string, Set<number>>(DEVICES.map((d) => [d, new Set()]));
    let next = 0;
    const kills = 12;
    const killAfterMs = seededIntegers(testSeed(t), kills, 40, 440);
    for (let round = 0; round < kills; round++) {
      const { child, mqttPort } = await spawnGateway(configFile);
      const clients: MqttClient[] = [];
      let running = true;
      for (const id of DEVICES) {
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
          clientId: id,
          username: id,
          password: `secret-${id}`,
          reconnectPeriod: 0,
        });
        c.on("error", () => {});
        clients.push(c);
        const send = (n: number) => {
          unacked.get(id)!.add(n);
          const pack = [
            { bn: `urn:dev:x:${id}:`, bt: BASE_SEC + n / 1000, n: "hr", u: "beat/min", v: 50 + (n % 100) },
          ];
          c.publish(`vitalog/dev/${id}/senml`, JSON.stringify(pack), { qos: 1 }, (err) => {
            if (!err) {
              acked.get(id)!.add(n);
              unacked.get(id)!.delete(n);
            }
            if (running && c.connected) send(next++);
          });
        };
        for (const n of [...unacked.get(id)!]) send(n);
        for (let w = 0; w < 16; w++) send(next++);
      }
      await new Promise((r) => setTimeout(r, killAfterMs[round]));
      child.kill("SIGKILL");
      const exit = await waitExit(child);
      running = false;
      assert.equal(exit.signal, "SIGKILL");
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    }
    // one last clean start-up proves the database opens after the last kill
    const { child } = await spawnGateway(configFile);
    child.kill("SIGTERM");
    assert.equal((await waitExit(child)).code, 0);

    const db = new Database(join(dir, "state", "vitalog.db"), { readonly: true });
    const rows = db.prepare("SELECT device_id, device_time_ms, device_seq FROM readings").all() as Array<{
      device_id: string;
      device_time_ms: number;
      device_seq: number;
    }>;
    db.close();
    const stored = new Map<string, number[]>(DEVICES.map((d) => [d, []]));
    for (const r of rows) stored.get(r.device_id)!.push(Math.round(r.device_time_ms - BASE_SEC * 1000));
    let totalAcked = 0;
    for (const id of DEVICES) {
      const times = stored.get(id)!;
      assert.equal(new Set(times).size, times.length, `${id}: no reading stored twice`);
      const have = new Set(times);
      const missing = [...acked.get(id)!].filter((n) => !have.has(n));
      assert.deepEqual(missing, [], `${id}: every PUBACKed reading survives`);
      totalAcked += acked.get(id)!.size;
      const seqs = rows.filter((r) => r.device_id === id).map((r) => r.device_seq);
      assert.equal(new Set(seqs).size, seqs.length, `${id}: sequence numbers never reused after a crash`);
    }
    assert.ok(totalAcked > kills * 10, `enough traffic to mean something (${totalAcked} acked)`);
  });
});
