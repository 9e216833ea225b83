/**
 * `vitalog audit` on the configuration in force (audit-rules.ts), fed logged events directly: a logged
 * `rules_in_force` whose hash is not the hash of the rules it carries proves nothing and is a finding, as are
 * rows the log does not support.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LoggedEvent } from "../../src/batcher/tlog/audit-events.js";
import type { Finding } from "../../src/batcher/tlog/audit-findings.js";
import { rulesInForceCheck } from "../../src/batcher/tlog/audit-rules.js";
import { openDatabase } from "../../src/db.js";
import { MIGRATIONS } from "../../src/migrations.js";
import { rulesHash } from "../../src/rules/rules-in-force.js";

const keys = { tag: (subjectId: string) => Buffer.from(subjectId, "utf8") };

function wardEvent(leafIndex: number, rules: unknown, hash = rulesHash(rules)): LoggedEvent {
  return {
    ref: `evt-${leafIndex}`,
    leafIndex,
    type: "rules_in_force",
    atMs: 1000,
    subjectId: null,
    deviceId: null,
    data: { scope: "ward", hash, rules, subject_overrides: [], via: "config" },
  };
}

function audit(events: LoggedEvent[], rows: [string, string][]): Finding[] {
  const db = openDatabase(":memory:", MIGRATIONS);
  try {
    const insert = db.prepare(
      "INSERT INTO rules_in_force (scope, state, recorded_at_ms) VALUES (?, ?, 1000)",
    );
    for (const [scope, state] of rows) insert.run(scope, state);
    const check = rulesInForceCheck(db, keys);
    for (const e of events) check.onEvent(e);
    const findings: Finding[] = [];
    check.finish((f) => findings.push(f));
    return findings;
  } finally {
    db.close();
  }
}

const wardState = (hash: string) => rulesHash({ hash, subject_overrides: [] });

describe("audit of rules_in_force", () => {
  const rules = { thresholds: { spo2: { low: [{ limit: 88 }] } } };

  it("is clean when the row is the state of the last logged record", () => {
    assert.deepEqual(audit([wardEvent(3, rules)], [["ward", wardState(rulesHash(rules))]]), []);
  });

  it("names a logged record whose hash is not the hash of the rules it carries", () => {
    const forged = `sha256:${"1".repeat(64)}`;
    const findings = audit([wardEvent(3, rules, forged)], [["ward", wardState(forged)]]);
    assert.deepEqual(
      findings.map((f) => [f.kind, f.ref, f.leafIndex]),
      [["rules_in_force_mismatch", "evt-3", 3]],
    );
    assert.match(findings[0]!.detail, /is not the hash of the rules it carries/);
  });

  it("names a row with another state, a row with no record, and a record whose row is gone", () => {
    const other = wardEvent(3, { thresholds: {} });
    const findings = audit(
      [wardEvent(2, rules), other],
      [
        ["ward", wardState(rulesHash(rules))],
        ["subject:00", `sha256:${"2".repeat(64)}`],
      ],
    );
    assert.deepEqual(
      findings.map((f) => [f.kind, f.ref]),
      [
        ["rules_in_force_mismatch", "subject:00"],
        ["rules_in_force_mismatch", "ward"],
      ],
    );
    assert.deepEqual(
      audit([wardEvent(2, rules)], []).map((f) => [f.ref, f.detail]),
      [["ward", "logged rules_in_force has no row: deleted"]],
    );
  });
});
