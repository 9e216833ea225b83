/**
 * Stale, future and backfilled data: a reading observed more than `rules.staleness.maxAgeSec` (300 s) before the
 * gateway clock, or more than `maxFutureSec` (120 s) after it, is stored as usual but never raises a live
 * physiological alarm; it enters NEWS2 only within the parameter's own maximum age. Both bounds are a local
 * engineering choice, to be reviewed (staleness.ts). Through the real ingest path and rule engine
 * (ingest-pipeline.ts), with device times in the plain JSON payload.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rulesConfigSchema } from "../../src/rules/config.js";
import {
  assertStalenessConfig,
  DEFAULT_STALENESS_CONFIG,
  isLive,
  isWithinAge,
  timelinessOf,
} from "../../src/rules/staleness.js";
import { type Pipeline, pipeline, T0 } from "./ingest-pipeline.js";

const YEAR_MS = 365 * 86_400_000;

/** A plain JSON payload of one reading measured at `timeMs` by the device clock. */
function at(kind: string, value: number, unit: string, timeMs: number) {
  return { readings: [{ kind, value, unit, time: timeMs }] };
}
const spo2At = (value: number, timeMs: number) => at("spo2", value, "%", timeMs);
const physiological = (p: Pipeline) => p.events.filter((e) => e.category === "physiological");
const ofRule = (p: Pipeline, ruleId: string) => p.events.filter((e) => e.rule_id === ruleId);

describe("the staleness horizon (pure)", () => {
  it("calls a time live from maxAgeSec before the clock to maxFutureSec after it, both bounds included", () => {
    const now = 1_000_000_000;
    assert.equal(timelinessOf(now - 300_000, now, 300, 120), "live");
    assert.equal(timelinessOf(now - 300_001, now, 300, 120), "stale");
    assert.equal(timelinessOf(now + 120_000, now, 300, 120), "live");
    assert.equal(timelinessOf(now + 120_001, now, 300, 120), "future");
    assert.equal(isLive({ observedAtMs: now }, now, DEFAULT_STALENESS_CONFIG), true);
    assert.equal(isWithinAge(now - 3_600_000, now, 3600, { maxFutureSec: 120 }), true);
    assert.equal(isWithinAge(now - 3_600_001, now, 3600, { maxFutureSec: 120 }), false);
    assert.equal(isWithinAge(now + 121_000, now, 3600, { maxFutureSec: 120 }), false);
  });

  it("defaults to 300 s back and 120 s ahead, and refuses bounds that are negative or not finite", () => {
    assert.deepEqual(rulesConfigSchema.parse({}).staleness, { maxAgeSec: 300, maxFutureSec: 120 });
    assert.deepEqual(rulesConfigSchema.parse({ staleness: { maxAgeSec: 600 } }).staleness, {
      maxAgeSec: 600,
      maxFutureSec: 120,
    });
    const problems = rulesConfigSchema.safeParse({
      staleness: { maxAgeSec: -1, maxFutureSec: 1, maxAge: 3 },
    });
    assert.equal(problems.success, false);
    assert.deepEqual(problems.error?.issues.map((i) => [i.path.join("."), i.code]).sort(), [
      ["staleness", "unrecognized_keys"],
      ["staleness.maxAgeSec", "too_small"],
    ]);
    assert.throws(() => assertStalenessConfig({ maxAgeSec: Number.NaN, maxFutureSec: 0 }), RangeError);
  });
});

describe("stale and future data through ingest", () => {
  it("stores a SpO2 of 80 % measured a year ago and raises no live alarm, while a live one does", async () => {
    const p = pipeline();
    try {
      await p.run(30, () => p.mqtt("ox-1", "json", spo2At(80, p.clock.now() - YEAR_MS)));
      const stored = p.stored("ox-1");
      assert.equal(stored.length, 30, "historic values are stored and proved as usual");
      assert.ok(stored.every((r) => r.observedAtMs < p.clock.now() - YEAR_MS + 60_000));
      assert.deepEqual(physiological(p), []);
      await p.run(10, () => p.mqtt("ox-1", "json", spo2At(80, p.clock.now() - 20_000)));
      assert.deepEqual(
        ofRule(p, "threshold.spo2.low").map((e) => [e.transition, e.priority]),
        [["raise", "high"]],
        "20 s old is live: it alarms",
      );
    } finally {
      await p.close();
    }
  });

  it("raises no live alarm on a value timed more than 120 s ahead of the gateway clock, and does within it", async () => {
    const p = pipeline();
    try {
      await p.run(20, () => p.mqtt("ox-1", "json", spo2At(80, p.clock.now() + 180_000)));
      assert.equal(p.stored("ox-1").length, 20);
      assert.ok(p.stored("ox-1").every((r) => r.flags.includes("clock_drift")));
      assert.deepEqual(physiological(p), []);
      await p.run(10, () => p.mqtt("ox-1", "json", spo2At(80, p.clock.now() + 60_000)));
      assert.equal(ofRule(p, "threshold.spo2.low").length, 1);
    } finally {
      await p.close();
    }
  });

  it("says so with a data-not-live alarm when a device keeps sending stale readings for 60 s, and clears on a live one", async () => {
    const p = pipeline();
    try {
      await p.run(61, () => p.mqtt("ox-1", "json", spo2At(97, p.clock.now() - YEAR_MS)));
      const [raised, ...more] = ofRule(p, "technical.data_not_live");
      assert.deepEqual(more, []);
      assert.equal(raised?.priority, "medium");
      assert.equal(raised?.device_id, "ox-1");
      assert.match(
        raised?.reason ?? "",
        /^data not live: readings arrive 365 d after they were measured \(limit 5 min\) since 2026-01-01T08:00:00Z; they are not used for live alarms$/,
      );
      await p.mqtt("ox-1", "json", spo2At(97, p.clock.now()));
      assert.match(
        p.engine.activeAlerts({ category: "technical" })[0]?.reason ?? "",
        /^data not live: ended, live readings again at /,
      );
    } finally {
      await p.close();
    }
  });

  it("raises nothing for a backfill burst after a reconnect, and does not let a backfilled value override a newer live one", async () => {
    const p = pipeline();
    try {
      await p.run(5, () => p.mqtt("ox-1", "json", spo2At(97, p.clock.now())));
      // reconnect: the device sends what it buffered, an hour of history and the last 4 minutes, in one pack
      const now = p.clock.now();
      const backlog = [];
      for (let s = 3600; s >= 10; s -= 10)
        backlog.push({ kind: "spo2", value: 82, unit: "%", time: now - s * 1000 });
      await p.mqtt("ox-1", "json", { readings: backlog });
      // a quiet spell: the rule holds its last value, which must still be the newest (97), not the backlog's
      await p.run(10);
      await p.run(80, () => p.mqtt("ox-1", "json", spo2At(97, p.clock.now())));
      assert.equal(p.stored("ox-1").length, 5 + backlog.length + 80, "the backlog is stored in full");
      assert.deepEqual(p.events, [], "no live alarm from history, no data-not-live alarm from one burst");
    } finally {
      await p.close();
    }
  });

  it("says so with a data-not-live alarm when a device clock set back keeps timing readings before ones already judged", async () => {
    const p = pipeline();
    try {
      await p.run(5, () => p.mqtt("ox-1", "json", spo2At(97, p.clock.now())));
      // the device clock is set back 2 min: live by the horizon, but older than what the rules hold as "now"
      // (119 s older than the last value, measured a second before)
      await p.run(70, () => p.mqtt("ox-1", "json", spo2At(80, p.clock.now() - 120_000)));
      assert.deepEqual(physiological(p), [], "out-of-order values do not replace the newest one");
      const [raised] = ofRule(p, "technical.data_not_live");
      assert.equal((raised!.at_ms - T0) / 1000, 65, "after 60 s of them");
      assert.match(
        raised?.reason ?? "",
        /^data not live: readings are timed before ones already received from the device \(119 s before at first\) since 2026-01-01T08:00:05Z; they are not used for live alarms$/,
      );
      // once its clock has caught up with what it sent before the change, its values count again
      await p.run(60, () => p.mqtt("ox-1", "json", spo2At(80, p.clock.now() - 120_000)));
      assert.deepEqual(
        ofRule(p, "threshold.spo2.low").map((e) => [e.transition, e.priority]),
        [["raise", "high"]],
      );
      assert.match(
        p.engine.activeAlerts({ category: "technical" }).find((a) => a.rule_id === "technical.data_not_live")
          ?.reason ?? "",
        /^data not live: ended, live readings again at /,
      );
    } finally {
      await p.close();
    }
  });

  it("enters NEWS2 only within each parameter's maximum age and never from a time beyond the future tolerance", async () => {
    const p = pipeline();
    try {
      const now = p.clock.now();
      p.engine.onClinicianObservation({
        subjectId: "pt-mon-1",
        enteredBy: "rn.jones",
        observedAtMs: now,
        enteredAtMs: now,
        supplementalOxygen: false,
        consciousness: "A",
      });
      const pack = (time: number, spo2Time: number) => ({
        readings: [
          { kind: "respiratory_rate", value: 16, unit: "/min", time },
          { kind: "spo2", value: 97, unit: "%", time: spo2Time },
          { kind: "bp_systolic", value: 120, unit: "mm[Hg]", time },
          { kind: "bp_diastolic", value: 80, unit: "mm[Hg]", time },
          { kind: "heart_rate", value: 70, unit: "/min", time },
          { kind: "body_temperature", value: 37, unit: "Cel", time },
        ],
      });
      // measured 2 h ago (NEWS2 keeps device vitals 1 h), SpO2 timed 3 min ahead
      await p.mqtt("mon-1", "json", pack(now - 7_200_000, now + 180_000));
      const a = p.engine.news2("pt-mon-1");
      assert.equal(a.isComplete, false);
      assert.deepEqual(a.stale, ["respiratory_rate", "systolic_bp", "pulse", "temperature"]);
      assert.ok(a.missing.includes("spo2"), "a value from the future does not enter the score");
      // 30 min old is within the hour: it scores
      await p.mqtt("mon-1", "json", pack(now - 1_800_000, now - 1_800_000));
      assert.equal(p.engine.news2("pt-mon-1").isComplete, true);
      assert.equal(p.engine.news2("pt-mon-1").total, 0);
    } finally {
      await p.close();
    }
  });
});
