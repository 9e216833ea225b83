/**
 * Clock health: a wall clock that jumps against the monotonic clock, or that the sync probe says is not
 * synchronised, raises a technical alarm of the gateway; a probe that cannot tell raises nothing. The rule runs
 * in the real rule engine with an injected wall clock, an injected monotonic clock and an injected probe; one
 * test runs a real gateway whose wall clock is stepped.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type Clock, ManualClock, systemClock } from "../../src/clock.js";
import {
  ClockHealthRule,
  type ClockSyncState,
  DEFAULT_CLOCK_HEALTH_CONFIG,
  syncProbeFor,
  timesyncdProbe,
} from "../../src/rules/clock-health-rule.js";
import { DEFAULT_RULES_CONFIG, RuleEngine } from "../../src/rules/engine.js";
import { startTestGateway, waitFor } from "../helpers/gateway.js";

/** A rule engine with only the clock rule's alarms of interest, a manual wall clock and a monotonic one. */
function setup(probe: () => ClockSyncState | Promise<ClockSyncState> = () => "unknown") {
  const manual = new ManualClock(Date.UTC(2026, 5, 1, 8, 0, 0));
  let offsetMs = 0;
  const clock: Clock = {
    now: () => manual.now() + offsetMs,
    setTimeout: (fn, ms) => manual.setTimeout(fn, ms),
    clearTimeout: (h) => manual.clearTimeout(h),
  };
  let mono = 1_000;
  const rule = new ClockHealthRule({
    config: { ...DEFAULT_CLOCK_HEALTH_CONFIG, unsyncedAlarmAfterSec: 120 },
    gatewayId: "gw-1",
    monotonicMs: () => mono,
    probe,
  });
  const engine = new RuleEngine(DEFAULT_RULES_CONFIG, { clock, extraRules: [rule] });
  const clockAlerts = () => engine.activeAlerts().filter((a) => a.rule_id.startsWith("technical.clock_"));
  return {
    rule,
    engine,
    clockAlerts,
    /** Real time passing: wall and monotonic move together, then a tick. */
    pass(ms: number) {
      manual.advance(ms);
      mono += ms;
      engine.tick();
    },
    /** The wall clock set by `ms` (no time passes), then a tick. */
    step(ms: number) {
      offsetMs += ms;
      engine.tick();
    },
  };
}

describe("clock health", () => {
  it("raises clock_jump stating the size and direction of a forward step, holds it, and clears it after the hold", () => {
    const t = setup();
    t.pass(500);
    t.pass(500);
    assert.deepEqual(t.clockAlerts(), []);
    t.step(90_000);
    const [jump] = t.clockAlerts();
    assert.equal(jump?.rule_id, "technical.clock_jump");
    assert.equal(jump.priority, "medium");
    assert.equal(jump.category, "technical");
    assert.match(jump.reason, /^gateway clock jumped forward by 90 s at 2026-06-01T08:01:31.000Z: /);
    t.pass(59_000);
    assert.equal(t.clockAlerts()[0]?.condition_active, true, "held for jumpHoldSec");
    t.pass(2_000);
    const after = t.engine.alarms.get(jump.alert_id);
    assert.equal(after?.condition_active ?? false, false, "cleared after the hold");
  });

  it("reports a step back as back, with its size", () => {
    const t = setup();
    t.pass(500);
    t.step(-7_200_000);
    assert.match(t.clockAlerts()[0]?.reason ?? "", /jumped back by 2 h/);
  });

  it("raises nothing for a stalled event loop (both clocks move) or a step within the 2 s tolerance", () => {
    const t = setup();
    t.pass(500);
    t.pass(30_000);
    t.step(1_900);
    t.pass(500);
    t.step(-1_900);
    assert.deepEqual(t.clockAlerts(), []);
  });

  it("raises clock_unsynchronised once the probe has said so for the grace period, and clears it when synchronised", () => {
    let state: ClockSyncState = "synchronised";
    const probes: number[] = [];
    const t = setup(() => {
      probes.push(1);
      return state;
    });
    t.pass(500);
    state = "unsynchronised";
    t.pass(60_000);
    t.pass(60_000);
    assert.deepEqual(t.clockAlerts(), [], "within the grace");
    t.pass(60_000);
    const [alert] = t.clockAlerts();
    assert.equal(alert?.rule_id, "technical.clock_unsynchronised");
    assert.match(alert.reason, /^gateway clock not synchronised for 2 min/);
    state = "synchronised";
    t.pass(60_000);
    assert.equal(t.engine.alarms.get(alert.alert_id)?.condition_active ?? false, false);
    assert.equal(probes.length, 5, "probed once a syncCheckIntervalSec, not on every tick");
  });

  it("never raises anything when the probe cannot tell, or throws", () => {
    for (const probe of [
      () => "unknown" as const,
      () => {
        throw new Error("no D-Bus");
      },
    ]) {
      const t = setup(probe);
      for (let i = 0; i < 20; i++) t.pass(60_000);
      assert.deepEqual(t.clockAlerts(), []);
      assert.equal(t.rule.syncState, "unknown");
    }
  });

  it("takes an asynchronous probe's answer at a later tick", async () => {
    const t = setup(() => Promise.resolve("unsynchronised" as const));
    t.pass(500);
    await new Promise((r) => setImmediate(r));
    assert.equal(t.rule.syncState, "unsynchronised");
  });

  it("checks timedatectl only on a machine booted with systemd, and reads timesyncd's marker file", () => {
    assert.equal(syncProbeFor("auto", true).name, "timedatectl");
    assert.equal(syncProbeFor("auto", false).name, "none");
    assert.equal(syncProbeFor("none", true).name, "none");
    const dir = mkdtempSync(join(tmpdir(), "vitalog-timesync-"));
    try {
      const marker = join(dir, "synchronized");
      assert.equal(timesyncdProbe(marker)(), "unsynchronised");
      writeFileSync(marker, "");
      assert.equal(timesyncdProbe(marker)(), "synchronised");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("on a real gateway, a wall clock stepped forward an hour raises clock_jump through the alarm pipeline", async () => {
    let skewMs = 0;
    const clock: Clock = {
      now: () => Date.now() + skewMs,
      monotonicMs: () => performance.now(),
      setTimeout: (fn, ms) => systemClock.setTimeout(fn, ms),
      clearTimeout: (h) => systemClock.clearTimeout(h),
    };
    const t = await startTestGateway({}, clock);
    try {
      const engine = t.gw.rules.engine;
      const jumps = () => engine.activeAlerts().filter((a) => a.rule_id === "technical.clock_jump");
      // two ticks at least on the unstepped clock first
      await new Promise((r) => setTimeout(r, 1200));
      assert.deepEqual(jumps(), []);
      skewMs = 3_600_000;
      await waitFor(() => jumps().length === 1, 5000, "the clock_jump alarm");
      assert.match(jumps()[0]!.reason, /^gateway clock jumped forward by 60 min at /);
      assert.equal(jumps()[0]!.subject_id, "test-gw");
    } finally {
      await t.close();
    }
  });
});
