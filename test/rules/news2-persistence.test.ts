/**
 * NEWS2 robust to a transient artefact: each device parameter scores the least abnormal value it had over the
 * last `rules.news2.persistSec` seconds (local engineering choice, to be reviewed; RCP NEWS2 2017 defines no
 * smoothing, IEC 60601-1-8 allows an alarm-condition delay, clinical.md §5.2). Real rule engine on an injected
 * clock with the default configuration (persistSec 10); packs go in through `onReadings`, as ingest feeds them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderNews2 } from "../../src/cli/news2.js";
import type { VitalKind } from "../../src/reading.js";
import { rulesConfigSchema } from "../../src/rules/config.js";
import {
  DEFAULT_NEWS2_CONFIG,
  heldDeviceValue,
  type Observed,
  pendingDeviceValue,
} from "../../src/rules/news2.js";
import { scoreSpo2Scale1 } from "../../src/rules/news2-score.js";
import { news2Message } from "../../src/rules/news2-view.js";
import { type Harness, harness, reading } from "./helpers.js";

interface Vitals {
  rr: number;
  spo2: number;
  sbp: number;
  pulse: number;
  temp: number;
}
const KINDS: Record<keyof Vitals, VitalKind> = {
  rr: "respiratory_rate",
  spo2: "spo2",
  sbp: "bp_systolic",
  pulse: "heart_rate",
  temp: "body_temperature",
};
/** NEWS2 0 with Alert and air. */
const WELL: Vitals = { rr: 14, spo2: 97, sbp: 122, pulse: 76, temp: 36.8 };
/** The artefact of test/scenarios/artefact-2s-news2.yaml: SpO2 72 (3) and pulse 176 (3), NEWS2 6. */
const ARTEFACT: Vitals = { ...WELL, spo2: 72, pulse: 176 };

function send(h: Harness, v: Partial<Vitals>): void {
  h.engine.onReadings(
    (Object.entries(v) as [keyof Vitals, number][]).map(([k, value]) => reading(h.clock, KINDS[k], value)),
  );
}

/** A patient with Alert and air entered and a well pack each second until the first has persisted. */
function wellPatient(persistSec?: number): Harness {
  const h = harness((c) => (persistSec === undefined ? c : { ...c, news2: { ...c.news2, persistSec } }));
  const now = h.clock.now();
  h.engine.onClinicianObservation({
    subjectId: "p1",
    enteredBy: "rn.amy",
    observedAtMs: now,
    enteredAtMs: now,
    supplementalOxygen: false,
    consciousness: "A",
  });
  send(h, WELL);
  h.run(persistSec ?? DEFAULT_NEWS2_CONFIG.persistSec, () => send(h, WELL));
  assert.equal(h.engine.news2("p1").total, 0);
  return h;
}

/** A patient with Alert and air entered, and no device value yet. */
function enteredPatient(): Harness {
  const h = harness();
  const now = h.clock.now();
  h.engine.onClinicianObservation({
    subjectId: "p1",
    enteredBy: "rn.amy",
    observedAtMs: now,
    enteredAtMs: now,
    supplementalOxygen: false,
    consciousness: "A",
  });
  return h;
}

const news2Events = (h: Harness) => h.events.filter((e) => e.rule_id === "news2");

describe("NEWS2 persistence of device values", () => {
  it("defaults to 10 s and accepts 0, but refuses a negative persistSec", () => {
    assert.equal(DEFAULT_NEWS2_CONFIG.persistSec, 10);
    assert.equal(rulesConfigSchema.parse({}).news2.persistSec, 10);
    assert.equal(rulesConfigSchema.parse({ news2: { persistSec: 0 } }).news2.persistSec, 0);
    assert.equal(rulesConfigSchema.safeParse({ news2: { persistSec: -1 } }).success, false);
  });

  it("never scores a 2-second artefact in a 1 Hz stream, and raises nothing", () => {
    const h = wellPatient();
    const totals = new Set<number | null>();
    // seconds 0–9 were well packs; 10–38 well, 39–40 artefact, 41–129 well
    h.run(120, (i) => {
      const second = i + 1;
      send(h, second === 30 || second === 31 ? ARTEFACT : WELL);
      totals.add(h.engine.news2("p1").total);
    });
    assert.deepEqual([...totals], [0]);
    assert.deepEqual(news2Events(h), []);
  });

  it("scores a sustained change once it has persisted persistSec, in one transition", () => {
    const h = wellPatient();
    h.run(10, () => send(h, WELL));
    // the artefact values from second 10 on, sustained: NEWS2 6 (medium) once they have held 10 s
    const seen: [number, number | null][] = [];
    h.run(15, (i) => {
      send(h, ARTEFACT);
      seen.push([i, h.engine.news2("p1").total]);
    });
    assert.deepEqual(
      seen.filter(([, total]) => total === 6).map(([i]) => i)[0],
      10,
      "scored when the first abnormal sample is 10 s old",
    );
    assert.ok(seen.slice(0, 10).every(([, total]) => total === 0));
    assert.deepEqual(
      news2Events(h).map((e) => [e.transition, e.priority, e.reason]),
      [["raise", "medium", "NEWS2 6 (medium clinical risk, SpO2 scale 1); scoring 3: SpO2, pulse"]],
    );
  });

  it("shows the held value and the newer, worse one while it waits", () => {
    const h = wellPatient();
    h.run(5, () => send(h, WELL));
    const startMs = h.clock.now();
    send(h, { spo2: 72 });
    h.clock.advance(4000);
    send(h, { spo2: 73 });
    const a = h.engine.news2("p1");
    const spo2 = a.parameters.find((p) => p.parameter === "spo2")!;
    assert.equal(a.total, 0);
    assert.deepEqual([spo2.raw, spo2.score], [97, 0]);
    assert.deepEqual(spo2.pending, { raw: 73, score: 3, observedAtMs: startMs + 4000, sinceMs: startMs });
    const m = news2Message(a, "gw-1", DEFAULT_NEWS2_CONFIG);
    assert.equal(m.persist_sec, 10);
    assert.deepEqual(m.parameters.find((p) => p.parameter === "spo2")!.pending, {
      value: 73,
      score: 3,
      observed_at_ms: startMs + 4000,
      since_ms: startMs,
    });
    assert.equal(m.parameters.find((p) => p.parameter === "pulse")!.pending, null);
    const lines = renderNews2({ ...m, alert: null }, h.clock.now());
    const at = lines.findIndex((l) => /^ {2}SpO2 +97 +score 0 /.test(l));
    assert.ok(at > 0, lines.join("\n"));
    assert.match(
      lines[at + 1]!,
      /^ +held: newest 73 \(score 3\) since 4 s ago, scored once it persists 10 s$/,
    );
  });

  it("scores a sparse device's value once it has stayed the latest for persistSec, without a new sample", () => {
    const h = wellPatient();
    // a cuff: SBP 88 (3) at second 0 after the well 122; nothing more from it
    h.clock.advance(1000);
    send(h, { sbp: 88 });
    h.run(9);
    assert.equal(h.engine.news2("p1").total, 0);
    h.run(1);
    assert.equal(h.engine.news2("p1").total, 3);
    assert.deepEqual(
      news2Events(h).map((e) => [e.transition, e.priority]),
      [["raise", "low"]],
    );
  });

  it("never scores a 2-second artefact at the start of a stream, and raises nothing", () => {
    const h = enteredPatient();
    // the first two packs are the artefact (SpO2 72, pulse 176: NEWS2 6 if scored), then well packs
    const seen: (number | null)[] = [];
    h.run(60, (i) => {
      send(h, i < 2 ? ARTEFACT : WELL);
      seen.push(h.engine.news2("p1").total);
    });
    assert.deepEqual(
      seen.slice(0, 10),
      Array(10).fill(null),
      "nothing scored before the first value persisted",
    );
    assert.deepEqual(new Set(seen.slice(10)), new Set([0]));
    assert.deepEqual(news2Events(h), []);
  });

  it("shows a parameter's first value as pending, and scores it once it has been the latest for persistSec", () => {
    const h = enteredPatient();
    const startMs = h.clock.now();
    send(h, ARTEFACT);
    const a = h.engine.news2("p1");
    assert.deepEqual([a.isComplete, a.total], [false, null]);
    assert.deepEqual(a.missing, ["respiratory_rate", "spo2", "systolic_bp", "pulse", "temperature"]);
    assert.deepEqual(a.stale, []);
    assert.deepEqual(
      a.pending.map((p) => [p.parameter, p.raw, p.score, p.sinceMs]),
      [
        ["respiratory_rate", 14, 0, startMs],
        ["spo2", 72, 3, startMs],
        ["systolic_bp", 122, 0, startMs],
        ["pulse", 176, 3, startMs],
        ["temperature", 36.8, 0, startMs],
      ],
    );
    const lines = renderNews2(
      { ...news2Message(a, "gw-1", DEFAULT_NEWS2_CONFIG), alert: null },
      startMs + 3000,
    );
    assert.ok(
      lines.includes(
        "  SpO2             pending: newest 72 (score 3) since 3 s ago, scored once it persists 10 s",
      ),
      lines.join("\n"),
    );
    assert.ok(!lines.some((l) => l.includes("never observed")), lines.join("\n"));
    h.run(9);
    assert.equal(h.engine.news2("p1").total, null);
    h.run(1);
    const scored = h.engine.news2("p1");
    assert.deepEqual([scored.total, scored.pending], [6, []]);
    assert.deepEqual(
      news2Events(h).map((e) => [e.transition, e.priority]),
      [["raise", "medium"]],
    );
  });

  it("gives one transition for a pack that brings a worse value and a parameter's first value", () => {
    const h = enteredPatient();
    // a baseline without blood pressure (incomplete): RR 22 (2), SpO2 95 (1), pulse 95 (1), temperature 36.8 (0)
    const baseline = { rr: 22, spo2: 95, pulse: 95, temp: 36.8 };
    h.run(20, () => send(h, baseline));
    assert.deepEqual(h.engine.news2("p1").missing, ["systolic_bp"]);
    // then RR 26 (3) with the first-ever SBP 100 (2): scored together, NEWS2 7, not 6 and then 7
    send(h, { ...baseline, rr: 26, sbp: 100 });
    h.run(30, () => send(h, { ...baseline, rr: 26 }));
    assert.deepEqual(
      news2Events(h).map((e) => [e.transition, e.priority, e.reason]),
      [["raise", "high", "NEWS2 7 (high clinical risk, SpO2 scale 1); scoring 3: respiration rate"]],
    );
  });

  it("counts an improvement at once", () => {
    const h = wellPatient();
    send(h, { spo2: 72 });
    h.run(10, () => send(h, { spo2: 72 }));
    assert.equal(h.engine.news2("p1").total, 3);
    send(h, { spo2: 97 });
    assert.equal(h.engine.news2("p1").total, 0);
  });

  it("scores every value at once with persistSec 0", () => {
    const h = wellPatient(0);
    h.clock.advance(1000);
    send(h, ARTEFACT);
    assert.equal(h.engine.news2("p1").total, 6);
  });

  it("keeps a wavering score at its least abnormal value: no update at all", () => {
    const h = wellPatient();
    h.run(5, () => send(h, WELL));
    // SpO2 95 (1) and 97 (0) in turn each second for two minutes
    h.run(120, (i) => send(h, { spo2: i % 2 === 0 ? 95 : 97 }));
    assert.equal(h.engine.news2("p1").total, 0);
    assert.deepEqual(news2Events(h), []);
  });
});

describe("heldDeviceValue", () => {
  const T = 1_000_000;
  const sample = (value: number, atSec: number): Observed<number> => ({
    value,
    observedAtMs: T + atSec * 1000,
    source: { type: "device", deviceId: "d", readingId: `r${atSec}` },
  });
  const held = (samples: Observed<number>[], nowSec: number, maxAgeSec = 3600) =>
    heldDeviceValue(samples, T + nowSec * 1000, 10_000, maxAgeSec * 1000, scoreSpo2Scale1);

  const pending = (samples: Observed<number>[], nowSec: number, maxAgeSec = 3600) =>
    pendingDeviceValue("spo2", samples, T + nowSec * 1000, 10_000, maxAgeSec * 1000, scoreSpo2Scale1);

  it("returns nothing without samples, and a first sample only once it has been the latest for the window", () => {
    assert.equal(held([], 0), undefined);
    assert.equal(pending([], 0), null);
    assert.equal(held([sample(80, 0)], 9.999), undefined);
    assert.deepEqual(pending([sample(80, 0), sample(85, 4)], 9.999), {
      parameter: "spo2",
      raw: 85,
      score: 3,
      observedAtMs: T + 4000,
      sinceMs: T,
    });
    assert.equal(held([sample(80, 0)], 10)?.value, 80);
    assert.equal(pending([sample(80, 0)], 10), null);
  });

  it("counts the sample in force at the window's start, and the newest among equally abnormal ones", () => {
    const samples = [sample(97, 0), sample(80, 5), sample(82, 12)];
    // at 14 s the window is 4–14 s: 97 was in force at 4 s
    assert.equal(held(samples, 14)?.value, 97);
    // at 15 s the window is 5–15 s: 80 and 82 both score 3, the newest is scored
    const h15 = held(samples, 15);
    assert.deepEqual([h15?.value, h15?.pending], [82, undefined]);
  });

  it("holds a value after a stale one back for the window, returning the stale one meanwhile", () => {
    const samples = [sample(97, 0), sample(80, 35)];
    // maximum age 30 s: at 40 s the 97 of 0 s is stale and the 80 of 35 s has not persisted
    assert.equal(held(samples, 40, 30)?.value, 97);
    assert.deepEqual(pending(samples, 40, 30)?.sinceMs, T + 35_000);
    assert.equal(held(samples, 45, 30)?.value, 80);
    assert.equal(pending(samples, 45, 30), null);
    // and the newest when every sample is stale, with nothing pending
    assert.equal(held(samples, 100, 30)?.value, 80);
    assert.equal(pending(samples, 100, 30), null);
  });

  it("dates a pending value from the start of its run of equally or more abnormal samples", () => {
    const samples = [sample(97, 0), sample(93, 2), sample(90, 3), sample(85, 4), sample(88, 5)];
    // at 10 s, 97 is scored; the newest, 88, scores 3 like 85 (4 s) and 90 (3 s) but not 93 (2 s, scores 2)
    assert.deepEqual(held(samples, 10)?.pending, {
      raw: 88,
      score: 3,
      observedAtMs: T + 5000,
      sinceMs: T + 3000,
    });
  });
});
