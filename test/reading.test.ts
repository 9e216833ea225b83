import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normaliseBatch, normaliseInput, type ReadingInput } from "../src/reading.js";

const NOW = Date.UTC(2026, 10, 21, 12, 0, 0);
const ok = (input: ReadingInput) => {
  const r = normaliseInput(input, NOW);
  assert.ok(r.ok, `expected ${JSON.stringify(input)} to be accepted: ${r.ok ? "" : r.detail}`);
  return r.value;
};
const reason = (input: ReadingInput) => {
  const r = normaliseInput(input, NOW);
  assert.ok(!r.ok, `expected ${JSON.stringify(input)} to be rejected`);
  return r.reason;
};

describe("reading validation (clinical.md §6)", () => {
  it("maps each vital to its LOINC code and canonical UCUM unit", () => {
    const cases: Array<[ReadingInput, string, string]> = [
      [{ kind: "heart_rate", value: 72, unit: "/min" }, "8867-4", "/min"],
      [{ kind: "pulse_rate", value: 70, unit: "{beats}/min" }, "8867-4", "/min"],
      [{ kind: "spo2", value: 97, unit: "%" }, "2708-6", "%"],
      [{ kind: "respiratory_rate", value: 14, unit: "/min" }, "9279-1", "/min"],
      [{ kind: "body_temperature", value: 36.8, unit: "Cel" }, "8310-5", "Cel"],
      [{ kind: "bp_systolic", value: 120, unit: "mm[Hg]" }, "8480-6", "mm[Hg]"],
      [{ kind: "bp_diastolic", value: 80, unit: "mm[Hg]" }, "8462-4", "mm[Hg]"],
      [{ kind: "bp_mean", value: 93, unit: "mm[Hg]" }, "8478-0", "mm[Hg]"],
      [{ kind: "glucose", value: 95, unit: "mg/dL" }, "41653-7", "mg/dL"],
      [{ kind: "glucose", value: 5.3, unit: "mmol/L" }, "14743-9", "mmol/L"],
      [{ kind: "body_weight", value: 72.4, unit: "kg" }, "29463-7", "kg"],
    ];
    for (const [input, loinc, unit] of cases) {
      const v = ok(input);
      assert.equal(v.loinc, loinc, input.kind);
      assert.equal(v.unit, unit, input.kind);
      assert.deepEqual(v.flags, [], input.kind);
    }
  });

  it("converts units and says so, rounding to the kept precision", () => {
    assert.deepEqual(
      [ok({ kind: "body_temperature", value: 98.6, unit: "[degF]" })].map((v) => [v.value, v.unit, v.flags]),
      [[37, "Cel", ["unit_converted"]]],
    );
    assert.equal(ok({ kind: "heart_rate", value: 1.2, unit: "1/s" }).value, 72);
    assert.equal(ok({ kind: "bp_systolic", value: 16132, unit: "Pa" }).value, 121);
    assert.equal(ok({ kind: "bp_systolic", value: 16, unit: "kPa" }).value, 120);
    assert.equal(ok({ kind: "body_weight", value: 160, unit: "[lb_av]" }).value, 72.575);
    assert.equal(ok({ kind: "glucose", value: 0.95, unit: "kg/m3" }).value, 95);
  });

  it("rejects values at or beyond the hard physiologic limits with the reason", () => {
    assert.equal(reason({ kind: "heart_rate", value: 0, unit: "/min" }), "below_physiologic_limit");
    assert.equal(reason({ kind: "heart_rate", value: 300, unit: "/min" }), "above_physiologic_limit");
    assert.equal(reason({ kind: "respiratory_rate", value: 70, unit: "/min" }), "above_physiologic_limit");
    assert.equal(reason({ kind: "spo2", value: 100.1, unit: "%" }), "above_physiologic_limit");
    assert.equal(reason({ kind: "spo2", value: -1, unit: "%" }), "below_physiologic_limit");
    assert.equal(reason({ kind: "body_temperature", value: 10, unit: "Cel" }), "below_physiologic_limit");
    assert.equal(reason({ kind: "body_temperature", value: 50, unit: "Cel" }), "above_physiologic_limit");
    assert.equal(reason({ kind: "bp_systolic", value: 400, unit: "mm[Hg]" }), "above_physiologic_limit");
    assert.equal(reason({ kind: "bp_diastolic", value: 300, unit: "mm[Hg]" }), "above_physiologic_limit");
    assert.equal(reason({ kind: "bp_mean", value: 0, unit: "mm[Hg]" }), "below_physiologic_limit");
    assert.equal(reason({ kind: "glucose", value: 0, unit: "mg/dL" }), "below_physiologic_limit");
    assert.equal(reason({ kind: "body_weight", value: 0, unit: "kg" }), "below_physiologic_limit");
  });

  it("accepts the edges just inside the hard limits", () => {
    assert.equal(ok({ kind: "heart_rate", value: 299.9, unit: "/min" }).value, 299.9);
    assert.equal(ok({ kind: "spo2", value: 100, unit: "%" }).value, 100);
    assert.equal(ok({ kind: "spo2", value: 0, unit: "%" }).value, 0);
  });

  it("accepts the confirm band but flags it questionable", () => {
    for (const input of [
      { kind: "heart_rate", value: 19, unit: "/min" },
      { kind: "heart_rate", value: 251, unit: "/min" },
      { kind: "respiratory_rate", value: 3, unit: "/min" },
      { kind: "spo2", value: 49, unit: "%" },
      { kind: "body_temperature", value: 24, unit: "Cel" },
      { kind: "bp_systolic", value: 301, unit: "mm[Hg]" },
      { kind: "glucose", value: 601, unit: "mg/dL" },
      { kind: "glucose", value: 1.0, unit: "mmol/L" },
      { kind: "body_weight", value: 0.2, unit: "kg" },
    ] as ReadingInput[]) {
      assert.ok(ok(input).flags.includes("questionable"), JSON.stringify(input));
    }
    assert.ok(!ok({ kind: "heart_rate", value: 20, unit: "/min" }).flags.includes("questionable"));
  });

  it("rejects non-finite values, unknown kinds and unsupported units", () => {
    assert.equal(reason({ kind: "heart_rate", value: Number.NaN, unit: "/min" }), "value_not_finite");
    assert.equal(
      reason({ kind: "heart_rate", value: Number.POSITIVE_INFINITY, unit: "/min" }),
      "value_not_finite",
    );
    assert.equal(reason({ kind: "mood" as never, value: 1, unit: "/min" }), "unknown_vital");
    assert.equal(reason({ kind: "bp_systolic", value: 120, unit: "mmHg" }), "unit_unsupported");
    assert.equal(reason({ kind: "heart_rate", value: 72, unit: "toString" }), "unit_unsupported");
  });

  it("rejects device times far in the future and flags a clock running ahead", () => {
    assert.equal(
      reason({ kind: "heart_rate", value: 72, unit: "/min", deviceTimeMs: NOW + 6 * 60_000 }),
      "device_time_in_future",
    );
    assert.equal(
      reason({ kind: "heart_rate", value: 72, unit: "/min", deviceTimeMs: 1000 }),
      "device_time_invalid",
    );
    const drift = ok({ kind: "heart_rate", value: 72, unit: "/min", deviceTimeMs: NOW + 3 * 60_000 });
    assert.deepEqual(drift.flags, ["clock_drift"]);
    assert.equal(drift.observedAtMs, NOW + 3 * 60_000);
    const old = ok({ kind: "heart_rate", value: 72, unit: "/min", deviceTimeMs: NOW - 3600_000 });
    assert.deepEqual(old.flags, []);
  });

  it("resolves relative times against the receive time", () => {
    const v = ok({ kind: "heart_rate", value: 72, unit: "/min", timeOffsetMs: -5000 });
    assert.equal(v.deviceTimeMs, null);
    assert.equal(v.observedAtMs, NOW - 5000);
  });

  it("rejects a blood-pressure set whose diastolic is not below systolic, and only that set", () => {
    const t = NOW - 1000;
    const { accepted, rejected } = normaliseBatch(
      [
        { kind: "bp_systolic", value: 80, unit: "mm[Hg]", deviceTimeMs: t },
        { kind: "bp_diastolic", value: 90, unit: "mm[Hg]", deviceTimeMs: t },
        { kind: "heart_rate", value: 70, unit: "/min", deviceTimeMs: t },
      ],
      NOW,
    );
    assert.deepEqual(
      rejected.map((r) => [r.index, r.reason]),
      [
        [0, "bp_diastolic_not_below_systolic"],
        [1, "bp_diastolic_not_below_systolic"],
      ],
    );
    assert.deepEqual(
      accepted.map((a) => a.kind),
      ["heart_rate"],
    );
  });

  it("rejects a mean pressure outside [diastolic, systolic] and flags a narrow pulse pressure", () => {
    const bad = normaliseBatch(
      [
        { kind: "bp_systolic", value: 120, unit: "mm[Hg]" },
        { kind: "bp_diastolic", value: 80, unit: "mm[Hg]" },
        { kind: "bp_mean", value: 130, unit: "mm[Hg]" },
      ],
      NOW,
    );
    assert.equal(bad.accepted.length, 0);
    assert.ok(bad.rejected.every((r) => r.reason === "bp_mean_outside_range"));
    const narrow = normaliseBatch(
      [
        { kind: "bp_systolic", value: 100, unit: "mm[Hg]" },
        { kind: "bp_diastolic", value: 95, unit: "mm[Hg]" },
      ],
      NOW,
    );
    assert.equal(narrow.rejected.length, 0);
    assert.ok(narrow.accepted.every((a) => a.flags.includes("narrow_pulse_pressure")));
  });
});
