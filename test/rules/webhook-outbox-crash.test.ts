/** The webhook outbox survives SIGKILL: an alert raised while the receiver was down is delivered after restart. */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { spawnGateway, waitExit } from "../helpers/child-gateway.js";
import { tempDir, waitFor, writeSecret } from "../helpers/gateway.js";
import { startWebhookReceiver } from "./receivers.js";

const SECRET = "crash-webhook-secret";

describe("webhook outbox across SIGKILL (child-process gateway)", () => {
  const dir = tempDir("vitalog-outbox-crash-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("delivers, after a SIGKILL and restart, the alert that was committed but not yet delivered", async () => {
    // the receiver is down while the first life raises the alert, and comes back on its port after the
    // restart (startWebhookReceiver waits a bounded time should another process hold the port meanwhile)
    const down = await startWebhookReceiver(SECRET);
    const webPort = Number(new URL(down.url).port);
    await down.close();
    const configFile = join(dir, "vitalog.yaml");
    writeFileSync(
      configFile,
      [
        "gateway: { id: crash-gw, stateDir: state }",
        "mqtt: { host: 127.0.0.1, port: 0 }",
        "admin: { port: 0 }",
        "log: { level: info }",
        "devices:",
        `  - { id: cuff-k, subject: pt-k, passwordFile: ${writeSecret(dir, "cuff.pw", "cuff-secret")} }`,
        "alerts:",
        "  webhook:",
        `    url: http://127.0.0.1:${webPort}/alerts`,
        `    secretFile: ${writeSecret(dir, "webhook.key", SECRET)}`,
        "    retry: { initialDelayMs: 50, maxDelayMs: 200 }",
      ].join("\n"),
    );
    const first = await spawnGateway(configFile);
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.mqttPort}`, {
      clientId: "cuff-k",
      username: "cuff-k",
      password: "cuff-secret",
      reconnectPeriod: 0,
    });
    device.on("error", () => {});
    // the PUBACK comes after the group commit that also carried the alert transition and its outbox row
    await device.publishAsync(
      "vitalog/dev/cuff-k/json",
      JSON.stringify({ readings: [{ kind: "bp_systolic", value: 58, unit: "mm[Hg]" }] }),
      { qos: 1 },
    );
    first.child.kill("SIGKILL");
    assert.equal((await waitExit(first.child)).signal, "SIGKILL");
    await device.endAsync(true).catch(() => {});

    const dbFile = join(dir, "state", "vitalog.db");
    const pending = () => {
      const db = new Database(dbFile, { readonly: true });
      try {
        return db
          .prepare("SELECT event_id, delivered_at_ms FROM alert_outbox WHERE sink = 'alerts_webhook'")
          .all() as { event_id: string; delivered_at_ms: number | null }[];
      } finally {
        db.close();
      }
    };
    const before = pending();
    assert.equal(before.length, 1);
    assert.equal(before[0]!.delivered_at_ms, null);

    const web = await startWebhookReceiver(SECRET, webPort);
    const second = await spawnGateway(configFile);
    try {
      await waitFor(() => web.hits.length > 0, 10_000, "webhook after restart");
      const hit = web.hits[0]!;
      assert.equal(hit.eventId, before[0]!.event_id);
      assert.equal(hit.isSignatureValid, true);
      const body = JSON.parse(hit.body);
      assert.equal(body.transition, "raise");
      assert.equal(body.rule_id, "threshold.bp_systolic.low");
      await waitFor(() => pending()[0]!.delivered_at_ms !== null, 10_000, "outbox row marked delivered");
    } finally {
      second.child.kill("SIGTERM");
      await waitExit(second.child);
      await web.close();
    }
  });
});
