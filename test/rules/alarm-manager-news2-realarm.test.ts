/**
 * An acknowledged (or silenced) NEWS2 alert re-alarms when the patient worsens within the same priority: the
 * total rising by `rules.news2.realarmOnRise` (default 2) above the total at the acknowledgement
 * [clinical.md §5.2 "re-alarm when the value worsens by a configured delta"]. Real rule engine, NEWS2 rule and
 * alarm manager with the default configuration on an injected clock.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { VitalKind } from "../../src/reading.js";
import { DEFAULT_NEWS2_CONFIG, News2Rule } from "../../src/rules/news2.js";
import { type Harness, harness, reading } from "./helpers.js";

const KINDS = {
  rr: "respiratory_rate",
  spo2: "spo2",
  sbp: "bp_systolic",
  pulse: "heart_rate",
  temp: "body_temperature",
} as const satisfies Record<string, VitalKind>;

function send(h: Harness, v: Partial<Record<keyof typeof KINDS, number>>): void {
  h.engine.onReadings(
    (Object.entries(v) as [keyof typeof KINDS, number][]).map(([k, value]) =>
      reading(h.clock, KINDS[k], value),
    ),
  );
}

/**
 * NEWS2 7 (HIGH): RR 22 (2), SpO2 91 (3), pulse 95 (1), temp 38.5 (1), SBP 120 (0), air, Alert; raised once the
 * first values have persisted `rules.news2.persistSec`.
 */
function atSeven(patch?: Parameters<typeof harness>[0]): Harness {
  const h = harness(patch);
  const now = h.clock.now();
  h.engine.onClinicianObservation({
    subjectId: "p1",
    enteredBy: "rn.jones",
    observedAtMs: now,
    enteredAtMs: now,
    supplementalOxygen: false,
    consciousness: "A",
  });
  send(h, { rr: 22, spo2: 91, sbp: 120, pulse: 95, temp: 38.5 });
  h.run(DEFAULT_NEWS2_CONFIG.persistSec);
  return h;
}

/** Sends `v` every second for long enough that NEWS2 scores it (past `rules.news2.persistSec`). */
function hold(h: Harness, v: Partial<Record<keyof typeof KINDS, number>>): void {
  h.run(DEFAULT_NEWS2_CONFIG.persistSec + 2, () => send(h, v));
}

const news2 = (h: Harness) => h.events.filter((e) => e.rule_id === "news2");

describe("NEWS2 re-alarm on worsening within the same priority", () => {
  it("re-alarms an acknowledged HIGH NEWS2 alert going from 7 to 10", () => {
    const h = atSeven();
    const id = news2(h)[0]!.alert_id;
    assert.deepEqual(h.engine.acknowledge(id, "rn.jones"), { ok: true });
    h.run(10);
    hold(h, { rr: 26, pulse: 135 }); // RR 3, pulse 3: NEWS2 10
    const last = news2(h).at(-1)!;
    assert.deepEqual(
      [last.transition, last.state, last.priority, last.acknowledged_by],
      ["re_alarm", "raised", "high", null],
    );
    assert.match(last.reason, /^worse than when acknowledged \(7 → 10\): NEWS2 10 \(high clinical risk/);
    h.run(60);
    assert.deepEqual(
      news2(h)
        .filter((e) => e.transition === "escalate")
        .map((e) => e.recipient),
      ["charge_nurse"],
    );
  });

  it("keeps the acknowledgement for a rise smaller than realarmOnRise, and tells the sinks", () => {
    const h = atSeven();
    h.engine.acknowledge(news2(h)[0]!.alert_id, "rn.jones");
    hold(h, { pulse: 115 }); // pulse 2: NEWS2 8
    assert.deepEqual(
      news2(h).map((e) => [e.transition, e.state]),
      [
        ["raise", "raised"],
        ["acknowledge", "acknowledged"],
        ["update", "acknowledged"],
      ],
    );
  });

  it("follows rules.news2.realarmOnRise", () => {
    const h = atSeven((c) => ({ ...c, news2: { ...c.news2, realarmOnRise: 1 } }));
    h.engine.acknowledge(news2(h)[0]!.alert_id, "rn.jones");
    hold(h, { pulse: 115 }); // NEWS2 8
    assert.equal(news2(h).at(-1)?.transition, "re_alarm");
  });

  it("refuses a realarmOnRise below 1 or not whole", () => {
    for (const realarmOnRise of [0, 1.5]) {
      assert.throws(() => new News2Rule({ ...DEFAULT_NEWS2_CONFIG, realarmOnRise }), RangeError);
    }
  });
});
