/**
 * Configuration cannot silently drop an alarm: ward limits merge per vital and per field over the built-in
 * defaults, subject limits over the ward's, and only an explicit `enabled: false` turns a limit off. Each
 * config is a real YAML file read by `loadConfig`, and its rules run in the real rule engine on a manual clock.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { type Config, loadConfig } from "../../src/config.js";
import { GatewayError } from "../../src/errors.js";
import type { VitalKind } from "../../src/reading.js";
import type { AlertEvent } from "../../src/rules/alert-event.js";
import { RuleEngine, type RulesConfig } from "../../src/rules/engine.js";
import { tempDir } from "../helpers/gateway.js";
import { reading } from "./helpers.js";

const dir = tempDir("vitalog-rules-merge-");
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** Writes `rules:` YAML (indented under the key) into a config file and loads it. */
function load(rulesYaml: string): Readonly<Config> {
  const file = join(dir, `vitalog-${++files}.yaml`);
  writeFileSync(file, `gateway: { id: gw, stateDir: state }\nrules:\n${rulesYaml}`);
  return loadConfig(file);
}

interface Run {
  clock: ManualClock;
  engine: RuleEngine;
  events: AlertEvent[];
  /** Sends each reading every second for `seconds` seconds, ticking the engine after each second. */
  hold(seconds: number, values: Partial<Record<VitalKind, number>>, subjectId?: string): void;
  /**
   * Raised alerts as `rule_id priority: reason`, the reason cut after its limit (what follows, such as when the
   * value was measured, is another suite's concern).
   */
  raised(): string[];
}

function run(config: Readonly<Config>): Run {
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 8, 0, 0));
  let n = 0;
  const engine = new RuleEngine(config.rules as RulesConfig, { clock, newAlertId: () => `a${++n}` });
  const events: AlertEvent[] = [];
  engine.onAlertEvent((e) => events.push(e));
  return {
    clock,
    engine,
    events,
    hold(seconds, values, subjectId = "p1") {
      for (let i = 0; i < seconds; i++) {
        for (const [kind, value] of Object.entries(values))
          engine.onReading(reading(clock, kind as VitalKind, value, { subjectId }));
        clock.advance(1000);
        engine.tick();
      }
    },
    raised: () =>
      events
        .filter((e) => e.transition === "raise")
        .map((e) => `${e.rule_id} ${e.priority}: ${/^.*? limit \S+ \S+/.exec(e.reason)?.[0] ?? e.reason}`),
  };
}

/** The ward override of the field report: Oxygen saturation alone, its low tiers plus the required-looking fields. */
const SPO2_ONLY_WARD = `  thresholds:
    ward:
      spo2:
        low:
          - { limit: 90, priority: medium, persistenceSec: 15 }
          - { limit: 85, priority: high, persistenceSec: 5 }
        hysteresis: 1
        clearSec: 5
`;

describe("ward and subject limits merge over the built-in defaults", () => {
  it("keeps the default heart-rate and respiratory-rate alarms when the ward overrides SpO2 alone", () => {
    const r = run(load(SPO2_ONLY_WARD));
    r.hold(19, { heart_rate: 170, respiratory_rate: 40 });
    assert.deepEqual(r.raised().sort(), [
      "threshold.heart_rate.high high: Heart rate 170 /min above limit 160 /min",
      "threshold.respiratory_rate.high high: Respiratory rate 40 /min above limit 35 /min",
    ]);
  });

  it("applies the ward's own SpO2 limit in place of the default", () => {
    const r = run(load(SPO2_ONLY_WARD));
    // 89 % is inside the default (88 %) but below the ward's 90 %
    r.hold(16, { spo2: 89 });
    assert.deepEqual(r.raised(), ["threshold.spo2.low medium: Oxygen saturation 89 % below limit 90 %"]);
  });

  it("merges a ward override of one field over the vital's other default fields", () => {
    const r = run(load("  thresholds:\n    ward:\n      spo2: { clearSec: 60 }\n"));
    // the default tiers (88 % medium, 85 % high) stay
    r.hold(6, { spo2: 84 });
    assert.deepEqual(r.raised(), ["threshold.spo2.low high: Oxygen saturation 84 % below limit 85 %"]);
    // back inside the default limit + hysteresis (85 + 1): held 30 s, the ward's 60 s clear time has not passed
    r.hold(30, { spo2: 97 });
    const condition = r.engine.alarms.forCondition("p1:threshold.spo2.low");
    assert.equal(condition?.condition_active, true, "still active before the ward's clearSec");
    r.hold(31, { spo2: 97 });
    assert.equal(r.engine.alarms.forCondition("p1:threshold.spo2.low")?.condition_active ?? false, false);
  });

  it("turns a default off only with an explicit enabled: false, and nothing else with it", () => {
    const r = run(load("  thresholds:\n    ward:\n      bp_systolic: { enabled: false }\n"));
    r.hold(12, { bp_systolic: 60, heart_rate: 170 });
    assert.deepEqual(r.raised(), [
      "threshold.heart_rate.high high: Heart rate 170 /min above limit 160 /min",
    ]);
  });

  it("treats an empty tier list as an explicit absence of limits in that direction only", () => {
    const r = run(load("  thresholds:\n    ward:\n      heart_rate: { high: [] }\n"));
    r.hold(12, { heart_rate: 200 });
    assert.deepEqual(r.raised(), []);
    r.hold(6, { heart_rate: 25 });
    assert.deepEqual(r.raised(), ["threshold.heart_rate.low high: Heart rate 25 /min below limit 30 /min"]);
  });

  it("merges a subject's override per field over the ward, and lets it turn a vital off or back on", () => {
    const config = load(`${SPO2_ONLY_WARD}      bp_systolic: { enabled: false }
    subjects:
      pt-copd:
        spo2: { low: [{ limit: 84, priority: high, persistenceSec: 5 }] }
        heart_rate: { enabled: false }
        bp_systolic: { enabled: true }
`);
    const r = run(config);
    // pt-copd: Oxygen saturation 86 is above its own 84 % limit; its heart rate is off; its systolic BP is on again
    r.hold(20, { spo2: 86, heart_rate: 170, bp_systolic: 65 }, "pt-copd");
    assert.deepEqual(r.raised(), [
      "threshold.bp_systolic.low high: Systolic blood pressure 65 mm[Hg] below limit 70 mm[Hg]",
    ]);
    // another subject on the same ward: the ward's limits
    r.hold(20, { spo2: 86, heart_rate: 170, bp_systolic: 65 }, "p2");
    assert.deepEqual(r.raised().slice(1).sort(), [
      "threshold.heart_rate.high high: Heart rate 170 /min above limit 160 /min",
      "threshold.spo2.low medium: Oxygen saturation 86 % below limit 90 %",
    ]);
  });

  it("adds configured rate-of-change rules to the built-in one, which only enabled: false removes", () => {
    const rule =
      "{ id: hr_rise, kind: heart_rate, direction: rise, delta: 30, withinSec: 60, priority: low, persistenceSec: 0 }";
    const kept = load(`  rateOfChange:\n    - ${rule}\n`).rules.rateOfChange.map((r) => r.id);
    assert.deepEqual(kept, ["spo2_drop", "hr_rise"]);
    const tuned = load("  rateOfChange:\n    - { id: spo2_drop, delta: 4 }\n").rules.rateOfChange;
    assert.deepEqual(
      tuned.map((r) => [r.id, r.delta, r.withinSec]),
      [["spo2_drop", 4, 60]],
    );
    const removed = load(`  rateOfChange:\n    - { id: spo2_drop, enabled: false }\n    - ${rule}\n`);
    assert.deepEqual(
      removed.rules.rateOfChange.map((r) => r.id),
      ["hr_rise"],
    );
  });

  it("refuses a limit with nothing beneath it to complete it, and limits that cross, listing each", () => {
    const problems = configProblems(`  thresholds:
    ward:
      glucose: { low: [{ limit: 70, priority: medium, persistenceSec: 0 }] }
      spo2: { high: [{ limit: 85, priority: low, persistenceSec: 0 }] }
    subjects:
      p9:
        body_weight: { high: [{ limit: 150, priority: low, persistenceSec: 0 }], hysteresis: 1 }
  rateOfChange:
    - { id: rr_rise, kind: respiratory_rate }
`);
    assert.deepEqual(problems, [
      "rules.rateOfChange.0.delta",
      "rules.rateOfChange.0.direction",
      "rules.rateOfChange.0.persistenceSec",
      "rules.rateOfChange.0.priority",
      "rules.rateOfChange.0.withinSec",
      "rules.thresholds.subjects.p9.body_weight.clearSec",
      "rules.thresholds.ward.glucose.clearSec",
      "rules.thresholds.ward.glucose.hysteresis",
      // the ward's SpO2 high of 85 % is above the default low tiers it is merged with (88 %, 85 %)
      "rules.thresholds.ward.spo2",
    ]);
  });
});

/** The paths of every problem `loadConfig` reports, sorted. */
function configProblems(rulesYaml: string): string[] {
  try {
    load(rulesYaml);
  } catch (err) {
    assert.ok(err instanceof GatewayError && err.code === "CONFIG_INVALID", String(err));
    assert.equal(err.exitCode, 78);
    return (err.details as { path: string }[]).map((p) => p.path).sort();
  }
  assert.fail("the config was accepted");
}
