/**
 * The `rules:` examples of docs/alerting.md are real configuration: each loads through `loadConfig`, the
 * section written out with its built-in values is exactly the built-in configuration, and each example
 * means what the text around it says.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config.js";
import { DEFAULT_RULES_CONFIG, type RulesConfig } from "../../src/rules/engine.js";
import { effectiveThresholds } from "../../src/rules/threshold-config.js";
import { tempDir } from "../helpers/gateway.js";

const DOC = fileURLToPath(new URL("../../../docs/alerting.md", import.meta.url));

/** The ```yaml blocks of the doc's `rules` configuration section, in order. */
function rulesExamples(): string[] {
  const text = readFileSync(DOC, "utf8");
  const start = text.indexOf("## Configuration (`rules`)");
  assert.ok(start >= 0, "docs/alerting.md has a rules configuration section");
  const end = text.indexOf("\n## ", start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

const dir = tempDir("vitalog-rules-docs-");
after(() => rmSync(dir, { recursive: true, force: true }));

function load(example: string, i: number): RulesConfig {
  const file = join(dir, `example-${i}.yaml`);
  writeFileSync(file, `gateway: { id: gw, stateDir: state }\n${example}`);
  return loadConfig(file).rules as RulesConfig;
}

describe("the rules examples in docs/alerting.md", () => {
  const examples = rulesExamples();

  it("are the whole section with its built-in values, a ward override, a subject override and a turn-off", () => {
    assert.equal(examples.length, 4);
    for (const e of examples) assert.match(e, /^rules:\n/);
  });

  it("write out exactly the built-in configuration in the whole-section example", () => {
    assert.deepEqual(load(examples[0]!, 0), DEFAULT_RULES_CONFIG);
  });

  it("keep every other vital's defaults in the ward override", () => {
    const rules = load(examples[1]!, 1);
    const ward = new Map(effectiveThresholds(rules.thresholds, null).map((v) => [v.kind, v]));
    assert.deepEqual(
      ward.get("spo2")!.low.map((t) => t.limit),
      [85, 90],
    );
    assert.equal(ward.get("heart_rate")!.clearSec, 15);
    assert.deepEqual(
      ward.get("heart_rate")!.high.map((t) => t.limit),
      [160, 130],
    );
    for (const kind of ["pulse_rate", "respiratory_rate", "bp_systolic", "body_temperature"] as const)
      assert.equal(ward.get(kind)!.source.low, "default", kind);
  });

  it("change one patient's SpO2 limit in the subject override and nothing else", () => {
    const rules = load(examples[2]!, 2);
    const own = effectiveThresholds(rules.thresholds, "pt-0042");
    const ward = effectiveThresholds(rules.thresholds, null);
    const changed = own.filter((v, i) => JSON.stringify(v) !== JSON.stringify(ward[i]));
    assert.deepEqual(
      changed.map((v) => [v.kind, v.low.map((t) => t.limit), v.clearSec]),
      [["spo2", [84], 10]],
    );
  });

  it("turn off exactly what the turn-off example names", () => {
    const rules = load(examples[3]!, 3);
    const ward = new Map(effectiveThresholds(rules.thresholds, null).map((v) => [v.kind, v]));
    assert.equal(ward.get("bp_systolic")!.enabled, false);
    assert.deepEqual(ward.get("heart_rate")!.high, []);
    assert.equal(ward.get("heart_rate")!.low.length, 2);
    const own = new Map(effectiveThresholds(rules.thresholds, "pt-0042").map((v) => [v.kind, v]));
    assert.equal(own.get("bp_systolic")!.enabled, true);
    assert.deepEqual(rules.rateOfChange, []);
  });
});
