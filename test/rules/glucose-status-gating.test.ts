/**
 * A glucose meter's Sensor Status Annunciation gates its reading [clinical.md §1.7; §5.2 "Signal-quality
 * gating": use … glucose SSA]: a value the meter calls unreliable, or cannot place in time, is stored flagged
 * `signal_unreliable`, the physiological rules ignore it, and the technical alarm "signal quality" names the
 * condition the meter reported. Real Ingest, commit thread, SQLite file, Glucose Measurement decoder and rule
 * engine (ingest-pipeline.ts) on a ManualClock; a ward low-glucose limit of 54 mg/dL, HIGH at once (level 2
 * hypoglycaemia; here only a test limit: glucose has no built-in limit), signal quality after 10 s, MEDIUM.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeGlucoseMeasurement } from "../../src/drivers/profiles/gatt-glucose-measurement.js";
import { hex } from "../../src/drivers/profiles/hex.js";
import { type Pipeline, pipeline } from "./ingest-pipeline.js";

const RULES = {
  thresholds: {
    ward: {
      glucose: { low: [{ limit: 54, priority: "high", persistenceSec: 0 }], hysteresis: 5, clearSec: 5 },
    },
  },
};

/**
 * A Glucose Measurement frame: flags 0x0A (concentration + type/location, SSA; kg/L, no time offset), sequence
 * `seq`, base time 2026-01-01 08:00:`second` (the pipeline's clock starts at 08:00:00), 45 mg/dL (0xB02D = 45 ×
 * 10⁻⁵ kg/L), capillary whole blood from a finger (0x11), then the SSA word little-endian.
 */
function frame(p: Pipeline, seq: number, second: number, ssa: number) {
  const b = (n: number) => n.toString(16).padStart(2, "0");
  const text = `0A ${b(seq)} 00 EA 07 01 01 08 00 ${b(second)} 2D B0 11 ${b(ssa & 0xff)} ${b(ssa >> 8)}`;
  return decodeGlucoseMeasurement(hex(text), { nowMs: p.clock.now() });
}

const physiological = (p: Pipeline) => p.events.filter((e) => e.category === "physiological");
const ofRule = (p: Pipeline, ruleId: string) => p.events.filter((e) => e.rule_id === ruleId);

describe("glucose Sensor Status Annunciation through ingest and the rules", () => {
  it("stores a strip insertion error's 45 mg/dL flagged, raises no low-glucose alarm, and names the condition in signal quality", async () => {
    const p = pipeline(RULES);
    try {
      await p.ble("gm-1", frame(p, 1, 0, 1 << 3));
      await p.run(15);
      const stored = p.stored("gm-1");
      assert.equal(stored.length, 1);
      assert.ok(stored[0]!.flags.includes("signal_unreliable"), String(stored[0]!.flags));
      assert.deepEqual(physiological(p), []);
      const quality = ofRule(p, "technical.signal_quality");
      assert.deepEqual(
        quality.map((e) => [e.transition, e.priority, e.reason]),
        [
          [
            "raise",
            "medium",
            "signal quality: the device reports strip insertion error with its glucose values since 2026-01-01T08:00:00Z; they are not used for physiological alarms",
          ],
        ],
      );
      // the next measurement is clean: the same 45 mg/dL alarms, and the technical condition ends
      await p.ble("gm-1", frame(p, 2, 15, 0));
      await p.run(1);
      assert.deepEqual(
        ofRule(p, "threshold.glucose.low").map((e) => [e.transition, e.priority]),
        [["raise", "high"]],
      );
      assert.match(
        p.engine.activeAlerts({ category: "technical" })[0]?.reason ?? "",
        /^signal quality: ended, reliable values again at 2026-01-01T08:00:15Z$/,
      );
    } finally {
      await p.close();
    }
  });

  it("gates a time fault and says so: a value that cannot be placed in time raises no live alarm", async () => {
    const p = pipeline(RULES);
    try {
      await p.ble("gm-2", frame(p, 1, 0, 1 << 11));
      await p.run(11);
      assert.deepEqual(physiological(p), []);
      assert.match(
        ofRule(p, "technical.signal_quality")[0]?.reason ?? "",
        /^signal quality: the device reports time fault with its glucose values since /,
      );
    } finally {
      await p.close();
    }
  });

  it("still alarms on a low value reported with a low battery or as lower than the meter can measure [bits 0, 6]", async () => {
    for (const ssa of [1 << 0, 1 << 6]) {
      const p = pipeline(RULES);
      try {
        await p.ble("gm-3", frame(p, 1, 0, ssa));
        await p.run(11);
        assert.deepEqual(
          ofRule(p, "threshold.glucose.low").map((e) => [e.transition, e.priority]),
          [["raise", "high"]],
          `SSA 0x${ssa.toString(16)}`,
        );
        assert.deepEqual(ofRule(p, "technical.signal_quality"), []);
      } finally {
        await p.close();
      }
    }
  });

  it("names every condition the frame reports", async () => {
    const p = pipeline(RULES);
    try {
      await p.ble("gm-4", frame(p, 1, 0, (1 << 2) | (1 << 9)));
      await p.run(11);
      assert.match(
        ofRule(p, "technical.signal_quality")[0]?.reason ?? "",
        /^signal quality: the device reports sample size insufficient, read interrupted with its glucose values since /,
      );
    } finally {
      await p.close();
    }
  });

  it("names only the issues of the frame that carried them, not a later frame's", async () => {
    const p = pipeline(RULES);
    try {
      // a frame whose status names an issue but whose reading is not flagged, then a flagged reading with no status
      await p.submit("gm-5", [{ kind: "glucose", value: 100, unit: "mg/dL" }], {
        measurementIssues: ["strip_insertion_error"],
      });
      await p.run(1);
      await p.submit("gm-5", [{ kind: "glucose", value: 45, unit: "mg/dL", flags: ["signal_unreliable"] }]);
      await p.run(11);
      assert.match(
        ofRule(p, "technical.signal_quality")[0]?.reason ?? "",
        /^signal quality: the device marks its glucose values unreliable since 2026-01-01T08:00:01Z; /,
      );
    } finally {
      await p.close();
    }
  });
});
