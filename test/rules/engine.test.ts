import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { rulesConfigSchema } from "../../src/rules/config.js";
import { DEFAULT_RULES_CONFIG, RuleEngine } from "../../src/rules/engine.js";
import type { Rule } from "../../src/rules/rule.js";
import { harness, reading } from "./helpers.js";

describe("RuleEngine wiring", () => {
  it("emits a snake_case alert event synchronously from onReading", () => {
    const h = harness();
    h.engine.onReading(reading(h.clock, "bp_systolic", 65, { deviceId: "cuff-1" }));
    assert.equal(h.events.length, 1);
    assert.deepEqual(h.events[0], {
      alert_id: "a1",
      condition: "p1:threshold.bp_systolic.low",
      rule_id: "threshold.bp_systolic.low",
      subject_id: "p1",
      device_id: "cuff-1",
      priority: "high",
      category: "physiological",
      state: "raised",
      reason: "Systolic blood pressure 65 mm[Hg] below limit 70 mm[Hg]",
      raised_at_ms: h.clock.now(),
      observed_at_ms: h.clock.now(),
      condition_active: true,
      escalation_level: 0,
      recipient: "primary_nurse",
      silenced_until_ms: null,
      acknowledged_by: null,
      transition: "raise",
      at_ms: h.clock.now(),
      by: null,
      condition_reason: "Systolic blood pressure 65 mm[Hg] below limit 70 mm[Hg]",
      active_reason: "Systolic blood pressure 65 mm[Hg] below limit 70 mm[Hg]",
    });
  });

  it("keeps physiological and technical alerts apart in the active set", () => {
    const h = harness();
    h.engine.onReading(reading(h.clock, "bp_systolic", 65));
    h.engine.onDeviceStatus("dev-1", "p1", { batteryPct: 3 });
    assert.deepEqual(
      h.engine.activeAlerts({ category: "physiological" }).map((a) => a.rule_id),
      ["threshold.bp_systolic.low"],
    );
    assert.deepEqual(
      h.engine.activeAlerts({ category: "technical" }).map((a) => a.rule_id),
      ["technical.battery_low"],
    );
    assert.deepEqual(
      h.engine.activeAlerts().map((a) => a.priority),
      ["high", "medium"],
    );
  });

  it("keeps one alert per condition key however many readings repeat it", () => {
    const h = harness();
    for (let i = 0; i < 50; i++) h.engine.onReading(reading(h.clock, "bp_systolic", 60 + (i % 5)));
    assert.equal(h.events.length, 1);
    assert.ok(h.engine.alarms.forCondition("p1:threshold.bp_systolic.low"));
  });

  it("applies a per-subject override merged over the ward default", () => {
    const h = harness((c) => {
      c.thresholds.subjects.copd = { spo2: { low: [{ limit: 80, priority: "high", persistenceSec: 0 }] } };
      return c;
    });
    h.run(20, () => {
      h.engine.onReading(reading(h.clock, "spo2", 84, { subjectId: "copd", deviceId: "ox-2" }));
      h.engine.onReading(reading(h.clock, "spo2", 84, { subjectId: "p1", deviceId: "ox-1" }));
    });
    assert.deepEqual(
      h.of("raise").map((e) => e.subject_id),
      ["p1"],
    );
  });

  it("computes NEWS2 from device readings and a clinician observation", () => {
    const h = harness();
    for (const [kind, v] of [
      ["respiratory_rate", 26],
      ["spo2", 97],
      ["bp_systolic", 120],
      ["pulse_rate", 70],
      ["body_temperature", 37],
    ] as const) {
      h.engine.onReading(reading(h.clock, kind, v));
    }
    // [rules.news2.persistSec, default 10 s] a device value is scored once it has persisted
    h.run(10);
    assert.deepEqual(h.engine.news2("p1").missing, ["supplemental_oxygen", "consciousness"]);
    const now = h.clock.now();
    h.engine.onClinicianObservation({
      subjectId: "p1",
      enteredBy: "dr.who",
      observedAtMs: now,
      enteredAtMs: now,
      supplementalOxygen: true,
      consciousness: "A",
    });
    assert.equal(h.engine.news2("p1").total, 5);
    const news2Alerts = h.engine.activeAlerts().filter((a) => a.rule_id === "news2");
    assert.deepEqual(
      news2Alerts.map((a) => [a.priority, a.device_id]),
      [["medium", null]],
    );
  });

  it("isolates a throwing rule: the other rules still alert and the error is reported", () => {
    const clock = new ManualClock();
    const broken: Rule = {
      id: "broken",
      category: "physiological",
      evaluate: () => {
        throw new Error("boom");
      },
      forgetSubject: () => {},
    };
    const errors: string[] = [];
    const engine = new RuleEngine(DEFAULT_RULES_CONFIG, {
      clock,
      extraRules: [broken],
      onRuleError: (_e, ruleId) => errors.push(ruleId),
    });
    const seen: string[] = [];
    engine.onAlertEvent((e) => seen.push(e.rule_id));
    engine.onReading(reading(clock, "bp_systolic", 65));
    assert.deepEqual(errors, ["broken"]);
    assert.deepEqual(seen, ["threshold.bp_systolic.low"]);
  });

  it("isolates a throwing listener: the next listener still gets the event", () => {
    const clock = new ManualClock();
    const listenerErrors: unknown[] = [];
    const engine = new RuleEngine(DEFAULT_RULES_CONFIG, {
      clock,
      onListenerError: (e) => listenerErrors.push(e),
    });
    const seen: string[] = [];
    engine.onAlertEvent(() => {
      throw new Error("listener down");
    });
    engine.onAlertEvent((e) => seen.push(e.transition));
    engine.onReading(reading(clock, "bp_systolic", 65));
    assert.equal(listenerErrors.length, 1);
    assert.deepEqual(seen, ["raise"]);
  });

  it("releases a subject: its alerts resolve attributed to the user and its state is dropped", () => {
    const h = harness();
    h.engine.onReading(reading(h.clock, "bp_systolic", 65));
    h.engine.releaseSubject("p1", "admin");
    assert.deepEqual(
      h.of("resolve").map((e) => e.by),
      ["admin"],
    );
    assert.deepEqual(h.engine.activeAlerts(), []);
    assert.equal(h.engine.news2("p1").missing.length, 7);
  });

  it("refuses acknowledgement without a user and for unknown alerts", () => {
    const h = harness();
    h.engine.onReading(reading(h.clock, "bp_systolic", 65));
    assert.deepEqual(h.engine.acknowledge("a1", " "), { ok: false, error: "invalid_user" });
    assert.deepEqual(h.engine.acknowledge("nope", "rn.a"), { ok: false, error: "unknown_alert" });
    assert.deepEqual(h.engine.acknowledge("a1", "rn.a"), { ok: true });
    assert.deepEqual(h.engine.acknowledge("a1", "rn.a"), { ok: false, error: "already_acknowledged" });
  });
});

describe("rulesConfigSchema", () => {
  it("yields DEFAULT_RULES_CONFIG for an empty section", () => {
    assert.deepEqual(rulesConfigSchema.parse({}), DEFAULT_RULES_CONFIG);
  });

  it("fills defaults inside a partly given section", () => {
    const c = rulesConfigSchema.parse({ technical: { silentDevice: { defaultExpectedIntervalSec: 60 } } });
    assert.equal(c.technical.silentDevice.defaultExpectedIntervalSec, 60);
    assert.equal(c.technical.silentDevice.missedIntervals, 3);
    assert.deepEqual(c.technical.battery, DEFAULT_RULES_CONFIG.technical.battery);
  });

  it("reports every problem with its path, not just the first", () => {
    const r = rulesConfigSchema.safeParse({
      thresholds: {
        subjects: { p9: { spo2: { high: [{ limit: 80, priority: "low", persistenceSec: 0 }] } } },
      },
      technical: {
        battery: {
          lowPct: 10,
          criticalPct: 15,
          hysteresisPct: 5,
          lowPriority: "low",
          criticalPriority: "medium",
        },
      },
      alarms: { silence: { defaultSec: 600, maxSec: 300 } },
    });
    assert.equal(r.success, false);
    const paths = r.error?.issues.map((i) => i.path.join(".")).sort();
    assert.deepEqual(paths, [
      "alarms.silence.defaultSec",
      "technical.battery.criticalPct",
      "thresholds.subjects.p9.spo2",
    ]);
  });
});
