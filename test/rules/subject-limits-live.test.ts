/**
 * A subject's limits changed while the engine runs (engine `updateSubjectThresholds`): the subject's alarms are
 * judged again at once on their last value under the new limits; other subjects are untouched. And the
 * per-subject change checks: physiologic bounds, inverted tiers, the merge over the config file's limits.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { limitProblems } from "../../src/rules/subject-limits.js";
import {
  DEFAULT_THRESHOLDS_CONFIG,
  type ThresholdOverrideSet,
  type ThresholdsConfig,
  withStoredOverrides,
} from "../../src/rules/threshold-config.js";
import { harness, reading } from "./helpers.js";

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

  it("ends an alarm whose last value is within the new limits, and one whose limits were turned off, saying why", () => {
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
    const active = h.engine.activeAlerts().filter((a) => a.condition_active);
    assert.deepEqual(active, []);
    // the conditions ended; the alerts say why while they are held or latched [clinical.md §5.1]
    const texts = h.engine.activeAlerts().map((a) => a.reason);
    assert.ok(
      texts.some((t) => /Oxygen saturation 87 % within the new limits \(limits changed by dr\.ray\)/.test(t)),
      texts.join("\n"),
    );
    assert.ok(
      texts.some((t) => /Heart rate: no high limit any more \(limits changed by dr\.ray\)/.test(t)),
      texts.join("\n"),
    );
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
