import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  MAX_FUTURE_SKEW_MS,
  normaliseBatch,
  normaliseInput,
  type Reading,
  type ReadingInput,
  STORAGE_WINDOW_START_MS,
  storableProblem,
} from "../src/reading.js";
import { stampReading } from "./helpers/stamp-reading.js";

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

describe("the storage window", () => {
  const hr = (time: Partial<ReadingInput>): ReadingInput => ({
    kind: "heart_rate",
    value: 72,
    unit: "/min",
    ...time,
  });

  it("refuses a relative time that resolves before the window, naming the window", () => {
    const before = STORAGE_WINDOW_START_MS - NOW - 1;
    assert.equal(reason(hr({ timeOffsetMs: before })), "time_before_storage_window");
    assert.equal(reason(hr({ timeOffsetMs: -1e20 })), "time_before_storage_window");
    assert.equal(reason(hr({ timeOffsetMs: -Number.MAX_VALUE })), "time_before_storage_window");
    assert.equal(ok(hr({ timeOffsetMs: before + 1 })).observedAtMs, STORAGE_WINDOW_START_MS);
  });

  it("keeps backfill months old (a glucose meter read over RACP) inside the window", () => {
    const sixMonthsAgo = NOW - 183 * 86_400_000;
    const v = ok({ kind: "glucose", value: 95, unit: "mg/dL", deviceTimeMs: sixMonthsAgo });
    assert.equal(v.observedAtMs, sixMonthsAgo);
    assert.equal(ok(hr({ deviceTimeMs: STORAGE_WINDOW_START_MS })).observedAtMs, STORAGE_WINDOW_START_MS);
    assert.equal(reason(hr({ deviceTimeMs: STORAGE_WINDOW_START_MS - 1 })), "device_time_invalid");
  });

  it("refuses an untimed reading when the gateway clock reads before the window", () => {
    const r = normaliseInput(hr({}), Date.UTC(1970, 0, 1, 0, 5));
    assert.ok(!r.ok);
    assert.equal(r.reason, "time_before_storage_window");
  });

  it("ends the window at the receive time plus the allowed clock skew", () => {
    assert.equal(ok(hr({ deviceTimeMs: NOW + MAX_FUTURE_SKEW_MS })).observedAtMs, NOW + MAX_FUTURE_SKEW_MS);
    assert.equal(ok(hr({ timeOffsetMs: MAX_FUTURE_SKEW_MS })).observedAtMs, NOW + MAX_FUTURE_SKEW_MS);
    assert.equal(reason(hr({ deviceTimeMs: NOW + MAX_FUTURE_SKEW_MS + 1 })), "device_time_in_future");
    assert.equal(reason(hr({ timeOffsetMs: MAX_FUTURE_SKEW_MS + 1 })), "device_time_in_future");
  });
});

describe("bounded rejection details", () => {
  let deep: unknown = [];
  for (let i = 0; i < 10_000; i++) deep = [deep];

  it("describes an unknown kind nested 10,000 deep without recursing over it", () => {
    const r = normaliseInput({ kind: deep as never, value: 1, unit: "/min" }, NOW);
    assert.ok(!r.ok);
    assert.equal(r.reason, "unknown_vital");
    assert.equal(r.detail, "unknown vital kind array(1)");
  });

  it("refuses a unit that is not a string without turning it into a property key", () => {
    const r = normaliseInput({ kind: "heart_rate", value: 72, unit: deep as never }, NOW);
    assert.ok(!r.ok);
    assert.equal(r.reason, "unit_unsupported");
    assert.match(r.detail, /^heart_rate in unit array\(1\) is not supported/);
  });

  it("keeps at most a short excerpt of a long kind or unit", () => {
    const long = "x".repeat(100_000);
    const kind = normaliseInput({ kind: long as never, value: 1, unit: "/min" }, NOW);
    const unit = normaliseInput({ kind: "heart_rate", value: 1, unit: long }, NOW);
    assert.ok(!kind.ok && !unit.ok);
    assert.ok(kind.detail.length < 100, kind.detail);
    assert.ok(unit.detail.length < 200, unit.detail);
    assert.match(kind.detail, /string\(100000\) "x{40}"…$/);
  });
});

describe("storableProblem: what the readings table would refuse, refused first", () => {
  const good = (): Reading => {
    const n = ok({ kind: "spo2", value: 97, unit: "%", deviceTimeMs: NOW - 1000, mdc: 150456 });
    return stampReading(n, NOW, 1);
  };
  const problem = (patch: Partial<Record<keyof Reading, unknown>>) =>
    storableProblem({ ...good(), ...patch } as Reading);

  it("accepts a normalised, stamped reading", () => {
    assert.equal(storableProblem(good()), undefined);
    assert.equal(
      problem({ deviceTimeMs: null, mdc: null, flags: ["questionable", "unit_converted"] }),
      undefined,
    );
  });

  it("refuses times that are not safe integers, as the INTEGER columns do", () => {
    assert.match(problem({ observedAtMs: NOW - 1e23 }) ?? "", /^observedAtMs /);
    assert.match(problem({ observedAtMs: NOW + 0.5 }) ?? "", /^observedAtMs /);
    assert.match(problem({ observedAtMs: Number.NaN }) ?? "", /^observedAtMs /);
    assert.match(problem({ deviceTimeMs: 2 ** 53 }) ?? "", /^deviceTimeMs /);
    assert.match(problem({ receivedAtMs: NOW + 0.25 }) ?? "", /^receivedAtMs /);
    assert.match(problem({ seq: 2 ** 53 }) ?? "", /^seq /);
    assert.match(problem({ seq: -1 }) ?? "", /^seq /);
  });

  it("refuses times outside the storage window", () => {
    assert.match(problem({ observedAtMs: STORAGE_WINDOW_START_MS - 1 }) ?? "", /^observedAtMs .*window/);
    assert.match(problem({ observedAtMs: NOW + MAX_FUTURE_SKEW_MS + 1 }) ?? "", /^observedAtMs .*window/);
    assert.match(problem({ deviceTimeMs: STORAGE_WINDOW_START_MS - 1 }) ?? "", /^deviceTimeMs .*window/);
    assert.equal(problem({ observedAtMs: STORAGE_WINDOW_START_MS }), undefined);
    assert.equal(problem({ observedAtMs: NOW + MAX_FUTURE_SKEW_MS }), undefined);
  });

  it("refuses empty, overlong or missing text columns", () => {
    assert.match(problem({ id: "" }) ?? "", /^id /);
    assert.match(problem({ deviceId: "d".repeat(129) }) ?? "", /^deviceId /);
    assert.match(problem({ subjectId: undefined }) ?? "", /^subjectId /);
    assert.match(problem({ loinc: 8867 }) ?? "", /^loinc /);
    assert.match(problem({ unit: "u".repeat(33) }) ?? "", /^unit /);
    assert.match(problem({ kind: "mood" }) ?? "", /^kind /);
  });

  it("refuses a value that is not finite, unknown flags and an mdc code outside 32 bits", () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, "72", null]) {
      assert.match(problem({ value }) ?? "", /^value /);
    }
    assert.match(problem({ flags: ["questionable", "made_up"] }) ?? "", /^flags /);
    assert.match(problem({ flags: "questionable" }) ?? "", /^flags /);
    for (const mdc of [-1, 2 ** 32, 1.5, "150456"]) assert.match(problem({ mdc }) ?? "", /^mdc /);
    assert.equal(problem({ mdc: 2 ** 32 - 1 }), undefined);
  });

  it("names the field only, never the value", () => {
    const detail = problem({ deviceId: "patient name ".repeat(20) }) ?? "";
    assert.doesNotMatch(detail, /patient name/);
  });
});
