import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { DEFAULT_NEWS2_CONFIG, News2Rule } from "../../src/rules/news2.js";
import {
  news2Band,
  roundHalfUp,
  scoreConsciousness,
  scorePulse,
  scoreRespiratoryRate,
  scoreSpo2Scale1,
  scoreSpo2Scale2,
  scoreSupplementalOxygen,
  scoreSystolicBp,
  scoreTemperature,
} from "../../src/rules/news2-score.js";
import type { ClinicianObservation, ConditionUpdate } from "../../src/rules/rule.js";
import { reading } from "./helpers.js";

/** [below, score below, above, score above] for every band edge of RCP NEWS2 Chart 1. */
type Edge = [number, number, number, number];

function edges(name: string, score: (v: number) => number, table: Edge[]): void {
  for (const [lo, loScore, hi, hiScore] of table) {
    it(`${name} ${lo} scores ${loScore} and ${hi} scores ${hiScore}`, () => {
      assert.equal(score(lo), loScore);
      assert.equal(score(hi), hiScore);
    });
  }
}

describe("NEWS2 Chart 1 band edges (RCP 2017)", () => {
  edges("respiration rate", scoreRespiratoryRate, [
    [8, 3, 9, 1],
    [11, 1, 12, 0],
    [20, 0, 21, 2],
    [24, 2, 25, 3],
  ]);
  edges("SpO2 scale 1", scoreSpo2Scale1, [
    [91, 3, 92, 2],
    [93, 2, 94, 1],
    [95, 1, 96, 0],
  ]);
  edges("SpO2 scale 2 on oxygen", (v) => scoreSpo2Scale2(v, true), [
    [83, 3, 84, 2],
    [85, 2, 86, 1],
    [87, 1, 88, 0],
    [92, 0, 93, 1],
    [94, 1, 95, 2],
    [96, 2, 97, 3],
  ]);
  edges("SpO2 scale 2 on air", (v) => scoreSpo2Scale2(v, false), [
    [83, 3, 84, 2],
    [85, 2, 86, 1],
    [87, 1, 88, 0],
    [92, 0, 93, 0],
    [96, 0, 97, 0],
  ]);
  edges("systolic BP", scoreSystolicBp, [
    [90, 3, 91, 2],
    [100, 2, 101, 1],
    [110, 1, 111, 0],
    [219, 0, 220, 3],
  ]);
  edges("pulse", scorePulse, [
    [40, 3, 41, 1],
    [50, 1, 51, 0],
    [90, 0, 91, 1],
    [110, 1, 111, 2],
    [130, 2, 131, 3],
  ]);
  edges("temperature", scoreTemperature, [
    [35.0, 3, 35.1, 1],
    [36.0, 1, 36.1, 0],
    [38.0, 0, 38.1, 1],
    [39.0, 1, 39.1, 2],
  ]);

  it("scores supplemental oxygen 2 and air 0", () => {
    assert.equal(scoreSupplementalOxygen(true), 2);
    assert.equal(scoreSupplementalOxygen(false), 0);
  });

  it("scores Alert 0 and each of new Confusion, Voice, Pain, Unresponsive 3", () => {
    assert.equal(scoreConsciousness("A"), 0);
    for (const level of ["C", "V", "P", "U"] as const) assert.equal(scoreConsciousness(level), 3);
  });
});

describe("NEWS2 rounding decision (clinical.md §2.1)", () => {
  it("rounds integer parameters half-up before scoring", () => {
    assert.equal(scoreRespiratoryRate(20.4), 0);
    assert.equal(scoreRespiratoryRate(20.5), 2);
    assert.equal(scoreSpo2Scale1(95.4), 1);
    assert.equal(scoreSpo2Scale1(95.5), 0);
    assert.equal(scoreSystolicBp(90.5), 2);
    assert.equal(scorePulse(130.49), 2);
    assert.equal(scorePulse(130.5), 3);
  });

  it("rounds temperature half-up to 0.1 °C despite binary fractions", () => {
    assert.equal(roundHalfUp(36.05, 1), 36.1);
    assert.equal(scoreTemperature(35.04), 3);
    assert.equal(scoreTemperature(35.05), 1);
    assert.equal(scoreTemperature(39.04), 1);
    assert.equal(scoreTemperature(39.05), 2);
  });
});

describe("NEWS2 clinical-risk bands (Chart 3/4)", () => {
  it("maps aggregate 0 to zero, 1–4 to low, 5–6 to medium, 7 and above to high", () => {
    assert.equal(news2Band(0, false), "zero");
    for (const t of [1, 4]) assert.equal(news2Band(t, false), "low");
    for (const t of [5, 6]) assert.equal(news2Band(t, false), "medium");
    for (const t of [7, 20]) assert.equal(news2Band(t, false), "high");
  });

  it("lifts a single parameter scoring 3 to low-medium but never lowers a higher band", () => {
    assert.equal(news2Band(3, true), "low_medium");
    assert.equal(news2Band(4, true), "low_medium");
    assert.equal(news2Band(5, true), "medium");
    assert.equal(news2Band(8, true), "high");
  });

  it("treats a red score like 5–6 when the local policy says so", () => {
    assert.equal(news2Band(3, true, true), "medium");
  });
});

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const PERSIST_MS = DEFAULT_NEWS2_CONFIG.persistSec * 1000;

function obs(partial: Partial<ClinicianObservation>, atMs = T0): ClinicianObservation {
  return { subjectId: "p1", enteredBy: "rn.jones", observedAtMs: atMs, enteredAtMs: atMs, ...partial };
}

/**
 * A rule fed with a full, normal set (total 0) unless overridden, `persistSec` ago: every device value has
 * persisted and is scored (a value fed later waits `persistSec`, or counts at once when it is an improvement).
 */
function setup(values: { rr?: number; spo2?: number; sbp?: number; pulse?: number; temp?: number } = {}) {
  const clock = new ManualClock(T0);
  const rule = new News2Rule(DEFAULT_NEWS2_CONFIG);
  const out: ConditionUpdate[] = [];
  const feed = (kind: Parameters<typeof reading>[1], v: number) =>
    out.push(...rule.evaluate({ type: "reading", reading: reading(clock, kind, v) }, clock.now()));
  const observe = (o: Partial<ClinicianObservation>) =>
    out.push(
      ...rule.evaluate({ type: "clinician_observation", observation: obs(o, clock.now()) }, clock.now()),
    );
  feed("respiratory_rate", values.rr ?? 16);
  feed("spo2", values.spo2 ?? 97);
  feed("bp_systolic", values.sbp ?? 120);
  feed("heart_rate", values.pulse ?? 70);
  feed("body_temperature", values.temp ?? 37);
  clock.advance(PERSIST_MS);
  return { clock, rule, out, feed, observe };
}

describe("NEWS2 per subject", () => {
  it("reports incomplete with the clinician-only parameters missing when only devices reported", () => {
    const { rule, clock, out } = setup();
    const a = rule.assess("p1", clock.now());
    assert.equal(a.isComplete, false);
    assert.deepEqual(a.missing, ["supplemental_oxygen", "consciousness"]);
    assert.equal(a.total, null);
    assert.equal(a.band, null);
    assert.deepEqual(out, []);
  });

  it("lists all seven parameters as missing for an unknown subject", () => {
    const rule = new News2Rule(DEFAULT_NEWS2_CONFIG);
    const a = rule.assess("nobody", T0);
    assert.deepEqual(a.missing, [
      "respiratory_rate",
      "spo2",
      "supplemental_oxygen",
      "systolic_bp",
      "pulse",
      "consciousness",
      "temperature",
    ]);
  });

  it("computes the total once the clinician enters air/oxygen and ACVPU, crediting who entered them", () => {
    const { rule, clock, observe } = setup({ rr: 22, temp: 38.5 });
    observe({ supplementalOxygen: false, consciousness: "A" });
    const a = rule.assess("p1", clock.now());
    assert.equal(a.isComplete, true);
    assert.equal(a.total, 3);
    assert.equal(a.band, "low");
    const acvpu = a.parameters.find((p) => p.parameter === "consciousness");
    assert.deepEqual(acvpu?.source, { type: "clinician", enteredBy: "rn.jones", enteredAtMs: clock.now() });
  });

  it("lists a parameter older than its maximum age as missing and stale", () => {
    const { rule, clock, observe, feed } = setup();
    observe({ supplementalOxygen: false, consciousness: "A" });
    clock.advance(3601_000);
    feed("heart_rate", 72);
    feed("spo2", 97);
    // the new pulse and SpO2 wait persistSec behind their stale values
    const waiting = rule.assess("p1", clock.now());
    assert.deepEqual(waiting.stale, ["respiratory_rate", "spo2", "systolic_bp", "pulse", "temperature"]);
    assert.deepEqual(
      waiting.pending.map((p) => [p.parameter, p.raw, p.sinceMs]),
      [
        ["spo2", 97, clock.now()],
        ["pulse", 72, clock.now()],
      ],
    );
    clock.advance(PERSIST_MS);
    const a = rule.assess("p1", clock.now());
    assert.equal(a.isComplete, false);
    assert.deepEqual(a.missing, ["respiratory_rate", "systolic_bp", "temperature"]);
    assert.deepEqual(a.stale, ["respiratory_rate", "systolic_bp", "temperature"]);
    assert.deepEqual(a.pending, []);
  });

  it("keeps the newer value when a buffered older reading arrives later", () => {
    const { rule, clock, observe, feed } = setup({ pulse: 70 });
    observe({ supplementalOxygen: false, consciousness: "A" });
    const r = reading(clock, "heart_rate", 140, { deviceTimeMs: clock.now() - 600_000 });
    rule.evaluate({ type: "reading", reading: r }, clock.now());
    assert.equal(rule.assess("p1", clock.now()).total, 0);
    feed("heart_rate", 140);
    clock.advance(PERSIST_MS);
    assert.equal(rule.assess("p1", clock.now()).total, 3);
  });

  it("uses SpO2 scale 1 unless scale 2 is prescribed", () => {
    const { rule, clock, observe } = setup({ spo2: 89 });
    observe({ supplementalOxygen: true, consciousness: "A" });
    const s1 = rule.assess("p1", clock.now());
    assert.equal(s1.scale, 1);
    assert.equal(s1.total, 3 + 2);
    observe({ spo2Scale: 2 });
    const s2 = rule.assess("p1", clock.now());
    assert.equal(s2.scale, 2);
    assert.equal(s2.total, 0 + 2);
  });

  it("on scale 2 scores SpO2 ≥ 97 as 3 on oxygen but 0 on air", () => {
    const { rule, clock, observe } = setup({ spo2: 98 });
    observe({ spo2Scale: 2, supplementalOxygen: true, consciousness: "A" });
    assert.equal(rule.assess("p1", clock.now()).total, 3 + 2);
    observe({ supplementalOxygen: false });
    assert.equal(rule.assess("p1", clock.now()).total, 0);
  });

  it("raises no alert for the zero and low bands", () => {
    const { out, observe } = setup({ rr: 22 });
    observe({ supplementalOxygen: false, consciousness: "A" });
    assert.deepEqual(out, []);
  });

  it("maps a red score to LOW, 5–6 to MEDIUM and ≥ 7 to HIGH priority", () => {
    const red = setup({ rr: 8 });
    red.observe({ supplementalOxygen: false, consciousness: "A" });
    const p = (u: ConditionUpdate | undefined) => (u?.type === "active" ? u.condition.priority : null);
    assert.equal(p(red.out.at(-1)), "low");

    const medium = setup({ rr: 22, pulse: 115, temp: 38.5 });
    medium.observe({ supplementalOxygen: false, consciousness: "A" });
    assert.equal(p(medium.out.at(-1)), "medium");

    const high = setup({ rr: 26 });
    high.observe({ supplementalOxygen: true, consciousness: "V" });
    assert.equal(p(high.out.at(-1)), "high");
    const last = high.out.at(-1);
    assert.match(last?.type === "active" ? last.condition.reason : "", /NEWS2 8/);
  });

  it("clears the NEWS2 condition when a complete reassessment falls below the alert bands", () => {
    const s = setup({ rr: 26 });
    s.observe({ supplementalOxygen: true, consciousness: "V" });
    s.observe({ supplementalOxygen: false, consciousness: "A" });
    s.feed("respiratory_rate", 16);
    assert.deepEqual(s.out.at(-1), {
      type: "clear",
      key: "p1:news2",
      reason: "NEWS2 0 (zero clinical risk, SpO2 scale 1)",
    });
  });

  it("neither raises nor clears while incomplete", () => {
    const s = setup({ rr: 26 });
    s.observe({ supplementalOxygen: true, consciousness: "V" });
    const before = s.out.length;
    s.clock.advance(4 * 3600_000 + 1000);
    s.out.push(...s.rule.evaluate({ type: "tick", atMs: s.clock.now() }, s.clock.now()));
    s.feed("respiratory_rate", 16);
    assert.equal(s.out.length, before);
    assert.equal(s.rule.assess("p1", s.clock.now()).isComplete, false);
  });
});
