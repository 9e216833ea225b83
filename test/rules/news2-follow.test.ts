/**
 * The NEWS2 alert follows the patient: its priority, its text and its escalation messages carry the current
 * total and the parameters scoring 3 [RCP NEWS2 2017 Chart 1/3/4]. Real rule engine and alarm manager with the
 * default configuration on an injected clock; packs go in through `onReadings`, as ingest feeds them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { VitalKind } from "../../src/reading.js";
import { DEFAULT_NEWS2_CONFIG, NEWS2_IMPROVEMENT_HOLD_SEC } from "../../src/rules/news2.js";
import type { Acvpu } from "../../src/rules/rule.js";
import { type AlertTestGateway, type Station, startAlertGateway } from "./alert-helpers.js";
import { type Harness, harness, reading } from "./helpers.js";

interface Set5 {
  rr: number;
  spo2: number;
  sbp: number;
  pulse: number;
  temp: number;
}
const KINDS: Record<keyof Set5, VitalKind> = {
  rr: "respiratory_rate",
  spo2: "spo2",
  sbp: "bp_systolic",
  pulse: "heart_rate",
  temp: "body_temperature",
};

function send(h: Harness, v: Partial<Set5>): void {
  h.engine.onReadings(
    (Object.entries(v) as [keyof Set5, number][]).map(([k, value]) => reading(h.clock, KINDS[k], value)),
  );
}

function enter(h: Harness, acvpu: Acvpu, isOnOxygen = false): void {
  const now = h.clock.now();
  h.engine.onClinicianObservation({
    subjectId: "p1",
    enteredBy: "rn.jones",
    observedAtMs: now,
    enteredAtMs: now,
    supplementalOxygen: isOnOxygen,
    consciousness: acvpu,
  });
}

/** NEWS2 7 with SpO2 alone scoring 3: RR 22 (2), SpO2 91 (3), pulse 95 (1), temp 38.5 (1), SBP 120, air, Alert. */
const SEVEN: Set5 = { rr: 22, spo2: 91, sbp: 120, pulse: 95, temp: 38.5 };
/** NEWS2 13 with four parameters scoring 3: RR 26, SpO2 91, pulse 135, Voice; temp 38.5 (1). */
const THIRTEEN: Set5 = { rr: 26, spo2: 91, sbp: 120, pulse: 135, temp: 38.5 };

/** A patient at NEWS2 7 (SpO2 scoring 3), raised once the first values have persisted `persistSec`. */
function atSeven(persistSec = DEFAULT_NEWS2_CONFIG.persistSec): Harness {
  const h = harness((c) => ({ ...c, news2: { ...c.news2, persistSec } }));
  enter(h, "A");
  send(h, SEVEN);
  h.run(persistSec);
  return h;
}

/** Advances until values sent now have persisted (a worse value waits; an improvement counts at once). */
const persist = (h: Harness) => h.run(DEFAULT_NEWS2_CONFIG.persistSec);

const news2Events = (h: Harness) => h.events.filter((e) => e.rule_id === "news2");

describe("NEWS2 alert text follows the patient", () => {
  it("raises with the total and the parameter scoring 3", () => {
    const h = atSeven();
    assert.deepEqual(
      news2Events(h).map((e) => [e.transition, e.priority, e.reason]),
      [["raise", "high", "NEWS2 7 (high clinical risk, SpO2 scale 1); scoring 3: SpO2"]],
    );
  });

  it("updates the raised alert when the score rises within the high band, naming every parameter scoring 3", () => {
    const h = atSeven();
    enter(h, "V");
    send(h, THIRTEEN);
    persist(h);
    const updates = news2Events(h).filter((e) => e.transition === "update");
    assert.deepEqual(
      updates.map((e) => [e.priority, e.state, e.reason]),
      [
        ["high", "raised", "NEWS2 10 (high clinical risk, SpO2 scale 1); scoring 3: SpO2, consciousness"],
        [
          "high",
          "raised",
          "NEWS2 13 (high clinical risk, SpO2 scale 1); scoring 3: respiration rate, SpO2, pulse, consciousness",
        ],
      ],
    );
    assert.equal(news2Events(h).filter((e) => e.transition === "raise").length, 1);
    assert.match(h.engine.activeAlerts()[0]!.reason, /^NEWS2 13 /);
  });

  it("escalates with the current total, not the one it was raised with", () => {
    const h = atSeven();
    enter(h, "V");
    send(h, THIRTEEN);
    persist(h);
    // [default ladder] HIGH unacknowledged for 60 s → charge nurse, 120 s more → rapid response team
    h.run(180);
    const escalations = news2Events(h).filter((e) => e.transition === "escalate");
    assert.deepEqual(
      escalations.map((e) => e.recipient),
      ["charge_nurse", "rapid_response_team"],
    );
    for (const e of escalations) {
      assert.match(e.reason, /NEWS2 13 \(high clinical risk, SpO2 scale 1\)/);
      assert.match(e.reason, /scoring 3: respiration rate, SpO2, pulse, consciousness$/);
      assert.doesNotMatch(e.reason, /NEWS2 7/);
    }
  });

  it("carries the current total in the escalation when the priority rises", () => {
    const h = harness();
    enter(h, "A");
    // RR 22 (2), SpO2 95 (1), pulse 95 (1), temp 38.5 (1): NEWS2 5, MEDIUM
    send(h, { rr: 22, spo2: 95, sbp: 120, pulse: 95, temp: 38.5 });
    persist(h);
    send(h, { spo2: 91 });
    persist(h);
    assert.deepEqual(
      news2Events(h).map((e) => [e.transition, e.priority, e.reason]),
      [
        ["raise", "medium", "NEWS2 5 (medium clinical risk, SpO2 scale 1)"],
        ["escalate", "high", "NEWS2 7 (high clinical risk, SpO2 scale 1); scoring 3: SpO2"],
      ],
    );
  });

  it("tells an acknowledged alert's sinks of a worse score without taking the acknowledgement away", () => {
    const h = atSeven();
    const alertId = news2Events(h)[0]!.alert_id;
    assert.deepEqual(h.engine.acknowledge(alertId, "rn.jones"), { ok: true });
    send(h, { rr: 26 });
    persist(h);
    const update = h.of("update").at(-1);
    assert.equal(update?.state, "acknowledged");
    assert.equal(update?.acknowledged_by, "rn.jones");
    assert.match(update?.reason ?? "", /^NEWS2 8 .*scoring 3: respiration rate, SpO2$/);
  });

  it(`holds a better score at the same priority for ${NEWS2_IMPROVEMENT_HOLD_SEC} s before the text follows it`, () => {
    const h = atSeven();
    enter(h, "V");
    send(h, THIRTEEN);
    persist(h);
    const before = h.of("update").length;
    // pulse 95 (1), consciousness back to Alert: NEWS2 8, still HIGH
    enter(h, "A");
    send(h, { pulse: 95 });
    h.run(NEWS2_IMPROVEMENT_HOLD_SEC - 1);
    assert.equal(h.of("update").length, before);
    assert.match(h.engine.activeAlerts()[0]!.reason, /^NEWS2 13 /);
    h.run(2);
    assert.equal(h.of("update").length, before + 1);
    assert.equal(
      h.of("update").at(-1)?.reason,
      "NEWS2 8 (high clinical risk, SpO2 scale 1); scoring 3: respiration rate, SpO2",
    );
  });

  it("gives one update, not one a second, for a score wavering across a band edge", () => {
    // every device value scored at once, so the wavering reaches the score and only the hold damps it (with the
    // persistence window the score stays at the least abnormal value: news2-persistence.test.ts)
    const h = atSeven(0);
    // pulse 111 (2) and 95 (1) in turn, each second: the total wavers 8 ↔ 7 for two minutes
    h.run(120, (i) => send(h, { pulse: i % 2 === 0 ? 111 : 95 }));
    assert.equal(h.of("update").length, 1);
    assert.match(h.of("update")[0]!.reason, /^NEWS2 8 /);
    assert.equal(news2Events(h).filter((e) => e.transition === "raise").length, 1);
  });

  it("reports a fall in priority through the de-escalation after the hold, with the current text", () => {
    const h = atSeven();
    // RR 22 (2), SpO2 95 (1), pulse 95 (1), temp 38.5 (1): NEWS2 5
    send(h, { spo2: 95 });
    assert.equal(h.of("update").length, 0);
    h.run(31);
    const down = h.of("deescalate");
    assert.deepEqual(
      down.map((e) => [e.priority, e.reason]),
      [["medium", "NEWS2 5 (medium clinical risk, SpO2 scale 1)"]],
    );
    assert.equal(h.of("update").length, 0);
  });
});

describe("NEWS2 alert text on a running gateway", () => {
  let t: AlertTestGateway;
  let station: Station;
  before(async () => {
    // every device value scored at once: this checks delivery of the update, not the persistence window
    // (news2-persistence.test.ts), which would hold the worse pulse 10 s of real time
    t = await startAlertGateway({ rules: { news2: { persistSec: 0 } } });
    station = await t.station();
  });
  after(() => t.close());

  it("delivers the update to the stations and stores it as the alert's current state", async () => {
    const dev = await t.device("wear-f1");
    const subject = "pt-wear-f1";
    await station.command("observe", {
      subject_id: subject,
      by: "nurse.amy",
      supplemental_oxygen: false,
      acvpu: "A",
    });
    for (const [kind, value, unit] of [
      ["respiratory_rate", 22, "/min"],
      ["spo2", 91, "%"],
      ["bp_systolic", 120, "mm[Hg]"],
      ["heart_rate", 95, "/min"],
      ["body_temperature", 38.5, "Cel"],
    ] as const)
      await dev.send(kind, value, unit);
    const raise = await station.next((m) => m.rule_id === "news2" && m.transition === "raise");
    assert.equal(raise.reason, "NEWS2 7 (high clinical risk, SpO2 scale 1); scoring 3: SpO2");
    await dev.send("heart_rate", 135, "/min");
    const update = await station.next((m) => m.rule_id === "news2" && m.transition === "update");
    assert.equal(update.alert_id, raise.alert_id);
    assert.equal(update.reason, "NEWS2 9 (high clinical risk, SpO2 scale 1); scoring 3: SpO2, pulse");
    // the device's PUBACK followed the commit that carried the update
    const row = t.gw.db
      .prepare(
        "SELECT a.snapshot, e.transition FROM alerts a JOIN alert_events e ON e.event_id = ? WHERE a.alert_id = ?",
      )
      .get(update.event_id, raise.alert_id) as { snapshot: string; transition: string } | undefined;
    assert.equal(row?.transition, "update");
    assert.match(JSON.parse(row!.snapshot).reason, /^NEWS2 9 /);
  });
});
