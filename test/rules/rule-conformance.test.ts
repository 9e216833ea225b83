/**
 * Conformance suite for the `Rule` contract (rule.ts): every implementation, built-in or vendor, runs it.
 * Random valid input sequences never make a rule throw; it only reports keys of the subject it was fed;
 * `clear` only follows `active` for the same key; and the same sequence gives the same output.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type ReadingFlag, VITAL_KINDS, VITALS } from "../../src/reading.js";
import { ClockHealthRule, DEFAULT_CLOCK_HEALTH_CONFIG } from "../../src/rules/clock-health-rule.js";
import { ListenerPresence, ListenerPresenceRule } from "../../src/rules/listener-presence-rule.js";
import { DEFAULT_NEWS2_CONFIG, News2Rule } from "../../src/rules/news2.js";
import { DEFAULT_RATE_OF_CHANGE_CONFIG, RateOfChangeRule } from "../../src/rules/rate-of-change.js";
import type { ConditionUpdate, Rule, RuleInput } from "../../src/rules/rule.js";
import { DEFAULT_TECHNICAL_CONFIG, TechnicalRule } from "../../src/rules/technical.js";
import { DEFAULT_THRESHOLDS_CONFIG } from "../../src/rules/threshold-config.js";
import { ThresholdRule } from "../../src/rules/thresholds.js";

const T0 = Date.UTC(2026, 0, 1);
const FLAGS: ReadingFlag[] = [
  "questionable",
  "clock_drift",
  "sensor_contact_lost",
  "device_reported_issue",
  "signal_unreliable",
];

const subject = fc.constantFrom("p1", "p2");
const device = fc.constantFrom("d1", "d2", "d3");

/** One step: a time advance and an input built at the resulting time. */
const step = fc.tuple(
  fc.integer({ min: 0, max: 120_000 }),
  fc.oneof(
    fc.record({
      type: fc.constant("reading" as const),
      kind: fc.constantFrom(...VITAL_KINDS),
      fraction: fc.double({ min: 0.001, max: 0.999, noNaN: true }),
      subjectId: subject,
      deviceId: device,
      flags: fc.subarray(FLAGS),
    }),
    fc.record({
      type: fc.constant("device_status" as const),
      subjectId: subject,
      deviceId: device,
      batteryPct: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
      sensorContact: fc.option(fc.boolean(), { nil: undefined }),
    }),
    fc.record({
      type: fc.constant("rejected" as const),
      subjectId: subject,
      deviceId: device,
      reason: fc.constantFrom(
        "above_physiologic_limit",
        "below_physiologic_limit",
        "unit_unsupported",
        "decode_failed",
      ),
    }),
    fc.record({
      type: fc.constant("clinician_observation" as const),
      subjectId: subject,
      oxygen: fc.option(fc.boolean(), { nil: undefined }),
      acvpu: fc.option(fc.constantFrom("A", "C", "V", "P", "U" as const), { nil: undefined }),
      scale: fc.option(fc.constantFrom(1 as const, 2 as const), { nil: undefined }),
    }),
    fc.record({ type: fc.constant("tick" as const) }),
  ),
);

function build(s: { type: string } & Record<string, unknown>, now: number, n: number): RuleInput {
  switch (s.type) {
    case "reading": {
      const kind = s.kind as (typeof VITAL_KINDS)[number];
      const unit = Object.keys(VITALS[kind].hard)[0]!;
      const hard = VITALS[kind].hard[unit]!;
      const max = Math.min(hard.max, 1000);
      const value = Math.round((hard.min + (max - hard.min) * (s.fraction as number)) * 10) / 10;
      return {
        type: "reading",
        reading: {
          id: `r${n}`,
          deviceId: s.deviceId as string,
          subjectId: s.subjectId as string,
          kind,
          loinc: VITALS[kind].loinc[unit]!,
          value,
          unit,
          deviceTimeMs: null,
          receivedAtMs: now,
          observedAtMs: now,
          seq: n,
          flags: s.flags as ReadingFlag[],
          mdc: null,
        },
      };
    }
    case "device_status":
      return {
        type: "device_status",
        deviceId: s.deviceId as string,
        subjectId: s.subjectId as string,
        status: {
          batteryPct: s.batteryPct as number | undefined,
          sensorContact: s.sensorContact as boolean | undefined,
        },
        atMs: now,
      };
    case "rejected":
      return {
        type: "rejected",
        deviceId: s.deviceId as string,
        subjectId: s.subjectId as string,
        reason: s.reason as string,
        atMs: now,
      };
    case "clinician_observation":
      return {
        type: "clinician_observation",
        observation: {
          subjectId: s.subjectId as string,
          enteredBy: "rn",
          observedAtMs: now,
          enteredAtMs: now,
          supplementalOxygen: s.oxygen as boolean | undefined,
          consciousness: s.acvpu as "A" | undefined,
          spo2Scale: s.scale as 1 | 2 | undefined,
        },
      };
    default:
      return { type: "tick", atMs: now };
  }
}

function play(rule: Rule, steps: readonly (readonly [number, { type: string } & Record<string, unknown>])[]) {
  const out: ConditionUpdate[] = [];
  let now = T0;
  steps.forEach(([dt, s], n) => {
    now += dt;
    out.push(...rule.evaluate(build(s, now, n), now));
  });
  return out;
}

function ruleConformance(name: string, factory: () => Rule): void {
  describe(`Rule conformance: ${name}`, () => {
    it("never throws, reports only its subjects' keys, and clears only what it raised", () => {
      fc.assert(
        fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
          const active = new Set<string>();
          for (const u of play(factory(), steps)) {
            const key = u.type === "active" ? u.condition.key : u.key;
            assert.match(key, /^p[12]:/);
            if (u.type === "active") {
              assert.equal(u.condition.key.startsWith(`${u.condition.subjectId}:`), true);
              active.add(key);
            } else {
              assert.ok(active.delete(key), `clear of ${key} without a prior active`);
            }
          }
        }),
        { numRuns: 150 },
      );
    });

    it("gives the same output for the same input sequence", () => {
      fc.assert(
        fc.property(fc.array(step, { maxLength: 100 }), (steps) => {
          assert.deepEqual(play(factory(), steps), play(factory(), steps));
        }),
        { numRuns: 50 },
      );
    });
  });
}

ruleConformance("ThresholdRule", () => new ThresholdRule(DEFAULT_THRESHOLDS_CONFIG));
ruleConformance("RateOfChangeRule", () => new RateOfChangeRule(DEFAULT_RATE_OF_CHANGE_CONFIG));
ruleConformance("News2Rule", () => new News2Rule(DEFAULT_NEWS2_CONFIG));
ruleConformance("TechnicalRule", () => new TechnicalRule(DEFAULT_TECHNICAL_CONFIG));
ruleConformance("ClockHealthRule", () => {
  // a monotonic clock at its own pace against the steps' wall clock: jumps both ways, raised and cleared
  let monoMs = 0;
  return new ClockHealthRule({
    config: { ...DEFAULT_CLOCK_HEALTH_CONFIG, unsyncedAlarmAfterSec: 1, jumpHoldSec: 2 },
    gatewayId: "p1",
    monotonicMs: () => (monoMs += 500),
    probe: () => (monoMs % 3000 < 1500 ? "unsynchronised" : "synchronised"),
  });
});
ruleConformance("ListenerPresenceRule", () => {
  // listeners come and go, and a page to one recipient is undelivered now and then: raised and cleared
  let calls = 0;
  return new ListenerPresenceRule({
    presence: new ListenerPresence({
      streamTopics: ["vitalog/alerts/events"],
      subscribers: () => (++calls % 7 < 3 ? ["station-1"] : []),
    }),
    undelivered: () =>
      calls % 5 < 2
        ? [
            {
              recipient: "charge_nurse",
              priority: "high",
              ruleIds: ["news2"],
              problems: ["no destination configured"],
            },
          ]
        : [],
    gatewayId: "p1",
    graceSec: 1,
    priority: "medium",
    streamText: "vitalog/alerts/events",
  });
});
