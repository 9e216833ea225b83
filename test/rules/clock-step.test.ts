/**
 * Alarms survive a step of the wall clock: the rule engine tells a step from elapsed time by its clock's
 * monotonic source (clock.ts `watchClockSteps`) and moves every kept time with it, so no alarm is suppressed,
 * delayed or falsely fired by a step in either direction. The engine runs on a manual clock whose wall time a
 * test can step without time passing (`ManualClock.step`); readings are stamped at receipt, as a device
 * without its own clock is.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Clock, ManualClock, watchClockSteps } from "../../src/clock.js";
import type { AlertEvent } from "../../src/rules/alert-event.js";
import { ClockHealthRule, DEFAULT_CLOCK_HEALTH_CONFIG } from "../../src/rules/clock-health-rule.js";
import { DEFAULT_RULES_CONFIG, RuleEngine } from "../../src/rules/engine.js";
import { conditionKey } from "../../src/rules/rule.js";
import { reading, restorableAlert } from "./helpers.js";

const TEN_MIN = 10 * 60_000;
const HOUR = 3_600_000;

function setup(
  extraRules: (clock: ManualClock) => ConstructorParameters<typeof RuleEngine>[1]["extraRules"] = () => [],
) {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 8, 0, 0), { hasMonotonic: true });
  let n = 0;
  const engine = new RuleEngine(structuredClone(DEFAULT_RULES_CONFIG), {
    clock,
    newAlertId: () => `a${++n}`,
    extraRules: extraRules(clock),
  });
  const events: AlertEvent[] = [];
  engine.onAlertEvent((e) => events.push(e));
  engine.watchDevice("dev-1", "p1");
  const hr = (value: number) => engine.onReading(reading(clock, "heart_rate", value));
  return {
    clock,
    engine,
    events,
    hr,
    /** `seconds` of real time, one second at a time: `each` (a reading, or nothing) and a tick. */
    run(seconds: number, each?: () => void) {
      for (let i = 0; i < seconds; i++) {
        each?.();
        clock.advance(1000);
        engine.tick();
      }
    },
    of: (rule: string, transition?: AlertEvent["transition"]) =>
      events.filter((e) => e.rule_id === rule && (transition === undefined || e.transition === transition)),
  };
}

describe("alarms across a step of the wall clock", () => {
  it("raises a sustained HR 175 after its 10 s persistence when the clock stepped back 10 min just before", () => {
    const t = setup();
    t.run(5, () => t.hr(80));
    t.clock.step(-TEN_MIN);
    t.run(9, () => t.hr(175));
    assert.deepEqual(t.of("threshold.heart_rate.high"), [], "not before its persistence");
    t.run(2, () => t.hr(175));
    const [raise] = t.of("threshold.heart_rate.high", "raise");
    assert.equal(raise?.priority, "high");
    assert.match(raise.reason, /^Heart rate 175 \/min above limit 160 \/min/);
  });

  it("keeps a persistence delay that began before a step back running on its true elapsed time", () => {
    const t = setup();
    t.run(6, () => t.hr(175));
    t.clock.step(-TEN_MIN);
    t.run(3, () => t.hr(175));
    assert.deepEqual(t.of("threshold.heart_rate.high"), []);
    t.run(2, () => t.hr(175));
    assert.equal(t.of("threshold.heart_rate.high", "raise").length, 1);
  });

  it("completes no persistence delay early when the clock steps forward an hour", () => {
    const t = setup();
    t.run(3, () => t.hr(175));
    t.clock.step(HOUR);
    t.run(3, () => t.hr(175));
    assert.deepEqual(t.of("threshold.heart_rate.high"), [], "6 s of HR 175 is not 10 s");
    t.run(5, () => t.hr(175));
    assert.equal(t.of("threshold.heart_rate.high", "raise").length, 1);
  });

  it("makes a device that stops after a step back silent 30 s after it was last heard", () => {
    const t = setup();
    t.run(5, () => t.hr(80));
    t.clock.step(-TEN_MIN);
    t.run(3, () => t.hr(80));
    t.run(29);
    assert.deepEqual(t.of("technical.device_silent"), [], "three 10 s intervals not yet missed");
    t.run(3);
    const [silent] = t.of("technical.device_silent", "raise");
    assert.equal(silent?.device_id, "dev-1");
    const lastHeard = new Date(t.clock.now() - 33_000).toISOString().replace(/\.\d{3}Z$/, "Z");
    assert.match(silent.reason, new RegExp(`no data since ${lastHeard}`));
  });

  it("makes no device silent when the clock steps forward an hour", () => {
    const t = setup();
    t.run(5, () => t.hr(80));
    t.clock.step(HOUR);
    // a tick before the next reading: last heard 1 s ago, not an hour
    t.run(1);
    t.run(5, () => t.hr(80));
    assert.deepEqual(t.of("technical.device_silent"), []);
  });

  it("ends a 60 s silence on time when the clock steps back 10 min during it", () => {
    const t = setup();
    t.run(11, () => t.hr(175));
    const [raise] = t.of("threshold.heart_rate.high", "raise");
    assert.ok(raise, "raised");
    assert.deepEqual(t.engine.silence(raise.alert_id, "rn.a", 60), { ok: true });
    t.run(20, () => t.hr(175));
    t.clock.step(-TEN_MIN);
    t.run(39, () => t.hr(175));
    assert.deepEqual(t.of("threshold.heart_rate.high", "re_alarm"), [], "59 s of a 60 s silence");
    t.run(1, () => t.hr(175));
    const [realarm] = t.of("threshold.heart_rate.high", "re_alarm");
    assert.match(realarm?.reason ?? "", /^silence ended, still active: Heart rate 175/);
  });

  it("fires no escalation on a forward step, and escalates when 60 s have truly passed, saying so", () => {
    const t = setup();
    t.run(11, () => t.hr(175));
    assert.equal(t.of("threshold.heart_rate.high", "raise").length, 1);
    t.run(12, () => t.hr(175));
    t.clock.step(HOUR);
    t.run(2, () => t.hr(175));
    assert.deepEqual(t.of("threshold.heart_rate.high", "escalate"), [], "raised 14 s ago, not an hour");
    t.run(45, () => t.hr(175));
    const [escalate] = t.of("threshold.heart_rate.high", "escalate");
    assert.match(
      escalate?.reason ?? "",
      /^unacknowledged for 60 s, escalated to charge_nurse: Heart rate 175/,
    );
    const snap = t.engine.alarms.get(escalate!.alert_id)!;
    assert.equal(escalate!.at_ms - snap.raised_at_ms, 60_000, "raised_at_ms moved with the step");
  });

  it("neither ends the clear hold early on a forward step nor draws it out on a step back", () => {
    const t = setup();
    t.run(11, () => t.hr(175));
    // 5 s back within limits (clearSec), then the 30 s clear hold, ended by a latch (HIGH)
    t.run(10, () => t.hr(80));
    t.clock.step(HOUR);
    t.run(10, () => t.hr(80));
    assert.deepEqual(t.of("threshold.heart_rate.high", "latch"), [], "held");
    t.clock.step(-2 * HOUR);
    t.run(16, () => t.hr(80));
    assert.equal(t.of("threshold.heart_rate.high", "latch").length, 1);
  });

  it("keeps NEWS2 parameters timed by the gateway as old as they truly are across a forward step", () => {
    const t = setup();
    t.run(12, () => t.hr(80));
    assert.ok(
      t.engine.news2("p1").parameters.some((p) => p.parameter === "pulse"),
      "pulse scored",
    );
    t.clock.step(HOUR);
    t.run(1);
    const a = t.engine.news2("p1");
    assert.deepEqual(a.stale, [], "measured 2 s ago, not an hour");
    const pulse = a.parameters.find((p) => p.parameter === "pulse");
    assert.equal(t.clock.now() - pulse!.observedAtMs, 2000);
  });
});

describe("watchClockSteps", () => {
  function fake() {
    const state = { wall: 1_000_000, mono: 0 };
    const clock: Clock = {
      now: () => state.wall,
      monotonicMs: () => state.mono,
      setTimeout: () => 0,
      clearTimeout: () => {},
    };
    return { state, clock };
  }

  it("reports a step, with its size and direction, on the first read after it, and elapsed time never", () => {
    const { state, clock } = fake();
    const steps: number[] = [];
    const watched = watchClockSteps(clock, (d) => steps.push(d));
    watched.now();
    // a stalled event loop: both clocks move together
    state.wall += 30_000;
    state.mono += 30_000;
    watched.now();
    state.wall -= TEN_MIN;
    assert.equal(watched.now(), state.wall);
    state.wall += HOUR + 1000;
    state.mono += 1000;
    watched.now();
    assert.deepEqual(steps, [-TEN_MIN, HOUR]);
  });

  it("ignores a drift within the tolerance, as a slewing clock's", () => {
    const { state, clock } = fake();
    const steps: number[] = [];
    const watched = watchClockSteps(clock, (d) => steps.push(d), 100);
    watched.now();
    state.wall += 1000 + 99;
    state.mono += 1000;
    watched.now();
    state.wall += 1000 - 99;
    state.mono += 1000;
    watched.now();
    assert.deepEqual(steps, []);
  });

  it("returns a clock without a monotonic source unchanged (manual test clocks stay deterministic)", () => {
    const clock = new ManualClock();
    assert.equal(
      watchClockSteps(clock, () => assert.fail("no step can be told")),
      clock,
    );
  });
});

describe("texts stay true", () => {
  it("tells every sink at once that a technical condition ended, and again when it comes back within the hold", () => {
    const t = setup();
    const off = () =>
      t.engine.onReading(reading(t.clock, "heart_rate", 80, { flags: ["sensor_contact_lost"] }));
    t.run(11, off);
    const [raise] = t.of("technical.sensor_contact_lost", "raise");
    assert.match(raise?.reason ?? "", /^sensor contact lost: the device reports no contact/);
    t.run(1, () => t.hr(80));
    const [ended] = t.of("technical.sensor_contact_lost", "update");
    assert.match(ended?.reason ?? "", /^sensor contact lost: ended, contact restored at /);
    assert.equal(ended!.condition_active, false);
    t.run(1, off);
    const updates = t.of("technical.sensor_contact_lost", "update");
    assert.equal(updates.length, 2);
    assert.match(updates[1]!.reason, /^sensor contact lost: the device reports no contact/);
    assert.equal(updates[1]!.condition_active, true);
    assert.equal(t.of("technical.sensor_contact_lost", "raise").length, 1, "the same alert");
  });

  it("shows what happened in the active list of a latched alert, not only that it ended", () => {
    const t = setup();
    t.run(11, () => t.hr(175));
    t.run(40, () => t.hr(115));
    const [latch] = t.of("threshold.heart_rate.high", "latch");
    assert.ok(latch, "latched");
    const [shown] = t.engine.activeAlerts({ subjectId: "p1" });
    assert.equal(shown?.state, "latched");
    assert.match(
      shown.reason,
      /^condition ended \(Heart rate back within limits \(115 \/min\)\); was: Heart rate 175 /,
    );
  });

  it("makes a restored clock_jump alert name the latest step, not the one before the restart", () => {
    const gw = "gw-1";
    const t = setup((clock) => [
      new ClockHealthRule({
        config: DEFAULT_CLOCK_HEALTH_CONFIG,
        gatewayId: gw,
        monotonicMs: () => clock.monotonicMs!(),
        probe: () => "unknown",
      }),
    ]);
    const old =
      "gateway clock jumped back by 60 min at 2026-06-01T06:00:00.000Z: observation times and staleness around it are unreliable";
    t.engine.restoreAlerts([
      restorableAlert(t.clock.now() - 10_000, {
        alert_id: "old-jump",
        condition: conditionKey(gw, "technical.clock_jump", gw),
        rule_id: "technical.clock_jump",
        subject_id: gw,
        device_id: null,
        priority: "medium",
        category: "technical",
        reason: old,
        condition_reason: old,
        active_reason: old,
      }),
    ]);
    t.run(2);
    t.clock.step(90_000);
    t.run(1);
    const [update] = t.of("technical.clock_jump", "update");
    assert.equal(update?.alert_id, "old-jump");
    assert.match(update.reason, /^gateway clock jumped forward by 90 s at /);
    assert.match(t.engine.alarms.get("old-jump")!.reason, /^gateway clock jumped forward by 90 s at /);
  });
});
