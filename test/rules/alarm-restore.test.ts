/** AlarmManager.restore: active alerts survive a gateway restart with their ids, states and timers. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import type { AlertEvent, AlertSnapshot, RestorableAlert } from "../../src/rules/alert-event.js";
import { DEFAULT_RULES_CONFIG, RuleEngine } from "../../src/rules/engine.js";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { replayTimers } from "../../src/rules/sinks/alert-store.js";
import { reading, restorableAlert } from "./helpers.js";

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);

/** One gateway run: an engine on a manual clock, ids prefixed so runs never collide, and its event log. */
function boot(run: string, atMs: number) {
  const clock = new ManualClock(atMs);
  let n = 0;
  const engine = new RuleEngine(structuredClone(DEFAULT_RULES_CONFIG), {
    clock,
    newAlertId: () => `${run}-a${++n}`,
  });
  const events: AlertEvent[] = [];
  engine.onAlertEvent((e) => events.push(e));
  const step = (seconds: number, each?: () => void) => {
    for (let i = 0; i < seconds; i++) {
      each?.();
      clock.advance(1000);
      engine.tick();
    }
  };
  const sbp = (value: number) => engine.onReading(reading(clock, "bp_systolic", value, { subjectId: "p1" }));
  return { clock, engine, events, step, sbp, of: (t: string) => events.filter((e) => e.transition === t) };
}

const KEY = "p1:threshold.bp_systolic.low";

function snapshot(over: Partial<RestorableAlert> = {}): RestorableAlert {
  return restorableAlert(T0, { condition: KEY, ...over });
}

describe("AlarmManager.restore (alerts across a gateway restart)", () => {
  it("keeps a latched HIGH alert active, emits nothing on restore, and lets it be acknowledged", () => {
    const first = boot("run1", T0);
    first.sbp(60);
    first.step(1, () => first.sbp(120));
    first.step(35);
    const latched = first.engine.alarms.forCondition(KEY);
    assert.equal(latched?.state, "latched");

    const second = boot("run2", T0 + 300_000);
    assert.deepEqual(second.engine.restoreAlerts([latched!]), { restored: 1, skipped: 0 });
    assert.equal(second.events.length, 0);
    assert.deepEqual(second.engine.activeAlerts(), [latched]);
    second.step(600); // no condition, no ack: a latched HIGH alert stays (and escalates, unacknowledged)
    assert.deepEqual(
      second.engine.activeAlerts().map((a) => [a.alert_id, a.state, a.recipient]),
      [[latched!.alert_id, "latched", "rapid_response_team"]],
    );
    assert.equal(second.of("escalate").length, 2);

    second.events.length = 0;
    assert.deepEqual(second.engine.acknowledge(latched!.alert_id, "nurse1"), { ok: true });
    assert.deepEqual(
      second.events.map((e) => [e.transition, e.alert_id, e.by]),
      [
        ["acknowledge", latched!.alert_id, "nurse1"],
        ["resolve", latched!.alert_id, "nurse1"],
      ],
    );
    assert.deepEqual(second.engine.activeAlerts(), []);
  });

  it("continues the restored alert when its condition fires again (no duplicate raise), then latches on clear", () => {
    const first = boot("run1", T0);
    first.sbp(60);
    const raised = first.engine.alarms.forCondition(KEY);

    const second = boot("run2", T0 + 20_000);
    second.engine.restoreAlerts([raised!]);
    second.step(5, () => second.sbp(58));
    assert.equal(second.of("raise").length, 0);
    assert.equal(second.engine.alarms.forCondition(KEY)?.alert_id, raised!.alert_id);
    assert.equal(second.engine.activeAlerts().length, 1);

    // back to normal: the ordinary clear + hold path; HIGH and unacknowledged → latched, same id
    second.step(40, () => second.sbp(120));
    assert.deepEqual(
      second.events.filter((e) => e.transition !== "escalate").map((e) => [e.transition, e.alert_id]),
      [["latch", raised!.alert_id]],
    );
    assert.equal(second.engine.alarms.get(raised!.alert_id)?.state, "latched");
  });

  it("re-alarms a restored silenced alert when the stored silence ends, not later or earlier", () => {
    const silencedUntil = T0 + 120_000;
    const second = boot("run2", T0 + 30_000);
    second.engine.restoreAlerts([
      snapshot({ state: "silenced", silenced_until_ms: silencedUntil, notified_at_ms: T0 }),
    ]);
    second.step(89, () => second.sbp(60));
    assert.equal(second.clock.now(), silencedUntil - 1000);
    assert.equal(second.events.length, 0);
    second.step(1, () => second.sbp(60));
    assert.deepEqual(
      second.events.map((e) => [e.transition, e.alert_id, e.state, e.at_ms]),
      [["re_alarm", "old-1", "raised", silencedUntil]],
    );
  });

  it("continues escalation from the stored notification time", () => {
    const second = boot("run2", T0 + 50_000);
    second.engine.restoreAlerts([snapshot({ notified_at_ms: T0 })]);
    second.step(9, () => second.sbp(60));
    assert.equal(second.events.length, 0);
    second.step(1, () => second.sbp(60));
    const [esc] = second.of("escalate");
    assert.deepEqual(
      [esc?.alert_id, esc?.recipient, esc?.escalation_level, esc?.at_ms],
      ["old-1", "charge_nurse", 1, T0 + 60_000],
    );
  });

  it("ends a restored condition its rule never reports again: MEDIUM resolves, HIGH latches", () => {
    const { restoreConfirmSec, clearHoldSec } = DEFAULT_RULES_CONFIG.alarms;
    const second = boot("run2", T0 + 10_000);
    const medium = snapshot({
      alert_id: "old-m",
      condition: "p2:threshold.spo2.low",
      rule_id: "threshold.spo2.low",
      subject_id: "p2",
      priority: "medium",
      state: "acknowledged",
      acknowledged_by: "nurse2",
    });
    const high = snapshot({ state: "acknowledged", acknowledged_by: null, priority: "high" });
    const unacked = snapshot({
      alert_id: "old-h",
      condition: "p3:news2",
      rule_id: "news2",
      subject_id: "p3",
    });
    assert.deepEqual(second.engine.restoreAlerts([medium, high, unacked]), { restored: 3, skipped: 0 });
    second.step(restoreConfirmSec + clearHoldSec - 1);
    assert.equal(second.engine.activeAlerts().length, 3);
    second.step(1);
    const ends = second.events.filter((e) => e.transition !== "escalate");
    assert.deepEqual(ends.map((e) => [e.transition, e.alert_id]).sort(), [
      ["latch", "old-h"],
      ["resolve", "old-1"],
      ["resolve", "old-m"],
    ]);
    assert.deepEqual(
      second.engine.activeAlerts().map((a) => [a.alert_id, a.state]),
      [["old-h", "latched"]],
    );
  });

  it("skips resolved snapshots and ids it already holds; acknowledge and silence work on restored ids", () => {
    const second = boot("run2", T0);
    const r = second.engine.restoreAlerts([
      snapshot(),
      snapshot(),
      snapshot({ alert_id: "x", state: "resolved" }),
    ]);
    assert.deepEqual(r, { restored: 1, skipped: 2 });
    assert.deepEqual(second.engine.silence("old-1", "nurse1", 60), { ok: true });
    assert.deepEqual(second.engine.acknowledge("old-1", "nurse1"), { ok: true });
    assert.deepEqual(second.engine.acknowledge("old-1", "nurse1"), {
      ok: false,
      error: "already_acknowledged",
    });
  });

  it("replays a boosted escalation so the rule's own priority picks the ladder", () => {
    const base = { ...snapshot(), v: 1, event_id: "e", gateway_id: "g", via: null, by: null } as const;
    const msg = (transition: AlertMessage["transition"], over: Partial<AlertSnapshot>, at: number) =>
      ({ ...base, ...over, transition, at_ms: T0 + at }) as AlertMessage;
    const history = [
      msg("raise", { priority: "medium" }, 0),
      msg("silence", { priority: "medium", state: "silenced" }, 10_000),
      msg("re_alarm", { priority: "medium" }, 130_000),
      msg("escalate", { priority: "high", escalation_level: 1 }, 310_000),
    ];
    assert.deepEqual(replayTimers(history, history.at(-1)!), {
      notified_at_ms: T0 + 310_000,
      rule_priority: "medium",
    });
    const second = boot("run2", T0 + 320_000);
    second.engine.restoreAlerts([
      snapshot({ priority: "high", escalation_level: 1, ...replayTimers(history, history.at(-1)!) }),
    ]);
    // the rule reports MEDIUM again: the boost keeps the alert HIGH (no de-escalation)
    second.step(60, () =>
      second.engine.onReading(reading(second.clock, "bp_systolic", 80, { subjectId: "p1" })),
    );
    assert.equal(second.engine.activeAlerts()[0]?.priority, "high");
    assert.equal(second.of("deescalate").length, 0);
  });
});
