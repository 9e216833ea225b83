import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import mqtt from "mqtt";
import { MAIN, spawnGateway, waitExit } from "./helpers/child-gateway.js";
import { tempDir } from "./helpers/gateway.js";
import { withFreshPort } from "./helpers/ports.js";

const vitalog = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", timeout: 30_000 });

describe("vitalog CLI", () => {
  const dir = tempDir("vitalog-cli-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("provisions a device, shows its password once, serves its readings and removes it", async () => {
    const config = join(dir, "vitalog.yaml");
    // MQTT on port 0 (the bound port is read from the gateway's ready line); admin 0 means off, so a fresh one
    const writeConfig = (adminPort: number) =>
      writeFileSync(
        config,
        `gateway: { id: cli-gw, stateDir: state }\nmqtt: { port: 0 }\nadmin: { port: ${adminPort} }\n`,
      );
    writeConfig(0);

    const added = vitalog(
      "devices",
      "add",
      "--config",
      config,
      "--id",
      "wear-9",
      "--subject",
      "pt-9",
      "--model",
      "sim",
    );
    assert.equal(added.status, 0, added.stderr);
    const creds = JSON.parse(added.stdout) as {
      device_id: string;
      mqtt: { password: string; username: string; topic_senml: string };
    };
    assert.equal(creds.device_id, "wear-9");
    assert.ok(creds.mqtt.password.length >= 32, "a long random password");
    assert.equal(creds.mqtt.topic_senml, "vitalog/dev/wear-9/senml");

    const again = vitalog("devices", "add", "--config", config, "--id", "wear-9", "--subject", "pt-9");
    assert.equal(again.status, 1);
    assert.match(again.stderr, /DEVICE_EXISTS/);

    const listed = vitalog("devices", "list", "--config", config);
    assert.equal(listed.status, 0);
    assert.deepEqual(
      listed.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).device_id),
      ["wear-9"],
    );
    assert.ok(!listed.stdout.includes(creds.mqtt.password), "list never shows the password");

    const { child, mqttPort } = await withFreshPort((adminPort) => {
      writeConfig(adminPort);
      return spawnGateway(config);
    });
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
      clientId: "wear-9",
      username: "wear-9",
      password: creds.mqtt.password,
      reconnectPeriod: 0,
    });
    await c.publishAsync(
      creds.mqtt.topic_senml,
      '[{"bn":"x:","n":"hr","u":"beat/min","v":88},{"n":"rr","u":"1/min","v":18}]',
      { qos: 1 },
    );
    await c.endAsync();

    const status = vitalog("status", "--config", config);
    assert.equal(status.status, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).readings_accepted, 2);

    const rows = vitalog("readings", "--config", config, "--device", "wear-9", "--since", "10m");
    assert.equal(rows.status, 0, rows.stderr);
    const readings = rows.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      readings.map((r) => [r.kind, r.value, r.unit, r.loinc, r.subject_id, r.seq]),
      [
        ["heart_rate", 88, "/min", "8867-4", "pt-9", 1],
        ["respiratory_rate", 18, "/min", "9279-1", "pt-9", 2],
      ],
    );
    const none = vitalog("readings", "--config", config, "--device", "other");
    assert.equal(none.stdout, "");

    child.kill("SIGTERM");
    assert.equal((await waitExit(child)).code, 0, "graceful stop exits 0");

    const removed = vitalog("devices", "remove", "--config", config, "--id", "wear-9");
    assert.equal(removed.status, 0);
    assert.equal(vitalog("devices", "list", "--config", config).stdout, "");
    assert.equal(vitalog("devices", "remove", "--config", config, "--id", "wear-9").status, 1);
  });

  it("answers usage errors with exit 64", () => {
    assert.equal(vitalog("frobnicate").status, 64);
    assert.equal(vitalog("readings", "--config").status, 64);
    assert.equal(vitalog("devices", "add", "--config", "x.yaml", "--bogus").status, 64);
  });

  it("runs the demo end to end for a few seconds, scoring NEWS2 per patient and alerting on the deteriorating one", () => {
    // [rules.news2.persistSec, 10 s] a patient's first values enter NEWS2 once they have persisted
    const r = vitalog("demo", "--devices", "3", "--seconds", "14");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Vitalog demo/);
    const stored = /stored (\d+) readings/.exec(
      r.stdout
        .split("\n")
        .filter((l) => l.includes("stored"))
        .at(-1)!,
    );
    assert.ok(stored && Number(stored[1]) > 0, "the simulated wearables' readings arrive");
    assert.match(r.stdout, /wear-001 +pt-001 +stable/);
    // the bedside entries (air, Alert) complete the stable patient's NEWS2 once its first pack has persisted:
    // all normal, 0
    assert.match(r.stdout, /^wear-001 +pt-001 +stable .* 0 zero /m);
    // the deteriorating patient is on oxygen with new confusion (2 + 3): a NEWS2 alert once its first pack has
    // persisted
    assert.match(r.stdout, /ALERT raise (MEDIUM|HIGH) pt-002 news2: NEWS2 \d+ \((medium|high) clinical risk/);
  });
});
