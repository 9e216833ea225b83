import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import mqtt, { type MqttClient } from "mqtt";
import { TileStore } from "../src/batcher/tlog/tile-store.js";
import { verifyCheckpoint } from "../src/batcher/verifier/checkpoint.js";
import { verifyConsistency } from "../src/batcher/verifier/merkle-verify.js";
import { parseVkey } from "../src/batcher/verifier/signer.js";
import { cli } from "./batcher/tlog-fixture.js";
import { spawnGateway, waitExit } from "./helpers/child-gateway.js";
import { tempDir, writeSecret } from "./helpers/gateway.js";
import { seededIntegers, testSeed } from "./helpers/seed.js";

const DEVICES = ["tc-a", "tc-b"];
const BASE_SEC = 1_763_900_000;
const ORIGIN = "crash.vitalog.invalid/gw/tlog-crash";

describe("tlog crash safety: SIGKILL during group commits and checkpoint signing", () => {
  const dir = tempDir("vitalog-tlog-crash-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("after every restart the tree is consistent with every checkpoint ever signed, and audit passes", async (t) => {
    const configFile = join(dir, "vitalog.yaml");
    writeFileSync(
      configFile,
      [
        `gateway: { id: tlog-crash, origin: ${ORIGIN}, stateDir: state }`,
        // port 0: each life binds a port of its own and names it in its "ready" line
        "mqtt: { host: 127.0.0.1, port: 0 }",
        "admin: { port: 0 }",
        "log: { level: info }",
        "storage: { synchronous: normal, batchMaxDelayMs: 2 }",
        // sign as often as possible so kills land inside signing too
        "tlog: { checkpointIntervalSec: 0.01 }",
        "devices:",
        ...DEVICES.map(
          (id) =>
            `  - { id: ${id}, subject: pt-${id}, passwordFile: ${writeSecret(dir, `${id}.pw`, `s-${id}`)} }`,
        ),
      ].join("\n"),
    );
    const observed: string[] = []; // checkpoint notes seen on the children's stdout
    const acked = new Set<string>();
    let next = 0;
    const rounds = 6;
    const killAfterMs = seededIntegers(testSeed(t), rounds, 60, 360);
    for (let round = 0; round < rounds; round++) {
      const { child, output, mqttPort } = await spawnGateway(configFile);
      let running = true;
      const clients: MqttClient[] = [];
      for (const id of DEVICES) {
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
          clientId: id,
          username: id,
          password: `s-${id}`,
          reconnectPeriod: 0,
        });
        c.on("error", () => {});
        clients.push(c);
        const send = (k: number) => {
          const pack = [
            { bn: `urn:dev:x:${id}:`, bt: BASE_SEC + k / 1000, n: "hr", u: "beat/min", v: 50 + (k % 90) },
          ];
          c.publish(`vitalog/dev/${id}/senml`, JSON.stringify(pack), { qos: 1 }, (err) => {
            if (!err) acked.add(`${id}:${k}`);
            if (running && c.connected) send(next++);
          });
        };
        for (let w = 0; w < 8; w++) send(next++);
      }
      await new Promise((r) => setTimeout(r, killAfterMs[round]));
      child.kill("SIGKILL");
      assert.equal((await waitExit(child)).signal, "SIGKILL");
      running = false;
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      for (const line of output().split("\n")) {
        if (!line.includes('"msg":"checkpoint signed"')) continue;
        try {
          observed.push((JSON.parse(line) as { note: string }).note);
        } catch {
          // a line cut by SIGKILL: only whole log lines count as "published"
        }
      }
    }
    assert.ok(observed.length >= rounds, `checkpoints were signed while running (${observed.length})`);

    const vkey = (await cli(["keys", "show", "--config", configFile])).stdout.trim();
    const verifier = parseVkey(vkey);
    const db = new Database(join(dir, "state", "vitalog.db"), { readonly: true });
    try {
      const stored = db.prepare("SELECT note FROM tlog_checkpoints").pluck().all() as string[];
      const tiles = new TileStore(db);
      const size = tiles.size();
      const root = tiles.root();
      for (const note of new Set([...observed, ...stored])) {
        const cp = verifyCheckpoint(note, ORIGIN, [verifier]);
        assert.ok(cp.ok, "every checkpoint carries a valid signature");
        assert.ok(cp.checkpoint.size <= size, `checkpoint ${cp.checkpoint.size} within tree ${size}`);
        assert.ok(
          Buffer.from(tiles.rootAt(cp.checkpoint.size)).equals(cp.checkpoint.root),
          `tree holds checkpoint ${cp.checkpoint.size}`,
        );
        const proof = tiles.consistencyProof(cp.checkpoint.size, size);
        assert.ok(verifyConsistency(cp.checkpoint.size, size, proof, cp.checkpoint.root, root));
      }
      // every acknowledged reading is in the tree (audit below also checks each against its leaf)
      const inLog = db
        .prepare("SELECT COUNT(*) FROM readings WHERE leaf_index IS NOT NULL AND leaf_index < ?")
        .pluck()
        .get(size) as number;
      assert.ok(inLog >= acked.size, `${inLog} logged readings ≥ ${acked.size} acknowledged`);
    } finally {
      db.close();
    }
    const audit = await cli(["audit", "--config", configFile]);
    assert.equal(audit.code, 0, audit.stdout + audit.stderr);
  });
});
