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
import { DEFAULT_NEWS2_CONFIG, heldDeviceValue, type Observed } from "../../src/rules/news2.js";
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

/** A patient with Alert and air entered and one well pack at second 0. */
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
    // second 0 was the well pack; 1–29 well, 30–31 artefact, 32–119 well
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

  it("scores a parameter's first value, and an improvement, at once", () => {
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
    send(h, ARTEFACT);
    assert.equal(h.engine.news2("p1").total, 6);
    h.clock.advance(1000);
    send(h, WELL);
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

  it("returns nothing without samples and the only sample when there is one", () => {
    assert.equal(held([], 0), undefined);
    assert.equal(held([sample(80, 0)], 0)?.value, 80);
  });

  it("counts the sample in force at the window's start, and the newest among equally abnormal ones", () => {
    const samples = [sample(97, 0), sample(80, 5), sample(82, 12)];
    // at 14 s the window is 4–14 s: 97 was in force at 4 s
    assert.equal(held(samples, 14)?.value, 97);
    // at 15 s the window is 5–15 s: 80 and 82 both score 3, the newest is scored
    const h15 = held(samples, 15);
    assert.deepEqual([h15?.value, h15?.pending], [82, undefined]);
  });

  it("leaves samples older than the maximum age out, and returns the newest when all are", () => {
    const samples = [sample(97, 0), sample(80, 5)];
    // maximum age 6 s: at 8 s the 97 of 0 s is too old to hold the score down
    assert.equal(held(samples, 8, 6)?.value, 80);
    assert.equal(held(samples, 100, 6)?.value, 80);
  });

  it("dates a pending value from the start of its run of equally or more abnormal samples", () => {
    const samples = [sample(97, 0), sample(93, 2), sample(90, 3), sample(85, 4), sample(88, 5)];
    // the newest, 88, scores 3 like 85 (4 s) but not 93 (2 s, scores 2)
    assert.deepEqual(held(samples, 5)?.pending, {
      raw: 88,
      score: 3,
      observedAtMs: T + 5000,
      sinceMs: T + 3000,
    });
  });
});
