import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { harness, reading } from "./helpers.js";

describe("alarm fatigue mitigations (clinical.md §5.2)", () => {
  it("raises one alert, not dozens, for SpO2 flapping around its limit for ten minutes", () => {
    const h = harness((c) => ({
      ...c,
      alarms: { ...c.alarms, escalation: { ...c.alarms.escalation, medium: [] } },
    }));
    // 20 s at 86 % (below the 88 % limit), 8 s at 90 % (inside limit + hysteresis), repeated.
    h.run(600, (i) => h.engine.onReading(reading(h.clock, "spo2", i % 28 < 20 ? 86 : 90)));
    assert.equal(h.of("raise").length, 1);
    assert.equal(h.of("resolve").length, 0);
    assert.equal(h.events.length, 1);
    assert.equal(h.events[0]?.priority, "medium");
    assert.equal(h.engine.activeAlerts().length, 1);
  });

  it("would raise an alert per cycle without hysteresis, clear time and hold (the contrast)", () => {
    const h = harness((c) => {
      c.thresholds.ward.spo2 = { ...c.thresholds.ward.spo2!, hysteresis: 0, clearSec: 0 };
      return { ...c, alarms: { ...c.alarms, clearHoldSec: 0 } };
    });
    h.run(600, (i) => h.engine.onReading(reading(h.clock, "spo2", i % 28 < 20 ? 86 : 90)));
    assert.ok(h.of("raise").length >= 20, `raised ${h.of("raise").length}`);
  });

  it("does not bounce the priority of an alert whose value flaps between two tiers", () => {
    const h = harness((c) => ({
      ...c,
      alarms: { ...c.alarms, escalation: { high: [], medium: [], low: [] } },
    }));
    // 10 s at 84 % (HIGH tier, < 85) then 8 s at 86 % (MEDIUM tier only), repeated for five minutes.
    h.run(300, (i) => h.engine.onReading(reading(h.clock, "spo2", i % 18 < 10 ? 84 : 86)));
    assert.deepEqual(
      h.events.map((e) => [e.transition, e.priority]),
      [["raise", "high"]],
    );
    h.run(40, () => h.engine.onReading(reading(h.clock, "spo2", 86)));
    assert.deepEqual(
      h.of("deescalate").map((e) => e.priority),
      ["medium"],
    );
  });

  it("suppresses a 2-second artefact with the persistence delay", () => {
    const h = harness();
    h.run(60, (i) => h.engine.onReading(reading(h.clock, "spo2", i < 2 ? 80 : 97)));
    assert.deepEqual(h.events, []);
  });

  it("raises HIGH once the desaturation outlasts the 5 s high-tier delay", () => {
    const h = harness();
    h.run(10, () => h.engine.onReading(reading(h.clock, "spo2", 80)));
    assert.equal(h.of("raise").length, 1);
    assert.equal(h.events[0]?.priority, "high");
    assert.equal(h.events[0]?.at_ms, h.clock.now() - 5000);
  });

  it("keeps the alert while the value sits between the limit and limit − hysteresis, clears past it", () => {
    const h = harness();
    h.run(20, () => h.engine.onReading(reading(h.clock, "heart_rate", 135)));
    assert.equal(h.of("raise").length, 1);
    h.run(60, () => h.engine.onReading(reading(h.clock, "heart_rate", 128)));
    assert.equal(h.of("resolve").length, 0);
    h.run(40, () => h.engine.onReading(reading(h.clock, "heart_rate", 120)));
    assert.equal(h.of("resolve").length, 1);
    assert.equal(h.engine.activeAlerts().length, 0);
  });

  it("re-alarms when a silence ends and the condition is still active", () => {
    const h = harness();
    const low = () => h.engine.onReading(reading(h.clock, "spo2", 86));
    h.run(16, low);
    const id = h.of("raise")[0]!.alert_id;
    assert.deepEqual(h.engine.silence(id, "rn.a", 60), { ok: true });
    assert.equal(h.of("silence")[0]?.silenced_until_ms, h.clock.now() + 60_000);
    assert.equal(h.of("silence")[0]?.by, "rn.a");
    h.run(59, low);
    assert.equal(h.of("re_alarm").length, 0);
    h.run(2, low);
    assert.equal(h.of("re_alarm").length, 1);
    assert.equal(h.engine.alarms.get(id)?.state, "raised");
  });

  it("resolves a silenced medium alert whose condition ends, without re-alarming", () => {
    const h = harness();
    h.run(16, () => h.engine.onReading(reading(h.clock, "spo2", 86)));
    h.engine.silence(h.of("raise")[0]!.alert_id, "rn.a", 120);
    h.run(60, () => h.engine.onReading(reading(h.clock, "spo2", 97)));
    assert.equal(h.of("re_alarm").length, 0);
    assert.equal(h.of("resolve").length, 1);
  });

  it("escalates an unacknowledged medium alert to the charge nurse and to HIGH after 180 s", () => {
    const h = harness();
    h.run(200, () => h.engine.onReading(reading(h.clock, "spo2", 86)));
    const [e] = h.of("escalate");
    assert.equal(e?.recipient, "charge_nurse");
    assert.equal(e?.priority, "high");
    assert.equal(e?.escalation_level, 1);
    assert.equal(e?.at_ms, h.of("raise")[0]!.at_ms + 180_000);
  });

  it("does not escalate an acknowledged alert", () => {
    const h = harness();
    h.run(16, () => h.engine.onReading(reading(h.clock, "spo2", 86)));
    assert.deepEqual(h.engine.acknowledge(h.of("raise")[0]!.alert_id, "rn.a"), { ok: true });
    h.run(400, () => h.engine.onReading(reading(h.clock, "spo2", 86)));
    assert.equal(h.of("escalate").length, 0);
    assert.equal(h.of("acknowledge")[0]?.by, "rn.a");
  });

  it("re-alarms an acknowledged alert when the condition worsens to a higher priority", () => {
    const h = harness();
    h.run(16, () => h.engine.onReading(reading(h.clock, "spo2", 86)));
    const id = h.of("raise")[0]!.alert_id;
    h.engine.acknowledge(id, "rn.a");
    h.run(10, () => h.engine.onReading(reading(h.clock, "spo2", 80)));
    const [e] = h.of("escalate");
    assert.equal(e?.alert_id, id);
    assert.equal(e?.priority, "high");
    assert.equal(e?.state, "raised");
  });

  it("latches a HIGH alert after its condition ends until someone acknowledges it", () => {
    const h = harness();
    h.run(10, () => h.engine.onReading(reading(h.clock, "spo2", 80)));
    const id = h.of("raise")[0]!.alert_id;
    h.run(120, () => h.engine.onReading(reading(h.clock, "spo2", 97)));
    assert.equal(h.of("latch").length, 1);
    assert.equal(h.of("resolve").length, 0);
    assert.equal(h.engine.alarms.get(id)?.state, "latched");
    assert.equal(h.engine.alarms.get(id)?.condition_active, false);
    h.engine.acknowledge(id, "rn.b");
    assert.deepEqual(
      h.events.slice(-2).map((e) => [e.transition, e.state, e.by]),
      [
        ["acknowledge", "acknowledged", "rn.b"],
        ["resolve", "resolved", "rn.b"],
      ],
    );
    assert.deepEqual(h.engine.activeAlerts(), []);
  });

  it("needs a confirming reading before a questionable value raises a medium alert", () => {
    const h = harness((c) => {
      c.thresholds.ward.heart_rate = {
        high: [{ limit: 200, priority: "medium", persistenceSec: 0 }],
        hysteresis: 5,
        clearSec: 0,
      };
      return c;
    });
    h.engine.onReading(reading(h.clock, "heart_rate", 260, { flags: ["questionable"] }));
    assert.deepEqual(h.events, []);
    h.clock.advance(1000);
    h.engine.onReading(reading(h.clock, "heart_rate", 262, { flags: ["questionable"] }));
    assert.equal(h.of("raise").length, 1);
  });

  it("still alarms at once on a questionable value that crosses a HIGH limit", () => {
    const h = harness((c) => {
      c.thresholds.ward.heart_rate = {
        high: [{ limit: 240, priority: "high", persistenceSec: 0 }],
        hysteresis: 5,
        clearSec: 0,
      };
      return c;
    });
    h.engine.onReading(reading(h.clock, "heart_rate", 260, { flags: ["questionable"] }));
    assert.equal(h.of("raise")[0]?.priority, "high");
  });

  it("raises a sustained SpO2 drop of more than 5 % in a minute before any absolute limit", () => {
    const h = harness();
    h.run(30, () => h.engine.onReading(reading(h.clock, "spo2", 98)));
    h.run(12, () => h.engine.onReading(reading(h.clock, "spo2", 91)));
    const [e] = h.of("raise");
    assert.equal(e?.rule_id, "rate.spo2_drop");
    assert.equal(e?.priority, "medium");
    assert.match(e?.reason ?? "", /fell from 98 to 91/);
  });
});

describe("technical alarms", () => {
  const quietDevices = () =>
    harness((c) => {
      c.technical.silentDevice.enabled = false;
      return c;
    });

  it("raises sensor-off after 10 s and keeps readings from the detached sensor out of physiological rules", () => {
    const h = harness();
    h.engine.onDeviceStatus("dev-1", "p1", { sensorContact: false });
    h.run(12, () => h.engine.onReading(reading(h.clock, "spo2", 40, { flags: ["sensor_contact_lost"] })));
    const [e] = h.of("raise");
    assert.equal(h.of("raise").length, 1);
    assert.equal(e?.rule_id, "technical.sensor_contact_lost");
    assert.equal(e?.category, "technical");
    assert.equal(e?.device_id, "dev-1");
    assert.deepEqual(h.engine.activeAlerts({ category: "physiological" }), []);
    h.engine.onDeviceStatus("dev-1", "p1", { sensorContact: true });
    h.run(40, () => h.engine.onReading(reading(h.clock, "spo2", 97)));
    assert.equal(h.of("resolve").length, 1);
  });

  it("raises device-silent when a watched device misses three expected intervals, clears when heard", () => {
    const h = harness();
    h.engine.watchDevice("dev-9", "p2");
    h.run(30);
    assert.deepEqual(h.events, []);
    h.run(1);
    const [e] = h.of("raise");
    assert.equal(e?.condition, "p2:technical.device_silent:dev-9");
    assert.equal(e?.priority, "medium");
    h.engine.onReading(reading(h.clock, "heart_rate", 70, { deviceId: "dev-9", subjectId: "p2" }));
    h.run(31, () =>
      h.engine.onReading(reading(h.clock, "heart_rate", 70, { deviceId: "dev-9", subjectId: "p2" })),
    );
    assert.equal(h.of("resolve").length, 1);
  });

  it("honours a per-device expected interval", () => {
    const h = harness((c) => {
      c.technical.devices["cuff-1"] = { expectedIntervalSec: 900 };
      return c;
    });
    h.engine.watchDevice("cuff-1", "p1");
    h.run(1800);
    assert.deepEqual(h.events, []);
  });

  it("raises a burst alarm on the fifth rejected frame within 60 s", () => {
    const h = quietDevices();
    for (let i = 0; i < 4; i++) h.engine.onRejected("dev-1", "p1", "decode_failed");
    assert.deepEqual(h.events, []);
    h.engine.onRejected("dev-1", "p1", "unit_unsupported");
    assert.equal(h.of("raise")[0]?.rule_id, "technical.rejected_frames");
    assert.equal(h.of("raise")[0]?.priority, "low");
    h.run(100);
    assert.equal(h.of("resolve").length, 1);
  });

  it("raises impossible-values separately from the burst alarm", () => {
    const h = harness();
    h.engine.onRejected("dev-1", "p1", "above_physiologic_limit");
    h.engine.onRejected("dev-1", "p1", "below_physiologic_limit");
    assert.equal(h.events.length, 0);
    h.engine.onRejected("dev-1", "p1", "above_physiologic_limit");
    assert.deepEqual(
      h.events.map((e) => [e.rule_id, e.priority]),
      [["technical.impossible_values", "medium"]],
    );
  });

  it("raises low battery at 20 %, critical at 5 %, and clears only above 25 %", () => {
    const h = quietDevices();
    h.engine.onDeviceStatus("dev-1", "p1", { batteryPct: 19 });
    assert.equal(h.of("raise")[0]?.priority, "low");
    h.engine.onDeviceStatus("dev-1", "p1", { batteryPct: 4 });
    assert.equal(h.of("escalate")[0]?.priority, "medium");
    h.engine.onDeviceStatus("dev-1", "p1", { batteryPct: 22 });
    h.run(40);
    assert.equal(h.engine.activeAlerts()[0]?.priority, "low");
    h.engine.onDeviceStatus("dev-1", "p1", { batteryPct: 26 });
    h.run(31);
    assert.equal(h.of("resolve").length, 1);
  });
});
