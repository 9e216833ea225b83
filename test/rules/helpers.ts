/** Test helpers for the rules suites: readings stamped from a ManualClock, and an engine with an event log. */
import { ManualClock } from "../../src/clock.js";
import type { Reading, ReadingFlag, VitalKind } from "../../src/reading.js";
import type { AlertEvent, RestorableAlert } from "../../src/rules/alert-event.js";
import { DEFAULT_RULES_CONFIG, RuleEngine, type RulesConfig } from "../../src/rules/engine.js";

const UNITS: Record<VitalKind, string> = {
  heart_rate: "/min",
  pulse_rate: "/min",
  respiratory_rate: "/min",
  spo2: "%",
  body_temperature: "Cel",
  bp_systolic: "mm[Hg]",
  bp_diastolic: "mm[Hg]",
  bp_mean: "mm[Hg]",
  glucose: "mg/dL",
  body_weight: "kg",
};

let seq = 0;

export interface ReadingOptions {
  subjectId?: string;
  deviceId?: string;
  flags?: ReadingFlag[];
  deviceTimeMs?: number | null;
}

/** A Reading received now on `clock`. */
export function reading(clock: ManualClock, kind: VitalKind, value: number, o: ReadingOptions = {}): Reading {
  seq += 1;
  return {
    id: `r${seq}`,
    deviceId: o.deviceId ?? "dev-1",
    subjectId: o.subjectId ?? "p1",
    kind,
    loinc: "test",
    value,
    unit: UNITS[kind],
    deviceTimeMs: o.deviceTimeMs ?? null,
    receivedAtMs: clock.now(),
    observedAtMs: o.deviceTimeMs ?? clock.now(),
    seq,
    flags: o.flags ?? [],
    mdc: null,
  };
}

export interface Harness {
  clock: ManualClock;
  engine: RuleEngine;
  events: AlertEvent[];
  /** Events of one transition kind. */
  of(transition: AlertEvent["transition"]): AlertEvent[];
  /** Advances `seconds` one second at a time, calling `each(i)` before each step, then ticking. */
  run(seconds: number, each?: (i: number) => void): void;
}

export function harness(patch: (c: RulesConfig) => RulesConfig = (c) => c): Harness {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 8, 0, 0));
  let n = 0;
  const engine = new RuleEngine(patch(structuredClone(DEFAULT_RULES_CONFIG)), {
    clock,
    newAlertId: () => `a${++n}`,
  });
  const events: AlertEvent[] = [];
  engine.onAlertEvent((e) => events.push(e));
  return {
    clock,
    engine,
    events,
    of: (t) => events.filter((e) => e.transition === t),
    run(seconds, each) {
      for (let i = 0; i < seconds; i++) {
        each?.(i);
        clock.advance(1000);
        engine.tick();
      }
    },
  };
}

/** A raised HIGH low-systolic alert of subject p1 on dev-1, raised at `raisedAtMs` (fields overridable). */
export function restorableAlert(raisedAtMs: number, over: Partial<RestorableAlert> = {}): RestorableAlert {
  return {
    alert_id: "old-1",
    condition: "p1:threshold.bp_systolic.low",
    rule_id: "threshold.bp_systolic.low",
    subject_id: "p1",
    device_id: "dev-1",
    priority: "high",
    category: "physiological",
    state: "raised",
    reason: "Systolic BP 60 below limit 70",
    raised_at_ms: raisedAtMs,
    condition_active: true,
    escalation_level: 0,
    recipient: "primary_nurse",
    silenced_until_ms: null,
    acknowledged_by: null,
    ...over,
  };
}
