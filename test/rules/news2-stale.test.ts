/**
 * NEWS2 visibility as parameters age: a parameter older than its maximum age (device vitals 1 h, clinician
 * entries 4 h: local engineering choice after RCP NEWS2 2017 Chart 4's monitoring frequencies, to be reviewed)
 * makes the assessment incomplete and is listed as stale with when it was last observed; the published state
 * follows on the engine's tick, once per change. Real engine on an injected clock; the publisher records what
 * the alert MQTT sink would publish retained.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderNews2 } from "../../src/cli/news2.js";
import { DEFAULT_NEWS2_CONFIG } from "../../src/rules/news2.js";
import { type News2Message, publishNews2Changes } from "../../src/rules/news2-view.js";
import { harness, reading } from "./helpers.js";

function watched() {
  const h = harness();
  const published: [string, News2Message | null][] = [];
  publishNews2Changes({
    engine: h.engine,
    publisher: {
      publishNews2: (subjectId, body) => published.push([subjectId, body === null ? null : JSON.parse(body)]),
    },
    gatewayId: "gw-1",
    config: DEFAULT_NEWS2_CONFIG,
  });
  const t0 = h.clock.now();
  h.engine.onClinicianObservation({
    subjectId: "p1",
    enteredBy: "rn.jones",
    observedAtMs: t0,
    enteredAtMs: t0,
    supplementalOxygen: false,
    consciousness: "A",
  });
  h.engine.onReadings([
    reading(h.clock, "respiratory_rate", 16),
    reading(h.clock, "spo2", 97),
    reading(h.clock, "bp_systolic", 120),
    reading(h.clock, "heart_rate", 70),
    reading(h.clock, "body_temperature", 37),
  ]);
  // [rules.news2.persistSec] the pack's values are scored once they have persisted
  h.run(DEFAULT_NEWS2_CONFIG.persistSec);
  return { h, published, t0 };
}

describe("NEWS2 staleness, visible", () => {
  it("publishes once per change: the entry, the pack pending, then the pack scored once it persisted", () => {
    const { published, t0 } = watched();
    assert.deepEqual(
      published.map(([s, m]) => [
        s,
        m?.is_complete,
        m?.total,
        m?.missing.length,
        m?.pending.length,
        m?.at_ms,
      ]),
      [
        ["p1", false, null, 5, 0, t0],
        ["p1", false, null, 5, 5, t0],
        ["p1", true, 0, 0, 0, t0 + DEFAULT_NEWS2_CONFIG.persistSec * 1000],
      ],
    );
  });

  it("lists device vitals older than 1 h as stale, with when they were observed, republished on the tick", () => {
    const { h, published, t0 } = watched();
    // the pack of t0 has been scored since t0 + persistSec; it is stale once older than 3600 s
    h.run(3600 - DEFAULT_NEWS2_CONFIG.persistSec);
    assert.equal(published.length, 3, "nothing changes within the hour: no republication");
    h.run(1);
    assert.equal(published.length, 4);
    const m = published[3]![1]!;
    assert.deepEqual([m.is_complete, m.total, m.band], [false, null, null]);
    assert.deepEqual(m.missing, ["respiratory_rate", "spo2", "systolic_bp", "pulse", "temperature"]);
    assert.deepEqual(
      m.stale,
      ["respiratory_rate", "spo2", "systolic_bp", "pulse", "temperature"].map((parameter) => ({
        parameter,
        observed_at_ms: t0,
      })),
    );
    assert.deepEqual(
      m.parameters.map((p) => p.parameter),
      ["supplemental_oxygen", "consciousness"],
    );
    h.run(30);
    assert.equal(published.length, 4);
  });

  it("shows the stale parameters and their age in vitalog news2's text", () => {
    const { h, published } = watched();
    h.run(3601 - DEFAULT_NEWS2_CONFIG.persistSec);
    const m = published.at(-1)![1]!;
    const lines = renderNews2({ ...m, alert: null }, h.clock.now());
    assert.match(
      lines[0]!,
      /^p1 {2}NEWS2 incomplete \(no total\): missing respiration rate, SpO2, systolic BP/,
    );
    assert.ok(lines.includes("  SpO2             stale: last observed 60 min ago"), lines.join("\n"));
    assert.ok(lines.some((l) => /^ {2}consciousness +A +score 0 +60 min ago +entered by rn\.jones$/.test(l)));
  });

  it("clears the published state when the subject is released", () => {
    const { h, published } = watched();
    h.engine.releaseSubject("p1", "admin");
    assert.deepEqual(published.at(-1), ["p1", null]);
    h.run(2);
    assert.deepEqual(published.at(-1), ["p1", null], "a released subject is not published again");
  });
});
