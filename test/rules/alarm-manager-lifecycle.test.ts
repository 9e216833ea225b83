/**
 * Truthful lifecycle text and re-alarm on worsening: the alarm manager alone, on a manual clock, with the
 * default ladder (HIGH: charge nurse after 60 s, rapid-response team 120 s after that) [clinical.md §5.2].
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { AlarmManager } from "../../src/rules/alarm-manager.js";
import { type AlertEvent, DEFAULT_ALARM_CONFIG, unacknowledgedSince } from "../../src/rules/alert-event.js";
import type { AlertCondition, AlertPriority } from "../../src/rules/rule.js";

const KEY = "p1:threshold.heart_rate.high";

function condition(reason: string, priority: AlertPriority = "high", over: Partial<AlertCondition> = {}) {
  return {
    key: KEY,
    ruleId: "threshold.heart_rate.high",
    subjectId: "p1",
    deviceId: "dev-1",
    priority,
    category: "physiological",
    reason,
    ...over,
  } satisfies AlertCondition;
}

/** A NEWS2-like condition whose severity is its total, re-alarming on a rise of 2. */
function news2(total: number, priority: AlertPriority = "high"): AlertCondition {
  return condition(`NEWS2 ${total}`, priority, {
    key: "p1:news2",
    ruleId: "news2",
    deviceId: null,
    isReasonTracked: true,
    severity: { value: total, realarmOnRise: 2 },
  });
}

function setup() {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 8, 0, 0));
  let n = 0;
  const alarms = new AlarmManager(structuredClone(DEFAULT_ALARM_CONFIG), {
    clock,
    newAlertId: () => `a${++n}`,
  });
  const events: AlertEvent[] = [];
  alarms.onEvent((e) => events.push(e));
  const active = (c: AlertCondition) => alarms.apply({ type: "active", condition: c });
  /** Advances `seconds` one second at a time, ticking after each. */
  const run = (seconds: number) => {
    for (let i = 0; i < seconds; i++) {
      clock.advance(1000);
      alarms.tick();
    }
  };
  const of = (t: AlertEvent["transition"]) => events.filter((e) => e.transition === t);
  return { clock, alarms, events, active, run, of };
}

describe("escalation text states the real time unacknowledged", () => {
  it("counts from the raise at every step of the ladder", () => {
    const t = setup();
    t.active(condition("Heart rate 170 /min above limit 160 /min"));
    t.run(180);
    assert.deepEqual(
      t.of("escalate").map((e) => [e.recipient, e.reason]),
      [
        [
          "charge_nurse",
          "unacknowledged for 60 s, escalated to charge_nurse: Heart rate 170 /min above limit 160 /min",
        ],
        [
          "rapid_response_team",
          "unacknowledged for 180 s, escalated to rapid_response_team: Heart rate 170 /min above limit 160 /min",
        ],
      ],
    );
  });

  it("keeps counting through a silence, which is not an acknowledgement", () => {
    const t = setup();
    t.active(condition("Heart rate 170 /min above limit 160 /min"));
    t.run(10);
    assert.deepEqual(t.alarms.silence("a1", "rn.a", 60), { ok: true });
    t.run(60); // re-alarm at 70 s; the ladder's next step comes 60 s after it
    assert.equal(t.of("re_alarm").length, 1);
    t.run(60);
    assert.deepEqual(
      t.of("escalate").map((e) => [e.at_ms - t.of("raise")[0]!.at_ms, e.reason.split(":")[0]]),
      [[130_000, "unacknowledged for 130 s, escalated to charge_nurse"]],
    );
  });

  it("counts from the re-alarm that ended an acknowledgement", () => {
    const t = setup();
    t.active(condition("Heart rate 125 /min", "low"));
    t.run(100);
    assert.deepEqual(t.alarms.acknowledge("a1", "rn.a"), { ok: true });
    t.run(100);
    t.active(condition("Heart rate 170 /min", "high")); // a priority rise re-alarms, 200 s after the raise
    t.run(180);
    assert.deepEqual(
      t.of("escalate").map((e) => e.reason),
      [
        "Heart rate 170 /min",
        "unacknowledged for 60 s, escalated to charge_nurse: Heart rate 170 /min",
        "unacknowledged for 180 s, escalated to rapid_response_team: Heart rate 170 /min",
      ],
    );
  });
});

describe("a silence keeps the clinical reason", () => {
  it("names the reason, the silence and who silenced it, and the re-alarm names the reason again", () => {
    const t = setup();
    t.active(condition("Oxygen saturation 82 % below limit 85 %"));
    t.alarms.silence("a1", "rn.di", 60);
    assert.equal(
      t.of("silence")[0]?.reason,
      "silenced for 60 s by rn.di: Oxygen saturation 82 % below limit 85 %",
    );
    assert.equal(t.of("silence")[0]?.by, "rn.di");
    t.run(60);
    assert.equal(
      t.of("re_alarm")[0]?.reason,
      "silence ended, still active: Oxygen saturation 82 % below limit 85 %",
    );
  });
});

describe("a latched alert keeps what happened", () => {
  function latched() {
    const t = setup();
    t.active(condition("Heart rate 170 /min above limit 160 /min"));
    t.run(5);
    t.active(condition("Heart rate 175 /min above limit 160 /min"));
    t.alarms.apply({ type: "clear", key: KEY, reason: "Heart rate back within limits (80 /min)" });
    t.run(30); // the default clear hold
    return t;
  }

  it("latches with the current condition and the last reason it was active with", () => {
    const t = latched();
    assert.deepEqual(
      t.of("latch").map((e) => [e.state, e.reason]),
      [
        [
          "latched",
          "condition ended, latched until acknowledged: Heart rate back within limits (80 /min); was: Heart rate 175 /min above limit 160 /min",
        ],
      ],
    );
  });

  it("escalates a latched alert with what happened, not only that the value is back", () => {
    const t = latched();
    t.run(180);
    assert.deepEqual(
      t.of("escalate").map((e) => e.reason),
      [
        "unacknowledged for 60 s, escalated to charge_nurse: condition ended (Heart rate back within limits (80 /min)); was: Heart rate 175 /min above limit 160 /min",
        "unacknowledged for 180 s, escalated to rapid_response_team: condition ended (Heart rate back within limits (80 /min)); was: Heart rate 175 /min above limit 160 /min",
      ],
    );
  });

  it("says what happened when a latched alert is acknowledged", () => {
    const t = latched();
    t.alarms.acknowledge("a1", "rn.a");
    assert.match(t.of("acknowledge")[0]?.reason ?? "", /was: Heart rate 175 \/min above limit 160 \/min$/);
    assert.equal(t.of("resolve")[0]?.reason, "acknowledged after the condition ended");
  });
});

describe("re-alarm on a worsening acknowledged or silenced alert at the same priority", () => {
  it("re-alarms an acknowledged alert whose severity rose by realarmOnRise, and its ladder runs again", () => {
    const t = setup();
    t.active(news2(7));
    t.run(10);
    t.alarms.acknowledge("a1", "rn.a");
    t.active(news2(8)); // a rise of 1: the sinks are told, the acknowledgement stands
    assert.deepEqual(
      t.events.slice(-1).map((e) => [e.transition, e.state, e.acknowledged_by]),
      [["update", "acknowledged", "rn.a"]],
    );
    t.run(10);
    t.active(news2(9));
    assert.deepEqual(
      t.events.slice(-1).map((e) => [e.transition, e.state, e.acknowledged_by, e.priority, e.reason]),
      [["re_alarm", "raised", null, "high", "worse than when acknowledged (7 → 9): NEWS2 9"]],
    );
    t.run(60);
    assert.deepEqual(
      t.of("escalate").map((e) => [e.recipient, e.reason]),
      [["charge_nurse", "unacknowledged for 60 s, escalated to charge_nurse: NEWS2 9"]],
    );
  });

  it("re-alarms a silenced alert whose severity rose, ending the silence", () => {
    const t = setup();
    t.active(news2(7));
    t.alarms.silence("a1", "rn.a", 120);
    t.run(5);
    t.active(news2(10));
    const last = t.events.at(-1)!;
    assert.deepEqual(
      [last.transition, last.state, last.silenced_until_ms, last.reason],
      ["re_alarm", "raised", null, "worse than when silenced (7 → 10): NEWS2 10"],
    );
    t.run(120); // the silence's end is no longer pending: no second re-alarm
    assert.equal(t.of("re_alarm").length, 1);
  });

  it("measures the rise from the acknowledgement, not from a lower value since", () => {
    const t = setup();
    t.active(news2(9));
    t.alarms.acknowledge("a1", "rn.a");
    t.active(news2(7));
    t.run(40); // the better score is now shown
    t.active(news2(9));
    t.active(news2(10));
    assert.equal(t.of("re_alarm").length, 0);
    assert.equal(t.alarms.get("a1")?.state, "acknowledged");
    t.active(news2(11));
    assert.equal(t.of("re_alarm").length, 1);
  });

  it("only updates an alert nobody has paused, however much it worsens", () => {
    const t = setup();
    t.active(news2(7));
    t.active(news2(13));
    assert.deepEqual(
      t.events.map((e) => e.transition),
      ["raise", "update"],
    );
  });

  it("re-alarms to the recipient the ladder had reached, never back to fewer people", () => {
    const t = setup();
    t.active(news2(7));
    t.run(60);
    t.alarms.acknowledge("a1", "charge.nurse");
    t.active(news2(9));
    assert.deepEqual(
      t.events.slice(-1).map((e) => [e.transition, e.recipient, e.escalation_level]),
      [["re_alarm", "charge_nurse", 1]],
    );
    t.run(120);
    assert.equal(t.of("escalate").at(-1)?.recipient, "rapid_response_team");
  });

  it("ignores severity on a condition that gives none", () => {
    const t = setup();
    t.active(condition("Heart rate 170 /min"));
    t.alarms.acknowledge("a1", "rn.a");
    t.active(condition("Heart rate 220 /min"));
    assert.equal(t.of("re_alarm").length, 0);
    assert.equal(t.alarms.get("a1")?.state, "acknowledged");
  });
});

describe("unacknowledgedSince (the escalation text's count across a restart)", () => {
  it("is the raise, or the re-alarm that ended the last acknowledgement, as the live manager counts", () => {
    const t = setup();
    t.active(news2(7));
    t.run(30);
    t.alarms.silence("a1", "rn.a", 60);
    t.run(60);
    assert.equal(unacknowledgedSince(t.events), t.of("raise")[0]!.at_ms, "a silence is no acknowledgement");
    t.alarms.acknowledge("a1", "rn.a");
    t.run(10);
    t.active(news2(9));
    const realarm = t.of("re_alarm").at(-1)!;
    assert.equal(unacknowledgedSince(t.events), realarm.at_ms);
    t.run(60);
    assert.match(t.of("escalate").at(-1)?.reason ?? "", /^unacknowledged for 60 s/);
  });

  it("lets a restored alert count from the time it carries", () => {
    const t = setup();
    const raisedAtMs = t.clock.now() - 600_000;
    t.alarms.restore([
      {
        alert_id: "old-1",
        condition: "p1:news2",
        rule_id: "news2",
        subject_id: "p1",
        device_id: null,
        priority: "high",
        category: "physiological",
        state: "raised",
        reason: "NEWS2 9",
        raised_at_ms: raisedAtMs,
        condition_active: true,
        escalation_level: 0,
        recipient: "primary_nurse",
        silenced_until_ms: null,
        acknowledged_by: null,
        notified_at_ms: t.clock.now() - 30_000,
        unacknowledged_since_ms: t.clock.now() - 30_000,
      },
    ]);
    t.active(news2(9));
    t.run(30);
    assert.equal(t.of("escalate")[0]?.reason, "unacknowledged for 60 s, escalated to charge_nurse: NEWS2 9");
  });
});

describe("a silence that ends within the clear hold", () => {
  it("re-alarms saying the condition has ended and what it was, not that it is still active", () => {
    const t = setup();
    t.active(condition("Heart rate 170 /min above limit 160 /min"));
    t.alarms.silence("a1", "rn.a", 60);
    t.run(50);
    t.alarms.apply({ type: "clear", key: KEY, reason: "Heart rate back within limits (80 /min)" });
    t.run(10);
    assert.equal(
      t.of("re_alarm")[0]?.reason,
      "silence ended: condition ended (Heart rate back within limits (80 /min)); was: Heart rate 170 /min above limit 160 /min",
    );
  });
});
