/**
 * Escalation recipients, end to end: a running gateway (real aedes broker on loopback, real SQLite), a real
 * webhook receiver, nurse-station and pager consumers over MQTT. An unacknowledged HIGH alert pages the charge
 * nurse on her MQTT page topic and through the webhook (recipient and address in the signed body); a recipient
 * nobody subscribes to raises `technical.escalation_undeliverable`, delivered through the other sinks, which clears
 * once the recipient subscribes, or once the alert paged is acknowledged. A recipient paged through the IHE
 * Alert Manager (MLLP, a real loopback receiver) is reached when it ACKs the escalation, and not when it refuses it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { UNDELIVERABLE_RULE_ID } from "../../src/rules/sinks/recipients.js";
import { tempDir, waitFor, writeSecret } from "../helpers/gateway.js";
import { type AlertTestGateway, type Station, startAlertGateway, WALL } from "./alert-helpers.js";
import { hl7Field, startMllpReceiver, startWebhookReceiver } from "./receivers.js";

const SECRET = "whsec-recipients-0123456789";
const CHARGE_TOPIC = "vitalog/alerts/page/charge_nurse";
const RRT_TOPIC = "vitalog/alerts/page/rapid_response_team";

describe("escalation recipients in a running gateway", () => {
  let t: AlertTestGateway;
  let web: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let station: Station;
  let pager: MqttClient;
  const paged: { topic: string; message: AlertMessage }[] = [];
  const webBodies = () => web.hits.map((h) => JSON.parse(h.body) as AlertMessage);
  let n = 0;
  /** Raises a fresh HIGH alert (systolic 60 mmHg) from a new device; returns its raise. */
  const raise = async (): Promise<AlertMessage> => {
    const dev = await t.device(`cuff-${++n}`);
    await dev.send("bp_systolic", 60, "mm[Hg]");
    return station.next((m) => m.transition === "raise" && m.device_id === `cuff-${n}`, "raise");
  };

  before(async () => {
    web = await startWebhookReceiver(SECRET);
    const dir = tempDir("vitalog-recipients-e2e-");
    t = await startAlertGateway({
      rules: {
        alarms: {
          // short rungs so the test does not wait minutes; the defaults are 60 s and 120 s
          escalation: {
            high: [
              { afterSec: 1, recipient: "charge_nurse", raisePriority: false },
              { afterSec: 1, recipient: "rapid_response_team", raisePriority: false },
            ],
            medium: [],
            low: [],
          },
          latchingPriorities: [],
          clearHoldSec: 0,
        },
      },
      alerts: {
        webhook: {
          url: web.url,
          secretFile: writeSecret(dir, "webhook.key", SECRET),
          retry: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0.5 },
        },
        recipients: {
          charge_nurse: [{ sink: "mqtt" }, { sink: "webhook", address: "pager-4411" }],
          rapid_response_team: [{ sink: "mqtt" }],
        },
      },
    } as never);
    station = await t.station();
    pager = await mqtt.connectAsync(t.url, {
      clientId: `${WALL}/pager`,
      username: WALL,
      password: "wall-pw",
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    pager.on("message", (topic, payload) => {
      if (payload.length > 0) paged.push({ topic, message: JSON.parse(payload.toString()) });
    });
    await pager.subscribeAsync(CHARGE_TOPIC, { qos: 1 });
  });
  after(async () => {
    await pager.endAsync(true).catch(() => {});
    await t.close();
    await web.close();
  });

  it("pages the charge nurse's MQTT topic and the webhook, with the recipient and address, when a HIGH alert stays unacknowledged", async () => {
    const raised = await raise();
    await waitFor(
      () => paged.some((p) => p.message.alert_id === raised.alert_id && p.message.transition === "escalate"),
      10_000,
      "page on the charge nurse's topic",
    );
    const page = paged.find((p) => p.message.alert_id === raised.alert_id)!;
    assert.equal(page.topic, CHARGE_TOPIC);
    assert.equal(page.message.recipient, "charge_nurse");
    assert.deepEqual(page.message.page, {
      recipient: "charge_nurse",
      destinations: [
        { sink: "mqtt", address: CHARGE_TOPIC },
        { sink: "webhook", address: "pager-4411" },
      ],
    });
    await waitFor(() => web.hits.some((h) => h.eventId === page.message.event_id), 5000, "webhook page");
    const hit = web.hits.find((h) => h.eventId === page.message.event_id)!;
    assert.equal(hit.isSignatureValid, true);
    assert.deepEqual(JSON.parse(hit.body), page.message);
  });

  it("raises technical.escalation_undeliverable through the webhook when the next recipient has no subscriber, and clears it once one subscribes", async () => {
    const tech = await station.next(
      (m) => m.rule_id === UNDELIVERABLE_RULE_ID && m.transition === "raise",
      "undeliverable alarm",
    );
    assert.equal(tech.category, "technical");
    assert.equal(tech.priority, "high");
    assert.equal(tech.subject_id, t.gw.config.gateway.id);
    assert.match(
      tech.reason,
      /^page to rapid_response_team reached nobody \(1 alert: threshold\.bp_systolic\.low\)/,
    );
    assert.match(tech.reason, /no consumer subscribed to vitalog\/alerts\/page\/rapid_response_team/);
    // the charge nurse was reached: no alarm names her
    assert.ok(
      !station.events.some((m) => m.rule_id === UNDELIVERABLE_RULE_ID && m.reason.includes("charge_nurse")),
    );
    await waitFor(() => webBodies().some((b) => b.event_id === tech.event_id), 5000, "alarm on the webhook");

    const escalated = station.events.find(
      (m) => m.transition === "escalate" && m.recipient === "rapid_response_team",
    )!;
    await pager.subscribeAsync(RRT_TOPIC, { qos: 1 });
    // the page that reached nobody is published again for the recipient now listening, same event id
    await waitFor(
      () => paged.some((p) => p.topic === RRT_TOPIC && p.message.event_id === escalated.event_id),
      5000,
      "page published again",
    );
    await station.next(
      (m) => m.alert_id === tech.alert_id && m.transition === "resolve",
      "undeliverable alarm resolved",
    );
  });

  it("clears the undeliverable alarm when the alert paged is acknowledged, and pages nobody after that", async () => {
    await pager.unsubscribeAsync(RRT_TOPIC);
    const raised = await raise();
    const tech = await station.next(
      (m) => m.rule_id === UNDELIVERABLE_RULE_ID && m.transition === "raise" && m.at_ms > raised.at_ms,
      "undeliverable alarm for the new alert",
    );
    assert.match(tech.reason, /^page to rapid_response_team reached nobody/);
    const reply = await station.command("ack", { alert_id: raised.alert_id, by: "nurse.jane" });
    assert.equal(reply.ok, true);
    await station.next((m) => m.alert_id === tech.alert_id && m.transition === "resolve", "alarm resolved");
    assert.ok(
      !t.gw.rules.engine
        .activeAlerts()
        .some((a) => a.rule_id === UNDELIVERABLE_RULE_ID && a.condition_active),
    );
  });
});

/** The OBX-5 value of facet `facet` (OBX-4 `1.0.0.0.<facet>`) of an ORU^R40. */
function facet(message: string, n: number): string | undefined {
  const obx = message.split("\r").find((x) => x.startsWith("OBX|") && x.split("|")[4] === `1.0.0.0.${n}`);
  return obx?.split("|")[5];
}

describe("a recipient paged through the MLLP Alert Manager", () => {
  let t: AlertTestGateway;
  let am: Awaited<ReturnType<typeof startMllpReceiver>>;
  let station: Station;
  let n = 0;
  const raise = async (): Promise<AlertMessage> => {
    const dev = await t.device(`mon-${++n}`);
    await dev.send("bp_systolic", 60, "mm[Hg]");
    return station.next((m) => m.transition === "raise" && m.device_id === `mon-${n}`, "raise");
  };
  /** The ORU^R40 of the escalation of `alertId`, once the Alert Manager received it. */
  const escalationAt = async (alertId: string) => {
    const isIt = (message: string) =>
      (hl7Field(message, "OBR", 3)?.startsWith(`${alertId}^`) ?? false) && facet(message, 3) === "escalate";
    await waitFor(() => am.hits.some((h) => isIt(h.message)), 10_000, "escalation at the Alert Manager");
    return am.hits.find((h) => isIt(h.message))!;
  };

  before(async () => {
    am = await startMllpReceiver();
    t = await startAlertGateway({
      rules: {
        alarms: {
          escalation: {
            high: [{ afterSec: 1, recipient: "rapid_response_team", raisePriority: false }],
            medium: [],
            low: [],
          },
          latchingPriorities: [],
          clearHoldSec: 0,
        },
      },
      alerts: {
        mllp: {
          host: "127.0.0.1",
          port: am.port,
          ackTimeoutMs: 500,
          retry: { initialDelayMs: 20, maxDelayMs: 200 },
        },
        recipients: { rapid_response_team: [{ sink: "mllp" }] },
      },
    } as never);
    station = await t.station();
  });
  after(async () => {
    await t.close();
    await am.close();
  });

  it("hands the escalation to the Alert Manager as event phase escalate, and raises nothing when it is ACKed", async () => {
    const raised = await raise();
    const escalate = await station.next(
      (m) => m.alert_id === raised.alert_id && m.transition === "escalate",
      "escalation",
    );
    assert.deepEqual(escalate.page, {
      recipient: "rapid_response_team",
      destinations: [{ sink: "mllp", address: null }],
    });
    const oru = await escalationAt(raised.alert_id);
    assert.equal(oru.answered, "AA");
    // the ACK is in: the page was reached, so the ack below settles nothing that was ever raised
    await waitFor(
      () => t.gw.rules.sinks.find((s) => s.name === "alerts_pages")!.health().pending === 0,
      10_000,
      "page settled",
    );
    assert.ok(!station.events.some((m) => m.rule_id === UNDELIVERABLE_RULE_ID));
  });

  it("raises technical.escalation_undeliverable when the Alert Manager refuses the escalation (AR)", async () => {
    am.setRespond((hit) => (facet(hit.message, 3) === "escalate" ? "AR" : "AA"));
    const raised = await raise();
    await escalationAt(raised.alert_id);
    const tech = await station.next(
      (m) => m.rule_id === UNDELIVERABLE_RULE_ID && m.transition === "raise",
      "undeliverable alarm",
    );
    assert.match(
      tech.reason,
      /^page to rapid_response_team reached nobody \(1 alert: threshold\.bp_systolic\.low\): mllp refused the page: alert manager answered AR/,
    );
  });
});
