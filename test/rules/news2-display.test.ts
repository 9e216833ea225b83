/**
 * What `vitalog news2` says, in words a nurse reads: air or oxygen as "air" / "oxygen", and a parameter whose
 * device sends only signal-gated values (clinical.md §5.2 signal-quality gating) as withheld, not as never
 * observed. Real rule engine on an injected clock; the text is rendered from the wire message the daemon sends.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderNews2 } from "../../src/cli/news2.js";
import { DEFAULT_NEWS2_CONFIG } from "../../src/rules/news2.js";
import { news2Message } from "../../src/rules/news2-view.js";
import { type Harness, harness, reading } from "./helpers.js";

function enter(h: Harness, subjectId: string, isOnOxygen: boolean): void {
  const now = h.clock.now();
  h.engine.onClinicianObservation({
    subjectId,
    enteredBy: "rn.amy",
    observedAtMs: now,
    enteredAtMs: now,
    supplementalOxygen: isOnOxygen,
    consciousness: "A",
  });
}

const text = (h: Harness, subjectId: string) =>
  renderNews2(
    { ...news2Message(h.engine.news2(subjectId), "gw-1", DEFAULT_NEWS2_CONFIG), alert: null },
    h.clock.now(),
  );

describe("vitalog news2 text", () => {
  it("says air or oxygen in words", () => {
    const h = harness();
    enter(h, "p-air", false);
    enter(h, "p-o2", true);
    assert.ok(
      text(h, "p-air").some((l) => /^ {2}air or oxygen +air +score 0 /.test(l)),
      text(h, "p-air").join("\n"),
    );
    assert.ok(
      text(h, "p-o2").some((l) => /^ {2}air or oxygen +oxygen +score 2 /.test(l)),
      text(h, "p-o2").join("\n"),
    );
    assert.ok(!text(h, "p-o2").some((l) => /\b(true|false)\b/.test(l)));
  });

  it("says a device's values were withheld, not never observed, when it sends only contact-lost values", () => {
    const h = harness();
    enter(h, "p1", false);
    h.run(5, () =>
      h.engine.onReadings([
        reading(h.clock, "spo2", 62, { flags: ["sensor_contact_lost"] }),
        reading(h.clock, "heart_rate", 0, { flags: ["sensor_contact_lost"] }),
      ]),
    );
    const a = h.engine.news2("p1");
    assert.deepEqual(
      a.withheld.map((w) => [w.parameter, w.flag]),
      [
        ["spo2", "sensor_contact_lost"],
        ["pulse", "sensor_contact_lost"],
      ],
    );
    assert.deepEqual(
      a.parameters.map((p) => p.parameter),
      ["supplemental_oxygen", "consciousness"],
    );
    const lines = text(h, "p1");
    assert.ok(
      lines.includes("  SpO2             withheld (signal gated: sensor contact lost), last 1 s ago"),
      lines.join("\n"),
    );
    assert.ok(lines.some((l) => /^ {2}pulse +withheld \(signal gated: sensor contact lost\)/.test(l)));
    assert.deepEqual(
      lines.filter((l) => l.includes("never observed")),
      ["  never observed: respiration rate, systolic BP, temperature"],
    );
  });

  it("stops saying withheld once a value is taken with contact again", () => {
    const h = harness();
    enter(h, "p1", false);
    h.engine.onReadings([reading(h.clock, "spo2", 62, { flags: ["sensor_contact_lost"] })]);
    h.clock.advance(1000);
    h.engine.onReadings([reading(h.clock, "spo2", 97)]);
    const a = h.engine.news2("p1");
    assert.deepEqual(a.withheld, []);
    assert.deepEqual(
      a.pending.map((p) => [p.parameter, p.raw]),
      [["spo2", 97]],
    );
  });
});
