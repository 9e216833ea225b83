/**
 * The scenario harness itself: a malformed scenario file is refused with every problem, each naming the file
 * and the field; the timeline comparison catches a missing, a late, an extra and a forbidden transition and
 * shows each; and the pending scenarios are valid files, ready to be moved in.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { expandTimes, isoSecond, loadScenario, parseScenario, ScenarioFileError } from "./scenario-schema.js";
import { compareTimeline, type ObservedTransition, relativeTimes } from "./timeline.js";

const PENDING_DIR = fileURLToPath(new URL("../../../test/scenarios/pending/", import.meta.url));

const VALID = `
title: t
shows: s
limits:
  - { what: "SpO2 below 85 % for 5 s", source: "local engineering choice, to be reviewed" }
devices:
  - { id: ox-01, subject: pt-01 }
staff:
  - { id: rn.amy, role: nurse }
duration: 60
script:
  - { from: 0, to: 60, every: 1, send: { device: ox-01, vitals: { spo2: 82 } } }
expect:
  - { at: 5, rule: threshold.spo2.low, transition: raise, priority: high, text: '^Oxygen saturation 82 %' }
`;

function problemsOf(text: string): string[] {
  try {
    parseScenario(text, "/some/where/bad.yaml");
  } catch (err) {
    assert.ok(err instanceof ScenarioFileError, String(err));
    return [...err.problems];
  }
  assert.fail("the file was accepted");
}

describe("scenario files", () => {
  it("accepts a well-formed file and fills in the defaults", () => {
    const s = parseScenario(VALID, "good.yaml");
    assert.equal(s.devices[0]!.format, "senml");
    assert.deepEqual([s.never, s.config, s.refusals_expected], [[], {}, false]);
  });

  it("refuses an unknown key, naming the file and the field", () => {
    assert.deepEqual(problemsOf(VALID.replace("expect:", "expekt:")), [
      "bad.yaml expect: Invalid input: expected array, received undefined",
      'bad.yaml (root): Unrecognized key: "expekt"',
    ]);
  });

  it("refuses a limit that cites no source and does not say it is a local choice", () => {
    const problems = problemsOf(
      VALID.replace('"local engineering choice, to be reviewed"', '"reference/clinical.md §5.2"'),
    );
    assert.equal(problems.length, 1);
    assert.match(
      problems[0]!,
      /^bad\.yaml limits\.0\.source: must cite its clinical source \(RCP NEWS2 2017, IEC 60601-1-8/,
    );
  });

  it("lists every problem of a file at once: unknown device, unknown person, late step, timeline out of order, bad pattern", () => {
    const text = `${VALID.replace("device: ox-01, vitals", "device: ox-99, vitals")}
  - { at: 2, rule: news2, transition: raise, priority: low, text: '(' }
`.replace("script:\n", "script:\n  - { at: 61, acknowledge: { rule: news2, by: rn.nobody } }\n");
    assert.deepEqual(problemsOf(text), [
      "bad.yaml expect.1.text: not a valid regular expression",
      "bad.yaml script.0: rn.nobody is not in staff",
      "bad.yaml script.0: after the scenario's duration",
      "bad.yaml script.1: unknown device ox-99",
      "bad.yaml expect.1.at: the timeline must be in time order",
    ]);
  });

  it("refuses a step with two actions or without a time", () => {
    const text = VALID.replace(
      "script:\n",
      "script:\n  - { note: n, observe: { subject: pt-01, by: rn.amy, acvpu: A }, disconnect: { device: ox-01 } }\n",
    );
    assert.deepEqual(problemsOf(text), [
      "bad.yaml script.0: exactly one action of send, observe, acknowledge, silence, disconnect, remove_device, erase_subject",
      "bad.yaml script.0.at: needs at, or from + to + every",
    ]);
  });

  it("reports broken YAML with its line", () => {
    const problems = problemsOf("title: t\n  shows: [\n");
    assert.equal(problems.length > 0, true);
    assert.match(problems[0]!, /^bad\.yaml \(yaml line \d+\): /);
  });

  it("keeps every pending scenario a valid file, so it runs as soon as it is moved in", () => {
    // pending/ is empty whenever every scenario's behaviour is built; git keeps no empty folder
    const files = existsSync(PENDING_DIR) ? readdirSync(PENDING_DIR).filter((f) => f.endsWith(".yaml")) : [];
    for (const f of files) assert.doesNotThrow(() => loadScenario(join(PENDING_DIR, f)), f);
  });
});

describe("timeline comparison", () => {
  const t0 = Date.UTC(2026, 2, 2, 8, 0, 0);
  const expected = parseScenario(VALID, "good.yaml").expect;
  const seen = (over: Partial<ObservedTransition> = {}): ObservedTransition => ({
    at: 5,
    rule: "threshold.spo2.low",
    transition: "raise",
    priority: "high",
    text: "Oxygen saturation 82 % below limit 85 %",
    subject: "pt-01",
    device: "ox-01",
    recipient: "primary_nurse",
    by: null,
    via: null,
    ...over,
  });

  it("passes the same timeline, marking each line as expected", () => {
    const v = compareTimeline(expected, [], [seen()], t0);
    assert.equal(v.ok, true);
    assert.match(
      v.table.split("\n")[1]!,
      /^= 5 +raise +high +threshold\.spo2\.low +pt-01 +Oxygen saturation 82 %/,
    );
  });

  it("fails a transition one second late, showing what was expected and what came", () => {
    const v = compareTimeline(expected, [], [seen({ at: 6 })], t0);
    assert.equal(v.ok, false);
    assert.deepEqual(
      v.table
        .split("\n")
        .slice(1)
        .map((l) => l.slice(0, 2) + l.slice(2).split(/ +/)[0]),
      ["- 5", "+ 6"],
    );
  });

  it("fails a missing transition, an extra one and a wrong priority", () => {
    assert.equal(compareTimeline(expected, [], [], t0).ok, false);
    assert.equal(
      compareTimeline(expected, [], [seen(), seen({ transition: "escalate", at: 65 })], t0).ok,
      false,
    );
    assert.equal(compareTimeline(expected, [], [seen({ priority: "medium" })], t0).ok, false);
  });

  it("fails a transition that the scenario says must never happen, within its window only", () => {
    const never = [{ rule: "news2|rate\\..*", from: 10, why: "not a deterioration" }];
    const late = seen({ at: 20, rule: "rate.spo2_drop", priority: "medium" });
    const v = compareTimeline([], never, [late], t0);
    assert.equal(v.ok, false);
    assert.deepEqual(
      v.broken.map((b) => b.by.rule),
      ["rate.spo2_drop"],
    );
    assert.match(v.table, /^! 20 /m);
    assert.equal(compareTimeline([], never, [seen({ at: 9, rule: "news2" })], t0).broken.length, 0);
  });

  it("writes times in texts as seconds of the scenario, both ways", () => {
    assert.equal(isoSecond(t0 + 20_000), "2026-03-02T08:00:20Z");
    const text = `no contact since ${isoSecond(t0 + 20_000)}, backfilled from ${isoSecond(t0 - 3_600_000)}`;
    assert.equal(relativeTimes(text, t0), "no contact since {T+20}, backfilled from {T-3600}");
    assert.ok(new RegExp(expandTimes("since {T+20},", t0)).test(text));
    assert.ok(!new RegExp(expandTimes("since {T+21},", t0)).test(text));
  });
});
