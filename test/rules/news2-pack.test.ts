/**
 * NEWS2 scores a device pack as a whole [RCP NEWS2 2017 Chart 1; clinical.md §2]: one pack, one transition.
 * The rule engine and alarm manager are the real ones on an injected clock; the last suite sends SenML packs
 * (RFC 8428) to a real gateway over MQTT and watches what a nurse station receives.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Reading, VitalKind } from "../../src/reading.js";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { type AlertTestGateway, type Station, startAlertGateway } from "./alert-helpers.js";
import { type Harness, harness, reading } from "./helpers.js";

type Vitals = Partial<Record<"rr" | "spo2" | "sbp" | "pulse" | "temp", number>>;
const KINDS: Record<keyof Vitals, VitalKind> = {
  rr: "respiratory_rate",
  spo2: "spo2",
  sbp: "bp_systolic",
  pulse: "heart_rate",
  temp: "body_temperature",
};

/** One device pack's readings, received now. */
function pack(h: Harness, v: Vitals, flags: Reading["flags"] = []): Reading[] {
  return (Object.entries(v) as [keyof Vitals, number][]).map(([k, value]) =>
    reading(h.clock, KINDS[k], value, { flags: [...flags] }),
  );
}

/**
 * A subject p1 on air, Alert, with a normal set of vitals (NEWS2 0), every device value scored as it comes
 * (`persistSec` 0): what is tested here is the pack as a whole; with the persistence window a pack's values are
 * scored together once they have persisted (news2-persistence.test.ts).
 */
function normalPatient(): Harness {
  const h = harness((c) => ({ ...c, news2: { ...c.news2, persistSec: 0 } }));
  const now = h.clock.now();
  h.engine.onClinicianObservation({
    subjectId: "p1",
    enteredBy: "rn.jones",
    observedAtMs: now,
    enteredAtMs: now,
    supplementalOxygen: false,
    consciousness: "A",
  });
  h.engine.onReadings(pack(h, { rr: 16, spo2: 97, sbp: 120, pulse: 70, temp: 37 }));
  assert.equal(h.engine.news2("p1").total, 0);
  return h;
}

/** RR 24 (2), SpO2 93 (2), pulse 115 (2), temperature 38.5 (1), SBP 120 (0), air (0), Alert (0): NEWS2 7. */
const WORSE: Vitals = { rr: 24, spo2: 93, pulse: 115, temp: 38.5, sbp: 120 };

describe("NEWS2 per pack", () => {
  it("scores a whole pack once: one raise at the pack's total, not a raise and then an escalation", () => {
    const h = normalPatient();
    h.engine.onReadings(pack(h, WORSE));
    const news2 = h.events.filter((e) => e.rule_id === "news2");
    assert.deepEqual(
      news2.map((e) => [e.transition, e.priority]),
      [["raise", "high"]],
    );
    assert.match(news2[0]!.reason, /^NEWS2 7 \(high clinical risk, SpO2 scale 1\)$/);
  });

  it("would step through the partial totals if each reading were a pack of its own (what the pack call avoids)", () => {
    const h = normalPatient();
    for (const r of pack(h, WORSE)) h.engine.onReading(r);
    assert.deepEqual(
      h.events.filter((e) => e.rule_id === "news2").map((e) => [e.transition, e.priority]),
      [
        ["raise", "medium"],
        ["escalate", "high"],
      ],
    );
  });

  it("still runs the per-reading rules on every reading of the pack", () => {
    const h = normalPatient();
    h.engine.onReadings(pack(h, { sbp: 65, pulse: 70 }));
    assert.deepEqual(
      h.events.map((e) => [e.rule_id, e.transition]),
      [
        ["threshold.bp_systolic.low", "raise"],
        ["news2", "raise"],
      ],
    );
  });

  it("leaves readings flagged sensor_contact_lost out of the score", () => {
    const h = normalPatient();
    h.clock.advance(1000);
    h.engine.onReadings(pack(h, { spo2: 70, pulse: 30 }, ["sensor_contact_lost"]));
    const a = h.engine.news2("p1");
    assert.equal(a.total, 0);
    assert.deepEqual(
      a.parameters.filter((p) => p.parameter === "spo2" || p.parameter === "pulse").map((p) => p.raw),
      [97, 70],
    );
    assert.deepEqual(
      a.withheld.map((w) => [w.parameter, w.observedAtMs, w.flag]),
      [
        ["spo2", h.clock.now(), "sensor_contact_lost"],
        ["pulse", h.clock.now(), "sensor_contact_lost"],
      ],
    );
    assert.deepEqual(h.events, []);
  });
});

describe("NEWS2 per pack on a running gateway (SenML over MQTT)", () => {
  let t: AlertTestGateway;
  let station: Station;
  before(async () => {
    // every device value scored at once: this checks the pack as a whole, not the persistence window
    // (news2-persistence.test.ts), which would hold the second pack 10 s of real time
    t = await startAlertGateway({ rules: { news2: { persistSec: 0 } } });
    station = await t.station();
  });
  after(() => t.close());

  /** A wearable's SenML pack: RR and pulse in 1/min, SpO2 as a ratio, temperature in Cel, SBP in Pa. */
  function senml(v: Required<Vitals>): string {
    return JSON.stringify([
      { bn: "urn:dev:test:", n: "rr", u: "1/min", v: v.rr },
      { n: "hr", u: "beat/min", v: v.pulse },
      { n: "spo2", u: "/", v: v.spo2 / 100 },
      { n: "temp", u: "Cel", v: v.temp },
      { n: "sbp", u: "Pa", v: Math.round(v.sbp * 133.322387415) },
    ]);
  }

  it("gives one notification for one pack: the whole pack's NEWS2, raised once", async () => {
    const dev = await t.device("wear-pack");
    const subject = "pt-wear-pack";
    const entry = await station.command("observe", {
      subject_id: subject,
      by: "nurse.amy",
      supplemental_oxygen: false,
      acvpu: "A",
    });
    assert.equal(entry.ok, true);
    await dev.client.publishAsync(
      "vitalog/dev/wear-pack/senml",
      senml({ rr: 16, spo2: 97, sbp: 120, pulse: 70, temp: 37 }),
      { qos: 1 },
    );
    // RR 26 (3), SpO2 92 (2), pulse 115 (2), temperature 38.5 (1), SBP 120 (0): NEWS2 8 in one pack
    await dev.client.publishAsync(
      "vitalog/dev/wear-pack/senml",
      senml({ rr: 26, spo2: 92, sbp: 120, pulse: 115, temp: 38.5 }),
      { qos: 1 },
    );
    const raise = await station.next((m) => m.rule_id === "news2" && m.subject_id === subject);
    assert.equal(raise.transition, "raise");
    assert.equal(raise.priority, "high");
    assert.match(raise.reason, /^NEWS2 8 \(high clinical risk, SpO2 scale 1\); scoring 3: respiration rate$/);
    // the broker delivers in order: once this reply is in, every event published before it is in too
    const look = await station.command("observe", { subject_id: subject, by: "nurse.amy" });
    assert.equal((look.news2 as { total: number }).total, 8);
    const ofSubject = station.events.filter((m: AlertMessage) => m.subject_id === subject);
    assert.deepEqual(
      ofSubject.map((m) => [m.rule_id, m.transition]),
      [["news2", "raise"]],
    );
  });
});
