/**
 * A device whose readings ingest refuses for their time (reading.ts: a device time more than 5 min ahead of the
 * gateway clock, or before the storage window) leaves its patient unmonitored: a technical alarm names it,
 * MEDIUM (local engineering choice, to be reviewed), until a reading of the device is accepted again.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import type { ConditionUpdate } from "../../src/rules/rule.js";
import { DEFAULT_TECHNICAL_CONFIG, TechnicalRule } from "../../src/rules/technical.js";
import { reading } from "./helpers.js";
import { type Pipeline, pipeline, T0 } from "./ingest-pipeline.js";

const RULE = "technical.readings_refused_time";

const summary = (updates: readonly ConditionUpdate[]) =>
  updates.map((u) =>
    u.type === "active" ? [u.condition.key, u.condition.priority, u.condition.reason] : [u.key, u.reason],
  );

describe("readings refused for their time (technical rule)", () => {
  it("raises readings refused time, MEDIUM, at a refusal for device time ahead, and ends it at an accepted reading", () => {
    const clock = new ManualClock(T0);
    const rule = new TechnicalRule(DEFAULT_TECHNICAL_CONFIG);
    rule.watchDevice("dev-1", "p1", clock.now());
    const refused = { type: "rejected", deviceId: "dev-1", subjectId: "p1", atMs: clock.now() } as const;
    const raised = rule.evaluate({ ...refused, reason: "device_time_in_future", count: 3 }, clock.now());
    assert.deepEqual(summary(raised.filter((u) => u.type === "active" && u.condition.ruleId === RULE)), [
      [
        `p1:${RULE}:dev-1`,
        "medium",
        "readings refused time: its readings are refused since 2026-01-01T08:00:00Z: the device's time is more than 5 min ahead of the gateway clock; this patient's values from it are not monitored",
      ],
    ]);
    clock.advance(30_000);
    const again = rule.evaluate(
      { ...refused, reason: "device_time_in_future", atMs: clock.now() },
      clock.now(),
    );
    assert.deepEqual(
      again.filter((u) => u.type === "active" && u.condition.ruleId === RULE),
      [],
      "the text names when it began: a repeat changes nothing",
    );
    clock.advance(1000);
    const ended = rule.evaluate({ type: "reading", reading: reading(clock, "spo2", 97) }, clock.now());
    assert.deepEqual(summary(ended.filter((u) => u.type === "clear")), [
      [`p1:${RULE}:dev-1`, "readings refused time: ended, readings accepted again at 2026-01-01T08:00:31Z"],
    ]);
  });

  it("names a time before the storage window, and raises nothing for a refusal of a value", () => {
    const rule = new TechnicalRule(DEFAULT_TECHNICAL_CONFIG);
    const base = { type: "rejected", deviceId: "dev-1", subjectId: "p1", atMs: T0 } as const;
    const forValue = rule.evaluate({ ...base, reason: "above_physiologic_limit" }, T0);
    assert.equal(
      forValue.some((u) => u.type === "active" && u.condition.ruleId === RULE),
      false,
    );
    const old = rule.evaluate({ ...base, reason: "time_before_storage_window" }, T0);
    const active = old.flatMap((u) =>
      u.type === "active" && u.condition.ruleId === RULE ? [u.condition] : [],
    );
    assert.match(
      active[0]?.reason ?? "",
      /the device's time is before the storage window \(2000-01-01\); this patient's values from it are not monitored$/,
    );
  });

  it("raises nothing when the same frame had a reading accepted", () => {
    const clock = new ManualClock(T0);
    const rule = new TechnicalRule(DEFAULT_TECHNICAL_CONFIG);
    rule.evaluate({ type: "reading", reading: reading(clock, "spo2", 97) }, clock.now());
    const refused = rule.evaluate(
      {
        type: "rejected",
        deviceId: "dev-1",
        subjectId: "p1",
        reason: "device_time_in_future",
        atMs: clock.now(),
      },
      clock.now(),
    );
    assert.equal(
      refused.some((u) => u.type === "active" && u.condition.ruleId === RULE),
      false,
    );
  });
});

/** A SenML pack of one SpO2 value the device measured at POSIX second `bt` (it stamps its own time). */
const spo2Pack = (bt: number) => [
  { bn: "urn:dev:mac:0024befffe804ff9:", bt, n: "spo2", u: "/", v: 0.97 },
  { n: "contact", vb: true },
];

describe("readings refused for their time after the gateway clock steps back (ingest pipeline)", () => {
  it("raises readings refused time for a device stamping its own time, and ends it once its readings are accepted", async () => {
    const p: Pipeline = pipeline();
    try {
      // the device's own clock runs true: its `bt` is real time, whatever the gateway clock says
      let deviceSec = T0 / 1000;
      await p.mqtt("ox-bt", "senml", spo2Pack(deviceSec));
      assert.equal(p.stored("ox-bt").length, 1);
      p.clock.step(-600_000);
      deviceSec += 5;
      p.clock.advance(5000);
      await p.mqtt("ox-bt", "senml", spo2Pack(deviceSec));
      assert.equal(p.stored("ox-bt").length, 1, "refused: 10 min ahead of the gateway clock");
      const raised = p.events.filter((e) => e.rule_id === RULE);
      assert.deepEqual(
        raised.map((e) => [e.transition, e.priority, e.subject_id, e.device_id, e.reason]),
        [
          [
            "raise",
            "medium",
            "pt-ox-bt",
            "ox-bt",
            "readings refused time: its readings are refused since 2026-01-01T07:50:05Z: the device's time is more than 5 min ahead of the gateway clock; this patient's values from it are not monitored",
          ],
        ],
      );
      // the gateway clock is set right again: the device's readings are accepted
      p.clock.step(600_000);
      deviceSec += 5;
      p.clock.advance(5000);
      await p.mqtt("ox-bt", "senml", spo2Pack(deviceSec));
      assert.equal(p.stored("ox-bt").length, 2);
      const alert = p.engine.activeAlerts({ category: "technical" }).find((a) => a.rule_id === RULE);
      assert.match(
        alert?.reason ?? "ended and gone",
        /readings refused time: ended, readings accepted again at /,
      );
    } finally {
      await p.close();
    }
  });
});
