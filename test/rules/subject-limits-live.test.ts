/**
 * A subject's limits changed while the engine runs (engine `updateSubjectThresholds`): the subject's alarms are
 * judged again at once on their last value under the new limits; other subjects are untouched. And the
 * per-subject change checks: physiologic bounds, inverted tiers, the merge over the config file's limits.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SUBJECT_ID_PATTERN } from "../../src/identifiers.js";
import { MAX_CLEAR_SEC, MAX_PERSISTENCE_SEC, rulesConfigSchema } from "../../src/rules/config.js";
import {
  LimitChangeRefusal,
  limitProblems,
  parseLimitChangeRequest,
} from "../../src/rules/subject-limits.js";
import {
  DEFAULT_THRESHOLDS_CONFIG,
  type ThresholdOverrideSet,
  type ThresholdsConfig,
  withStoredOverrides,
} from "../../src/rules/threshold-config.js";
import { harness, reading } from "./helpers.js";

/** The problems the config file's `rules` schema reports, as `path: message`. */
function configProblems(rules: unknown): string[] {
  const parsed = rulesConfigSchema.safeParse(rules);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

const with_ = (config: ThresholdsConfig, subjects: Record<string, ThresholdOverrideSet>) =>
  withStoredOverrides(config, subjects);

describe("a subject's limits changed while running", () => {
  it("keeps a violation that the new limit still covers active, with the new limit's priority and text", () => {
    const h = harness();
    // SpO2 87: below the default MEDIUM 88 % tier (15 s), not below the HIGH 85 % one
    h.engine.onReading(reading(h.clock, "spo2", 87));
    h.run(16);
    assert.equal(h.engine.activeAlerts()[0]?.priority, "medium");
    const thresholds = with_(DEFAULT_THRESHOLDS_CONFIG, {
      p1: { spo2: { low: [{ limit: 90, priority: "high", persistenceSec: 30 }] } },
    });
    h.engine.updateSubjectThresholds(thresholds, "p1", "limits changed by dr.ray");
    const [alert] = h.engine.activeAlerts();
    assert.equal(alert?.priority, "high", "already alarming: at once, without a new persistence delay");
    assert.match(alert.reason, /87 % below limit 90 %/);
    assert.equal(h.of("raise").length, 1, "the same alert goes on");
  });

  it("ends at once an alarm whose last value is within the new limits, and latches at once a HIGH one whose limits were turned off, saying why", () => {
    const h = harness();
    h.engine.onReading(reading(h.clock, "spo2", 87));
    h.engine.onReading(reading(h.clock, "heart_rate", 170, { deviceId: "ecg-1" }));
    h.run(16);
    assert.deepEqual(
      h.engine
        .activeAlerts()
        .map((a) => a.rule_id)
        .sort(),
      ["threshold.heart_rate.high", "threshold.spo2.low"],
    );
    h.engine.updateSubjectThresholds(
      with_(DEFAULT_THRESHOLDS_CONFIG, {
        p1: {
          spo2: { low: [{ limit: 85, priority: "high", persistenceSec: 0 }] },
          heart_rate: { enabled: false },
        },
      }),
      "p1",
      "limits changed by dr.ray",
    );
    // the change ended them: no 30 s clear hold [docs/alerting.md "A patient's own limits"]
    const [resolved] = h.of("resolve");
    assert.equal(resolved?.rule_id, "threshold.spo2.low", "the MEDIUM alarm resolves at once");
    assert.equal(resolved.reason, "Oxygen saturation 87 % within the new limits (limits changed by dr.ray)");
    // [clinical.md §5.1] a HIGH alarm that ended unacknowledged latches until someone acknowledges it
    const active = h.engine.activeAlerts();
    assert.deepEqual(
      active.map((a) => [a.rule_id, a.state]),
      [["threshold.heart_rate.high", "latched"]],
    );
    assert.match(active[0]!.reason, /Heart rate: no high limit any more \(limits changed by dr\.ray\)/);
  });

  it("takes no escalation step after the change ended an alarm, and the latched one still waits for an acknowledgement", () => {
    const h = harness();
    // SpO2 86: MEDIUM (below 88 %); heart rate 170: HIGH (above 160 /min)
    h.engine.onReading(reading(h.clock, "spo2", 86));
    h.engine.onReading(reading(h.clock, "heart_rate", 170, { deviceId: "ecg-1" }));
    h.run(16);
    h.engine.updateSubjectThresholds(
      with_(DEFAULT_THRESHOLDS_CONFIG, {
        p1: {
          spo2: { low: [{ limit: 85, priority: "high", persistenceSec: 0 }] },
          heart_rate: { high: [{ limit: 175, priority: "high", persistenceSec: 0 }] },
        },
      }),
      "p1",
      "limits changed by dr.ray",
    );
    const before = h.events.length;
    // well past every rung of the default ladders (HIGH: 60 s then 120 s; MEDIUM: 180 s, raising the priority)
    h.run(400);
    // the devices fall silent meanwhile: their technical alarms are not what this is about
    const after = h.events
      .slice(before)
      .filter((e) => e.category === "physiological")
      .map((e) => `${e.transition} ${e.rule_id}`);
    assert.deepEqual(after, [], "nothing escalates, re-alarms or pages after the clinician's change");
    const [latched] = h.engine.activeAlerts({ category: "physiological" });
    assert.equal(latched?.state, "latched");
    assert.match(latched.reason, /Heart rate 170 \/min within the new limits \(limits changed by dr\.ray\)/);
    assert.deepEqual(h.engine.acknowledge(latched.alert_id, "dr.ray"), { ok: true });
    assert.deepEqual(h.engine.activeAlerts({ category: "physiological" }), []);
  });

  it("escalates again as usual when the condition returns after the change", () => {
    const h = harness();
    h.engine.onReading(reading(h.clock, "heart_rate", 170, { deviceId: "ecg-1" }));
    h.run(11);
    h.engine.updateSubjectThresholds(
      with_(DEFAULT_THRESHOLDS_CONFIG, {
        p1: { heart_rate: { high: [{ limit: 175, priority: "high", persistenceSec: 0 }] } },
      }),
      "p1",
      "limits changed by dr.ray",
    );
    h.engine.onReading(reading(h.clock, "heart_rate", 180, { deviceId: "ecg-1" }));
    assert.equal(h.of("re_alarm").length, 1, "the latched alert is live again");
    h.run(61);
    assert.deepEqual(
      h
        .of("escalate")
        .filter((e) => e.category === "physiological")
        .map((e) => e.recipient),
      ["charge_nurse"],
    );
  });

  it("shows the new limit in the text of an alarm still violated at the same priority, as an update", () => {
    const h = harness();
    h.engine.onReading(reading(h.clock, "heart_rate", 145, { deviceId: "ecg-1" }));
    h.run(16);
    const [alert] = h.engine.activeAlerts();
    assert.equal(alert?.reason, "Heart rate 145 /min above limit 130 /min");
    h.engine.updateSubjectThresholds(
      with_(DEFAULT_THRESHOLDS_CONFIG, {
        p1: { heart_rate: { high: [{ limit: 140, priority: "medium", persistenceSec: 15 }] } },
      }),
      "p1",
      "limits changed by dr.ray",
    );
    assert.equal(h.engine.activeAlerts()[0]?.reason, "Heart rate 145 /min above limit 140 /min");
    assert.deepEqual(
      h.of("update").map((e) => [e.alert_id, e.priority, e.reason]),
      [[alert.alert_id, "medium", "Heart rate 145 /min above limit 140 /min"]],
    );
    assert.equal(h.of("raise").length, 1, "the same alert goes on");
  });

  it("starts the delay of a violation the old limit did not cover, and leaves other subjects alone", () => {
    const h = harness();
    h.engine.onReading(reading(h.clock, "spo2", 89));
    h.engine.onReading(reading(h.clock, "spo2", 89, { subjectId: "p2", deviceId: "dev-2" }));
    h.run(2);
    assert.deepEqual(h.engine.activeAlerts(), []);
    h.engine.updateSubjectThresholds(
      with_(DEFAULT_THRESHOLDS_CONFIG, {
        p1: { spo2: { low: [{ limit: 92, priority: "medium", persistenceSec: 10 }] } },
      }),
      "p1",
      "limits changed by dr.ray",
    );
    assert.deepEqual(h.engine.activeAlerts(), [], "a new violation waits its persistence delay");
    h.run(11);
    assert.deepEqual(
      h.engine.activeAlerts().map((a) => a.subject_id),
      ["p1"],
    );
  });
});

describe("the checks of a per-subject change", () => {
  const table = (own: ThresholdOverrideSet) => with_(DEFAULT_THRESHOLDS_CONFIG, { p1: own });

  it("accepts limits inside the physiologic range and in order", () => {
    assert.deepEqual(
      limitProblems(
        table({ spo2: { low: [{ limit: 85, priority: "high", persistenceSec: 0 }] } }),
        "p1",
        "spo2",
      ),
      [],
    );
  });

  it("refuses a limit no real value can cross, and tiers inverted against the other direction", () => {
    assert.match(
      limitProblems(
        table({ spo2: { high: [{ limit: 100, priority: "low", persistenceSec: 0 }] } }),
        "p1",
        "spo2",
      ).join(),
      /limit 100 is outside the physiologic range \(0, 100\)/,
    );
    assert.match(
      limitProblems(
        table({ heart_rate: { low: [{ limit: 300, priority: "high", persistenceSec: 0 }] } }),
        "p1",
        "heart_rate",
      ).join(),
      /outside the physiologic range \(0, 300\)/,
    );
    assert.match(
      limitProblems(
        table({ heart_rate: { low: [{ limit: 140, priority: "high", persistenceSec: 0 }] } }),
        "p1",
        "heart_rate",
      ).join(),
      /every low limit must be below every high limit/,
    );
  });

  it("refuses a delay, a clear time or a hysteresis beyond its maximum, from the CLI and from the config file alike", () => {
    const refused = (override: Record<string, unknown>) => {
      try {
        parseLimitChangeRequest(
          { action: "set", subject_id: "p1", vital: "spo2", override },
          SUBJECT_ID_PATTERN,
        );
      } catch (err) {
        assert.ok(err instanceof LimitChangeRefusal);
        assert.equal(err.code, "invalid_limits");
        return err.problems;
      }
      return [];
    };
    assert.deepEqual(refused({ low: [{ limit: 85, priority: "high", persistenceSec: 99999999 }] }), [
      `spo2.low.0.persistenceSec: at most ${MAX_PERSISTENCE_SEC} s`,
    ]);
    assert.deepEqual(refused({ clearSec: 1e12 }), [`spo2.clearSec: at most ${MAX_CLEAR_SEC} s`]);
    assert.deepEqual(
      refused({ low: [{ limit: 85, priority: "high", persistenceSec: 300 }], clearSec: 600 }),
      [],
    );
    assert.deepEqual(limitProblems(table({ spo2: { hysteresis: 1e9 } }), "p1", "spo2"), [
      "spo2.hysteresis: at most 5 for spo2 (a wider margin never clears)",
    ]);
    assert.deepEqual(limitProblems(table({ spo2: { hysteresis: 5 } }), "p1", "spo2"), []);
    const problems = configProblems({
      thresholds: {
        ward: { heart_rate: { hysteresis: 1e9, clearSec: 1e12 } },
        subjects: { p1: { spo2: { low: [{ limit: 85, priority: "high", persistenceSec: 99999999 }] } } },
      },
    });
    assert.deepEqual(problems.sort(), [
      "thresholds.subjects.p1.spo2.low.0.persistenceSec: at most 300 s",
      "thresholds.ward.heart_rate.clearSec: at most 600 s",
    ]);
    assert.deepEqual(configProblems({ thresholds: { ward: { heart_rate: { hysteresis: 1e9 } } } }), [
      "thresholds.ward.heart_rate.hysteresis: at most 23 for heart_rate (a wider margin never clears)",
    ]);
  });

  it("refuses to remove a direction the ward defines unless the vital is turned off, from the CLI and from the config file alike", () => {
    assert.deepEqual(limitProblems(table({ spo2: { low: [] } }), "p1", "spo2"), [
      "spo2.low: removes the ward's low limits: give new tiers to move them, or enabled: false to turn this vital's alarms off",
    ]);
    assert.deepEqual(limitProblems(table({ spo2: { low: [], enabled: false } }), "p1", "spo2"), []);
    // SpO2 has no high limit beneath: saying so removes nothing
    assert.deepEqual(limitProblems(table({ spo2: { high: [] } }), "p1", "spo2"), []);
    assert.deepEqual(configProblems({ thresholds: { subjects: { p1: { heart_rate: { high: [] } } } } }), [
      "thresholds.subjects.p1.heart_rate.high: removes the ward's high limits: give new tiers to move them, or enabled: false to turn this vital's alarms off",
    ]);
    assert.deepEqual(
      configProblems({ thresholds: { subjects: { p1: { heart_rate: { high: [], enabled: false } } } } }),
      [],
    );
  });

  it("merges a stored change per field over the config file's override of the subject", () => {
    const config: ThresholdsConfig = {
      ward: DEFAULT_THRESHOLDS_CONFIG.ward,
      subjects: { p1: { spo2: { low: [{ limit: 84, priority: "high", persistenceSec: 5 }], clearSec: 20 } } },
    };
    const merged = withStoredOverrides(config, { p1: { spo2: { hysteresis: 2 } } });
    assert.deepEqual(merged.subjects.p1?.spo2, {
      low: [{ limit: 84, priority: "high", persistenceSec: 5 }],
      clearSec: 20,
      hysteresis: 2,
    });
    assert.deepEqual(config.subjects.p1?.spo2?.hysteresis, undefined, "the config is not changed");
  });
});
