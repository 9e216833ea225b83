/** The durable sinks inside a running gateway, against a real HTTP receiver and a real MLLP alert manager. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { waitFor, writeSecret } from "../helpers/gateway.js";
import { type AlertTestGateway, startAlertGateway } from "./alert-helpers.js";
import { hl7Field, startMllpReceiver, startWebhookReceiver } from "./receivers.js";

const SECRET = "whsec-test-0123456789";
const retry = { initialDelayMs: 20, maxDelayMs: 200, jitter: 0.5 };

type Outbox = { sink: string; delivered_at_ms: number | null; dead_at_ms: number | null; attempts: number };

describe("webhook and HL7 PCD-04 sinks in a running gateway", () => {
  let t: AlertTestGateway;
  let web: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let am: Awaited<ReturnType<typeof startMllpReceiver>>;
  const outbox = (eventId: string) =>
    t.gw.db
      .prepare(
        "SELECT sink, delivered_at_ms, dead_at_ms, attempts FROM alert_outbox WHERE event_id = ? ORDER BY sink",
      )
      .all(eventId) as Outbox[];
  let n = 0;
  /** Raises a fresh HIGH alert from a new device and returns its raise message. */
  const raise = async (): Promise<AlertMessage> => {
    const station = await t.station();
    const dev = await t.device(`cuff-${++n}`);
    await dev.send("bp_systolic", 60, "mm[Hg]");
    return station.next((m) => m.transition === "raise" && m.device_id === `cuff-${n}`);
  };

  before(async () => {
    web = await startWebhookReceiver(SECRET);
    am = await startMllpReceiver();
    const dir = (await import("../helpers/gateway.js")).tempDir("vitalog-wh-");
    t = await startAlertGateway({
      alerts: {
        webhook: { url: web.url, secretFile: writeSecret(dir, "webhook.key", SECRET), retry },
        mllp: {
          host: "127.0.0.1",
          port: am.port,
          sendingFacility: "WARD7",
          pointOfCare: "WARD7",
          ackTimeoutMs: 300,
          retry,
        },
        sinkDownAlarmSec: 0.5,
      },
    });
  });
  after(async () => {
    await t.close();
    await web.close();
    await am.close();
  });

  it("posts a signed JSON body and sends an ORU^R40 that the alert manager ACKs; both marked delivered", async () => {
    const m = await raise();
    await waitFor(() => web.hits.some((h) => h.eventId === m.event_id), 5000, "webhook");
    const hit = web.hits.find((h) => h.eventId === m.event_id)!;
    assert.equal(hit.isSignatureValid, true);
    assert.deepEqual(JSON.parse(hit.body), m);
    await waitFor(
      () => am.hits.some((h) => hl7Field(h.message, "OBR", 3)?.startsWith(m.alert_id) ?? false),
      5000,
      "mllp",
    );
    const oru = am.hits.find((h) => hl7Field(h.message, "OBR", 3)?.startsWith(m.alert_id))!;
    assert.equal(hl7Field(oru.message, "MSH", 9), "ORU^R40^ORU_R40");
    assert.equal(hl7Field(oru.message, "PID", 3), `${m.subject_id}^^^^MR`);
    await waitFor(() => outbox(m.event_id).every((r) => r.delivered_at_ms !== null), 5000, "outbox marks");
    assert.deepEqual(
      outbox(m.event_id).map((r) => r.sink),
      ["alerts_mllp", "alerts_webhook"],
    );
  });

  it("retries an AE (and a webhook 503) and dead-letters an AR (and a webhook 400) without blocking the next", async () => {
    am.setRespond((hit) =>
      am.hits.filter((h) => h.controlId.split(".")[0] === hit.controlId.split(".")[0]).length === 1
        ? "AE"
        : "AA",
    );
    let calls = 0;
    web.setStatus(() => (++calls === 1 ? 503 : 204));
    const retried = await raise();
    await waitFor(
      () => outbox(retried.event_id).every((r) => r.delivered_at_ms !== null),
      5000,
      "delivered after retry",
    );
    assert.ok(outbox(retried.event_id).every((r) => r.attempts === 2));

    am.setRespond(() => "AR");
    web.setStatus(() => 400);
    const refused = await raise();
    await waitFor(() => outbox(refused.event_id).every((r) => r.dead_at_ms !== null), 5000, "dead-lettered");
    am.setRespond(() => "AA");
    web.setStatus(() => 204);
    const next = await raise();
    await waitFor(
      () => outbox(next.event_id).every((r) => r.delivered_at_ms !== null),
      5000,
      "next delivered",
    );
  });

  it("reconnects after a missing ACK and after the alert manager drops the connection", async () => {
    const before = am.connections;
    let first = true;
    am.setRespond(() => {
      if (!first) return "AA";
      first = false;
      return null; // no ACK: the sink times out, closes, reconnects and re-sends
    });
    const m = await raise();
    await waitFor(() => outbox(m.event_id).every((r) => r.delivered_at_ms !== null), 5000, "after timeout");
    assert.ok(am.connections > before);
    am.dropConnections();
    const m2 = await raise();
    await waitFor(() => outbox(m2.event_id).every((r) => r.delivered_at_ms !== null), 5000, "after drop");
  });

  it("raises a technical alarm on MQTT when a sink stays down (distributed alarm system)", async () => {
    web.setStatus(() => 503);
    await raise();
    // the alarm may already exist from an earlier outage (held 30 s after clearing): look at the active set
    const isDown = (a: { rule_id: string; condition_active: boolean }) =>
      a.rule_id === "technical.alert_sink_down" && a.condition_active;
    await waitFor(() => t.gw.rules.engine.activeAlerts().some(isDown), 10_000, "sink-down alarm");
    const down = t.gw.rules.engine.activeAlerts().find(isDown)!;
    assert.equal(down.category, "technical");
    assert.equal(down.subject_id, "test-gw");
    assert.match(down.reason, /alerts_webhook/);
    const station = await t.station(); // a screen connecting now
    const active = new Promise<{ alerts: { alert_id: string }[] }>((resolve) =>
      station.client.on(
        "message",
        (topic, p) => topic === "vitalog/alerts/active" && resolve(JSON.parse(p.toString())),
      ),
    );
    await station.client.subscribeAsync("vitalog/alerts/active", { qos: 1 });
    assert.ok(
      (await active).alerts.some((a) => a.alert_id === down.alert_id),
      "shown to nurse stations",
    );
    web.setStatus(() => 204);
    await waitFor(
      () =>
        t.gw.status().alerts_webhook !== undefined && (t.gw.status().alerts_webhook as { up: boolean }).up,
      5000,
      "webhook up",
    );
  });
});
