/**
 * Escalation recipients resolve to real destinations: the defaults page an MQTT topic per ladder recipient, an
 * explicit `alerts.recipients` map must cover the whole ladder, and every destination's sink must exist. A
 * mistake is listed with every other problem of the file (exit 78). Also the page check's durable-sink states and
 * the nobody-listening grace, on in-memory stand-ins (the end-to-end tests use the real broker and receivers).
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { systemClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { GatewayError } from "../../src/errors.js";
import {
  ListenerPresence,
  ListenerPresenceRule,
  NO_CONSUMER_RULE_ID,
} from "../../src/rules/listener-presence-rule.js";
import type { ConditionUpdate } from "../../src/rules/rule.js";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import type { SinkHealth } from "../../src/rules/sinks/alert-sink.js";
import type { OutboxOutcome } from "../../src/rules/sinks/alert-store.js";
import { topicMatches } from "../../src/rules/sinks/consumers.js";
import { type PagedSink, RecipientRouter } from "../../src/rules/sinks/recipients.js";
import { effectiveRecipients } from "../../src/rules/sinks/sinks-config.js";
import { tempDir, writeSecret } from "../helpers/gateway.js";

const dir = tempDir("vitalog-recipients-");
after(() => rmSync(dir, { recursive: true, force: true }));
writeSecret(dir, "hook.key", "whsec-0123456789");

function load(yaml: string) {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `gateway: { id: gw-1, stateDir: state }\n${yaml}`);
  return loadConfig(file);
}

function problemsOf(yaml: string): string[] {
  try {
    load(yaml);
  } catch (err) {
    assert.ok(err instanceof GatewayError, String(err));
    assert.equal(err.exitCode, 78);
    return (err.details as { path: string; message: string }[]).map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail("the config was accepted");
}

describe("recipients configuration", () => {
  it("pages an MQTT topic under the alert prefix for every ladder recipient by default", () => {
    const c = load("");
    const r = effectiveRecipients(c.alerts, c.rules.alarms);
    assert.deepEqual(Object.fromEntries(r), {
      charge_nurse: [{ sink: "mqtt", address: "vitalog/alerts/page/charge_nurse" }],
      rapid_response_team: [{ sink: "mqtt", address: "vitalog/alerts/page/rapid_response_team" }],
    });
  });

  it("resolves explicit destinations: a topic, the webhook with its address (default the name), the MLLP Alert Manager", () => {
    const c = load(`alerts:
  webhook: { url: "https://pager.example.invalid/hook", secretFile: hook.key }
  mllp: { host: 127.0.0.1, port: 2575 }
  recipients:
    charge_nurse: [{ sink: mqtt, topic: vitalog/alerts/page/ward7/charge }, { sink: webhook, address: "bleep 4411" }]
    rapid_response_team: [{ sink: webhook }, { sink: mllp }]
`);
    assert.deepEqual(Object.fromEntries(effectiveRecipients(c.alerts, c.rules.alarms)), {
      charge_nurse: [
        { sink: "mqtt", address: "vitalog/alerts/page/ward7/charge" },
        { sink: "webhook", address: "bleep 4411" },
      ],
      rapid_response_team: [
        { sink: "webhook", address: "rapid_response_team" },
        { sink: "mllp", address: null },
      ],
    });
  });

  it("refuses a ladder recipient without a destination and destinations that cannot deliver, with the file's other problems", () => {
    const problems = problemsOf(`rules:
  alarms:
    escalation:
      high: [{ afterSec: 60, recipient: charge_nurse, raisePriority: false }, { afterSec: 60, recipient: outreach, raisePriority: false }]
      medium: [{ afterSec: 180, recipient: charge_nurse, raisePriority: true }]
      low: []
alerts:
  consumers: [{ id: station-1, passwordFile: missing.pw }]
  recipients:
    charge_nurse: [{ sink: webhook }, { sink: mqtt, topic: vitalog/alerts/events }, { sink: mllp }]
`);
    assert.deepEqual(problems.sort(), [
      `alerts.consumers.0.passwordFile: file ${join(dir, "missing.pw")} is missing or unreadable`,
      "alerts.recipients.charge_nurse.0: sink webhook needs alerts.webhook",
      "alerts.recipients.charge_nurse.1.topic: must be under vitalog/alerts/page/",
      "alerts.recipients.charge_nurse.2: sink mllp needs alerts.mllp",
      "rules.alarms.escalation.high.1.recipient: recipient outreach is not listed in alerts.recipients",
    ]);
  });

  it("refuses a default page topic for a recipient name that is not one topic level", () => {
    const problems = problemsOf(`rules:
  alarms:
    escalation:
      high: [{ afterSec: 60, recipient: "charge nurse", raisePriority: false }]
      medium: []
      low: []
`);
    assert.equal(problems.length, 1);
    assert.match(
      problems[0]!,
      /^rules\.alarms\.escalation\.high\.0\.recipient: recipient charge nurse cannot name a page topic/,
    );
  });
});

describe("MQTT topic filters (MQTT 3.1.1 §4.7)", () => {
  it("matches + on one level and # on the rest, the parent level included", () => {
    assert.equal(topicMatches("vitalog/alerts/page/+", "vitalog/alerts/page/charge_nurse"), true);
    assert.equal(topicMatches("vitalog/alerts/#", "vitalog/alerts/page/charge_nurse"), true);
    assert.equal(topicMatches("vitalog/alerts/#", "vitalog/alerts"), true);
    assert.equal(topicMatches("vitalog/alerts/page/+", "vitalog/alerts/page/a/b"), false);
    assert.equal(topicMatches("vitalog/alerts/events", "vitalog/alerts/active"), false);
    assert.equal(topicMatches("vitalog/+/events", "vitalog/alerts/events"), true);
  });
});

/** An escalation to `recipient` as the message constructor builds it. */
function escalation(router: RecipientRouter, recipient: string, atMs: number, n = 1): AlertMessage {
  const e = {
    alert_id: `a-${n}`,
    condition: `pt-1:threshold.spo2.low`,
    rule_id: "threshold.spo2.low",
    subject_id: "pt-1",
    device_id: "ox-1",
    priority: "high",
    category: "physiological",
    state: "raised",
    reason: "SpO2 80 % below 85 %",
    raised_at_ms: 0,
    observed_at_ms: 0,
    condition_active: true,
    escalation_level: 1,
    recipient,
    silenced_until_ms: null,
    acknowledged_by: null,
    transition: "escalate",
    at_ms: atMs,
    by: null,
    v: 1,
    event_id: `ev-${n}-${atMs}`,
    gateway_id: "gw-1",
    via: null,
  } as const;
  const page = router.pageOf(e);
  return { ...e, ...(page ? { page } : {}) };
}

function stubSink(name: string) {
  const outcomes = new Map<string, OutboxOutcome>();
  let health: SinkHealth = {
    isUp: true,
    downSinceMs: null,
    pending: 0,
    delivered: 0,
    deadLettered: 0,
    lastError: null,
  };
  const sink: PagedSink = { name, health: () => health, outcomeOf: (id) => outcomes.get(id) };
  return {
    sink,
    outcomes,
    down(since: number, error: string) {
      health = { ...health, isUp: false, downSinceMs: since, lastError: error };
    },
  };
}

describe("page delivery check", () => {
  it("a webhook page is pending until confirmed, undelivered when unconfirmed past pageConfirmSec, dead-lettered or the sink is down", () => {
    const web = stubSink("alerts_webhook");
    const router = new RecipientRouter({
      recipients: new Map([["charge_nurse", [{ sink: "webhook", address: "pager-1" }]]]),
      publish: () => {},
      subscribers: () => [],
      durableSink: (kind) => (kind === "webhook" ? web.sink : undefined),
      pageConfirmSec: 5,
      streamRecipient: "primary_nurse",
      clock: systemClock,
    });
    const m = escalation(router, "charge_nurse", 1000);
    router.deliver(m);
    assert.deepEqual(router.undelivered(5999), []);
    assert.deepEqual(router.undelivered(6000), [
      {
        recipient: "charge_nurse",
        priority: "high",
        ruleIds: ["threshold.spo2.low"],
        problems: ["webhook has not confirmed the page within 5 s"],
      },
    ]);
    web.down(2000, "webhook unreachable: ECONNREFUSED");
    assert.deepEqual(router.undelivered(2500)[0]?.problems, [
      "webhook down: webhook unreachable: ECONNREFUSED",
    ]);
    web.outcomes.set(m.event_id, { delivered: true, atMs: 7000, attempts: 3 });
    assert.deepEqual(router.undelivered(7000), []);

    const refused = escalation(router, "charge_nurse", 8000, 2);
    router.deliver(refused);
    web.outcomes.set(refused.event_id, {
      dead: true,
      atMs: 8001,
      attempts: 1,
      error: "webhook answered HTTP 400",
    });
    assert.deepEqual(router.undelivered(8002)[0]?.problems, [
      "webhook refused the page: webhook answered HTTP 400",
    ]);
    router.deliver({
      ...refused,
      transition: "acknowledge",
      event_id: "ev-ack",
      page: undefined,
    } as AlertMessage);
    assert.deepEqual(router.undelivered(8003), []);
  });

  it("an MQTT page without a subscriber is undelivered, and published again once one subscribes", () => {
    const published: string[] = [];
    let subscribed: string[] = [];
    const router = new RecipientRouter({
      recipients: new Map([
        ["charge_nurse", [{ sink: "mqtt", address: "vitalog/alerts/page/charge_nurse" }]],
      ]),
      publish: (topic) => published.push(topic),
      subscribers: () => subscribed,
      durableSink: () => undefined,
      pageConfirmSec: 5,
      streamRecipient: "primary_nurse",
      clock: systemClock,
    });
    router.deliver(escalation(router, "charge_nurse", 1000));
    assert.deepEqual(published, ["vitalog/alerts/page/charge_nurse"]);
    assert.deepEqual(router.undelivered(1000)[0]?.problems, [
      "no consumer subscribed to vitalog/alerts/page/charge_nurse",
    ]);
    subscribed = ["pager-1"];
    assert.deepEqual(router.undelivered(1500), []);
    router.sweep();
    assert.deepEqual(published, ["vitalog/alerts/page/charge_nurse", "vitalog/alerts/page/charge_nurse"]);
    router.sweep();
    assert.equal(published.length, 2, "published again once only");
  });

  it("an escalation to a ladder recipient with no destination is undelivered; the primary recipient without one is never paged", () => {
    const router = new RecipientRouter({
      recipients: new Map(),
      publish: () => {},
      subscribers: () => [],
      durableSink: () => undefined,
      pageConfirmSec: 5,
      streamRecipient: "primary_nurse",
      clock: systemClock,
    });
    assert.equal(router.pageOf({ transition: "raise", recipient: "primary_nurse" }), undefined);
    // a priority rise from the rule is an escalate too, still to the primary recipient
    assert.equal(router.pageOf({ transition: "escalate", recipient: "primary_nurse" }), undefined);
    assert.equal(router.pageOf({ transition: "acknowledge", recipient: "outreach" }), undefined);
    router.deliver(escalation(router, "outreach", 1000));
    assert.deepEqual(router.undelivered(1000)[0]?.problems, ["no destination configured"]);
  });
});

describe("nobody listening: grace period", () => {
  const kinds = (u: readonly ConditionUpdate[]) =>
    u
      .filter((x) => (x.type === "active" ? x.condition.ruleId : x.key).includes(NO_CONSUMER_RULE_ID))
      .map((x) => x.type);

  it("raises no_alert_consumer only after graceSec without a listener, from start-up and from the last one leaving", () => {
    let subscribed: string[] = [];
    const presence = new ListenerPresence({
      streamTopics: ["vitalog/alerts/events"],
      subscribers: () => subscribed,
    });
    const rule = new ListenerPresenceRule({
      presence,
      undelivered: () => [],
      gatewayId: "gw-1",
      graceSec: 30,
      priority: "medium",
      streamText: "vitalog/alerts/events",
    });
    const tick = (atMs: number) => kinds(rule.evaluate({ type: "tick", atMs }, atMs));
    assert.deepEqual(tick(0), []);
    assert.deepEqual(tick(29_999), []);
    assert.deepEqual(tick(30_000), ["active"]);
    subscribed = ["station-1"];
    assert.deepEqual(tick(31_000), ["clear"]);
    subscribed = [];
    assert.deepEqual(tick(40_000), []);
    assert.deepEqual(tick(69_999), []);
    assert.deepEqual(tick(70_000), ["active"]);
    const release = presence.attach("ward7-desk");
    assert.deepEqual(presence.listeners(), ["station ward7-desk"]);
    assert.deepEqual(tick(71_000), ["clear"]);
    release();
    release();
    assert.deepEqual(presence.listeners(), []);
  });
});
