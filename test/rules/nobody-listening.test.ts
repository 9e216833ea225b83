/**
 * A distributed alarm system that knows when nobody listens [IEC 60601-1-8 §6.11], end to end: a running gateway
 * (real aedes broker on loopback, real SQLite) and a real webhook receiver. When the last alert consumer
 * disconnects, `technical.no_alert_consumer` goes out through the webhook after the grace period; a consumer
 * reconnecting clears it. A ward-station session attached through the presence port counts as a listener; a
 * device cannot. With no consumer configured at all, the gateway warns at start-up.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import { Gateway } from "../../src/app/gateway.js";
import { systemClock } from "../../src/clock.js";
import { parseConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { NO_CONSUMER_RULE_ID } from "../../src/rules/listener-presence-rule.js";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { startTestGateway, type TestGateway, tempDir, waitFor, writeSecret } from "../helpers/gateway.js";
import { type AlertTestGateway, startAlertGateway } from "./alert-helpers.js";
import { startWebhookReceiver } from "./receivers.js";

const SECRET = "whsec-listeners-0123456789";
const retry = { initialDelayMs: 20, maxDelayMs: 200, jitter: 0.5 };

type Receiver = Awaited<ReturnType<typeof startWebhookReceiver>>;
const bodies = (web: Receiver, from = 0) =>
  web.hits
    .slice(from)
    .map((h) => ({ ...(JSON.parse(h.body) as AlertMessage), isSigned: h.isSignatureValid }));
const noConsumer = (web: Receiver, transition: string, from = 0) =>
  bodies(web, from).find((b) => b.rule_id === NO_CONSUMER_RULE_ID && b.transition === transition);

describe("nobody listening: the last consumer leaving", () => {
  let t: AlertTestGateway;
  let web: Receiver;

  before(async () => {
    web = await startWebhookReceiver(SECRET);
    const dir = tempDir("vitalog-listeners-");
    t = await startAlertGateway({
      rules: { alarms: { clearHoldSec: 0 } },
      alerts: {
        webhook: { url: web.url, secretFile: writeSecret(dir, "webhook.key", SECRET), retry },
        noConsumer: { graceSec: 1 },
      },
    } as never);
  });
  after(async () => {
    await t.close();
    await web.close();
  });

  it("raises technical.no_alert_consumer through the webhook when the last consumer disconnects, and clears it when one reconnects", async () => {
    const station = await t.station();
    const engine = t.gw.rules.engine;
    // whatever was raised before the station connected has ended
    await waitFor(
      () => !engine.activeAlerts().some((a) => a.rule_id === NO_CONSUMER_RULE_ID),
      10_000,
      "no alarm",
    );
    assert.deepEqual(t.gw.rules.listeners.listeners(), ["consumer station-1"]);
    const from = web.hits.length;
    await station.client.endAsync();
    await waitFor(() => noConsumer(web, "raise", from) !== undefined, 10_000, "alarm on the webhook");
    const raised = noConsumer(web, "raise", from)!;
    assert.equal(raised.isSigned, true);
    assert.equal(raised.category, "technical");
    assert.equal(raised.priority, "medium");
    assert.equal(raised.subject_id, t.gw.config.gateway.id);
    assert.match(raised.reason, /^no alert consumer connected: nobody receives alerts/);

    const back = await t.station();
    await waitFor(
      () => bodies(web, from).some((b) => b.alert_id === raised.alert_id && b.transition === "resolve"),
      10_000,
      "cleared on the webhook",
    );
    assert.ok(!back.events.some((m) => m.alert_id === raised.alert_id && m.transition === "raise"));
  });
});

describe("nobody listening: stations and devices", () => {
  let t: TestGateway;
  let web: Receiver;

  before(async () => {
    web = await startWebhookReceiver(SECRET);
    const dir = tempDir("vitalog-listeners-none-");
    t = await startTestGateway({
      rules: { alarms: { clearHoldSec: 0 } },
      alerts: {
        webhook: { url: web.url, secretFile: writeSecret(dir, "webhook.key", SECRET), retry },
        noConsumer: { graceSec: 1 },
      },
    } as never);
  });
  after(async () => {
    await t.close();
    await web.close();
  });

  it("raises the alarm after start-up when nobody listens, clears it for an attached station session, raises it again on release", async () => {
    await waitFor(() => noConsumer(web, "raise") !== undefined, 10_000, "alarm after start-up");
    const first = noConsumer(web, "raise")!;
    const release = t.gw.rules.listeners.attach("ward7-desk");
    await waitFor(
      () => bodies(web).some((b) => b.alert_id === first.alert_id && b.transition === "resolve"),
      10_000,
      "cleared by the station session",
    );
    const from = web.hits.length;
    release();
    await waitFor(() => noConsumer(web, "raise", from) !== undefined, 10_000, "alarm after release");
    assert.notEqual(noConsumer(web, "raise", from)!.alert_id, first.alert_id);
  });

  it("does not count a device that tries to subscribe to the alert stream", async () => {
    const password = await t.provision("ox-1");
    const device = await t.connect("ox-1", password);
    // SUBACK 0x80: mqtt.js rejects the subscription
    await assert.rejects(device.subscribeAsync("vitalog/alerts/events", { qos: 1 }), /Subscribe error/);
    assert.deepEqual(t.gw.rules.listeners.listeners(), []);
    await waitFor(
      () => t.gw.rules.engine.activeAlerts().some((a) => a.rule_id === NO_CONSUMER_RULE_ID),
      10_000,
      "alarm still active",
    );
  });
});

describe("nobody listening: start-up warning", () => {
  it("warns at start-up when no alert consumer is configured", async () => {
    const dir = tempDir("vitalog-listeners-warn-");
    const lines: string[] = [];
    const out = new PassThrough();
    out.on("data", (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter(Boolean)));
    const config = parseConfig(
      {
        gateway: { id: "warn-gw", origin: "test.vitalog.invalid/gw/warn-gw", stateDir: dir },
        mqtt: { port: 0 },
        admin: { port: 0 },
      },
      dir,
    );
    const gw = await Gateway.start(config, { log: createLogger("warn", out), clock: systemClock });
    try {
      await waitFor(
        () => lines.some((l) => l.includes("no alert consumer is configured")),
        5000,
        "start-up warning",
      );
      const warning = JSON.parse(lines.find((l) => l.includes("no alert consumer is configured"))!);
      assert.equal(warning.level, 40);
      assert.equal(warning.rule, NO_CONSUMER_RULE_ID);
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
