/**
 * Alarms end with their patient, in the rule engine: a removed or re-bound device's technical alarms are resolved
 * at once with the reason and nothing of the former subject carries over; an erased subject's alarms are resolved
 * and nothing is raised, escalated or scored for it afterwards. The durable sinks drop an erased subject's queued
 * messages. `vitalog subjects erase` erases nothing (exit 75) when the daemon's state is unknown.
 */

import assert from "node:assert/strict";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { subjectsCommand } from "../../src/cli/subjects.js";
import { ManualClock } from "../../src/clock.js";
import { ControlServer } from "../../src/control/control-socket.js";
import { ControlRefusal } from "../../src/core/ports.js";
import { createLogger } from "../../src/log.js";
import { Metrics } from "../../src/metrics.js";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { DeliveryQueue, type DeliveryTransport } from "../../src/rules/sinks/delivery-queue.js";
import { reconcileBindings, SUBJECT_ERASE_OP } from "../../src/rules/subject-lifecycle.js";
import { tempDir } from "../helpers/gateway.js";
import { harness, reading } from "./helpers.js";

const BATTERY_LOW = { batteryPct: 10 };

describe("device removal and re-binding", () => {
  it("resolves a removed device's technical alarms at once with the reason, and raises no device-silent alarm for it", () => {
    const h = harness();
    h.engine.watchDevice("dev-1", "p1");
    h.engine.onDeviceStatus("dev-1", "p1", BATTERY_LOW);
    h.engine.onReading(reading(h.clock, "bp_systolic", 65));
    assert.deepEqual(
      h.engine
        .activeAlerts()
        .map((a) => a.rule_id)
        .sort(),
      ["technical.battery_low", "threshold.bp_systolic.low"],
    );
    h.events.length = 0;
    assert.equal(h.engine.deviceBindingChanged("dev-1", null), 1);
    assert.deepEqual(
      h.events.map((e) => [e.rule_id, e.transition, e.reason, e.state]),
      [["technical.battery_low", "resolve", "device removed", "resolved"]],
    );
    h.run(300);
    assert.equal(
      h.events.some((e) => e.rule_id === "technical.device_silent"),
      false,
      "a removed device is not expected to send",
    );
    assert.deepEqual(
      h.engine.activeAlerts().map((a) => a.rule_id),
      ["threshold.bp_systolic.low"],
      "the patient's own alarm stays",
    );
  });

  it("on re-binding, resolves the former subject's device alarms and starts the new subject's afresh", () => {
    const h = harness();
    h.engine.watchDevice("dev-1", "pt-a");
    h.engine.onDeviceStatus("dev-1", "pt-a", BATTERY_LOW);
    h.events.length = 0;
    h.engine.deviceBindingChanged("dev-1", "pt-b");
    assert.deepEqual(
      h.events.map((e) => [e.subject_id, e.transition, e.reason]),
      [["pt-a", "resolve", "device re-bound from pt-a to another subject"]],
    );
    assert.deepEqual([...h.engine.watchedDevices()], [["dev-1", "pt-b"]]);
    assert.deepEqual(h.engine.activeAlerts(), [], "nothing of pt-a's device state carries over to pt-b");
    h.run(60);
    assert.deepEqual(
      h.engine.activeAlerts().map((a) => [a.subject_id, a.rule_id]),
      [["pt-b", "technical.device_silent"]],
      "watched for its new subject",
    );
  });

  it("brings the watched bindings in line with the registry: gone, moved and new devices", () => {
    const h = harness();
    h.engine.watchDevice("gone", "p1");
    h.engine.watchDevice("moved", "p2");
    reconcileBindings(h.engine, [
      { id: "moved", subjectId: "p3" },
      { id: "new", subjectId: "p4" },
    ]);
    assert.deepEqual([...h.engine.watchedDevices()].sort(), [
      ["moved", "p3"],
      ["new", "p4"],
    ]);
  });
});

describe("erasure", () => {
  it("resolves every alarm of the subject with the reason, and creates nothing for it afterwards", () => {
    const h = harness();
    const told: [string, unknown][] = [];
    h.engine.onNews2((subject, a) => told.push([subject, a]));
    h.engine.watchDevice("dev-1", "p1");
    h.engine.onReading(reading(h.clock, "bp_systolic", 65));
    h.engine.onDeviceStatus("dev-1", "p1", BATTERY_LOW);
    h.engine.onReading(reading(h.clock, "bp_systolic", 65, { subjectId: "p2", deviceId: "dev-2" }));
    h.events.length = 0;
    assert.equal(h.engine.eraseSubject("p1", "dpo.kate"), 2);
    assert.deepEqual(
      h.events.map((e) => [e.subject_id, e.transition, e.reason, e.by]),
      [
        ["p1", "resolve", "patient record erased", "dpo.kate"],
        ["p1", "resolve", "patient record erased", "dpo.kate"],
      ],
    );
    assert.deepEqual(told.at(-1), ["p1", null], "the NEWS2 view is cleared");
    told.length = 0;
    h.events.length = 0;
    h.engine.onReading(reading(h.clock, "spo2", 80));
    h.engine.onDeviceStatus("dev-1", "p1", BATTERY_LOW);
    h.engine.onRejected("dev-1", "p1", "above_physiologic_limit", 10);
    h.engine.onClinicianObservation({
      subjectId: "p1",
      enteredBy: "n",
      observedAtMs: 0,
      enteredAtMs: 0,
      consciousness: "U",
    });
    h.engine.watchDevice("dev-9", "p1");
    h.run(600);
    assert.deepEqual(
      h.events.filter((e) => e.subject_id === "p1"),
      [],
      "no raise, escalation or any other transition for the erased subject",
    );
    assert.ok(
      h.events.some((e) => e.subject_id === "p2" && e.transition === "escalate"),
      "the other patient escalates",
    );
    assert.deepEqual(
      told.filter(([s]) => s === "p1"),
      [],
    );
    assert.equal(h.engine.isSubjectErased("p1"), true);
    assert.equal(h.engine.isSubjectErased("p2"), false);
  });

  it("recognises a subject erased before the process started through the lookup", () => {
    const h = harness();
    h.engine.setErasedLookup((s) => s === "p-old");
    h.engine.onReading(reading(h.clock, "bp_systolic", 65, { subjectId: "p-old" }));
    assert.deepEqual(h.events, []);
    assert.equal(h.engine.isSubjectErased("p-old"), true);
  });
});

describe("durable sink purge", () => {
  it("drops the subject's queued messages and keeps the others'", async () => {
    const clock = new ManualClock();
    const sent: string[] = [];
    let fail: (err: Error) => void = () => {};
    // an attempt ends only when the test says so (and fails)
    const transport: DeliveryTransport = {
      send: (m, signal) => {
        sent.push(m.event_id);
        return new Promise((_resolve, reject) => {
          fail = reject;
          signal.addEventListener("abort", () => reject(new Error("aborted")));
        });
      },
      close: async () => {},
    };
    const q = new DeliveryQueue({
      name: "alerts_webhook",
      transport,
      clock,
      log: createLogger("silent"),
      metrics: new Metrics(),
      retry: { initialDelayMs: 1000, maxDelayMs: 1000, jitter: 0, maxAgeSec: 3600 },
      maxQueued: 100,
    });
    const message = (id: string, subject: string) =>
      ({ event_id: id, alert_id: id, subject_id: subject, at_ms: clock.now() }) as unknown as AlertMessage;
    q.deliver(message("e1", "p2"));
    q.deliver(message("e2", "p1"));
    q.deliver(message("e3", "p1"));
    assert.equal(q.purgeSubject("p1"), 2);
    assert.equal(q.health().pending, 1);
    // one in flight when purged is not recalled, but not sent again once that attempt fails
    q.deliver(message("e4", "p3"));
    q.deliver(message("e5", "p2"));
    await q.start();
    assert.deepEqual(sent, ["e1"]);
    assert.equal(q.purgeSubject("p2"), 1);
    fail(new Error("down"));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(sent, ["e1", "e4"], "the purged message in flight is not sent again");
    assert.equal(q.health().pending, 1, "only p3's message is left");
    await q.stop();
  });
});

describe("vitalog subjects erase beside a daemon in an unknown state", () => {
  it("erases nothing and exits 75 when the daemon refuses", async () => {
    const dir = tempDir("vitalog-erase-75-");
    const control = new ControlServer(dir, { clock: new ManualClock() });
    let asked = 0;
    control.handle(SUBJECT_ERASE_OP, async () => {
      asked++;
      throw new ControlRefusal("commit_failed", "the resolutions could not be committed");
    });
    await control.start();
    try {
      const cfg = join(dir, "cli.yaml");
      writeFileSync(cfg, `gateway: { id: test-gw, stateDir: ${dir} }\n`);
      const out = new PassThrough();
      let text = "";
      out.on("data", (d: Buffer) => {
        text += d.toString();
      });
      const code = await subjectsCommand(
        ["erase", "pt-1", "--config", cfg, "--yes", "--by", "dpo.kate"],
        out,
      );
      assert.equal(code, 75);
      assert.equal(asked, 1);
      assert.deepEqual(JSON.parse(text), {
        erased: false,
        daemon: "refused",
        error: "commit_failed",
        detail: "the resolutions could not be committed",
      });
      assert.equal(existsSync(join(dir, "vitalog.db")), false, "the database was not even opened");
    } finally {
      await control.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
