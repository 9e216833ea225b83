/**
 * `vitalog rules show` prints the limits in force after merging, where each comes from, and the hash that a
 * gateway started with the same file records in its `rules_in_force` log event.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Gateway } from "../../src/app/gateway.js";
import { scanLoggedEvents } from "../../src/batcher/tlog/audit-events.js";
import { openTlogForCli } from "../../src/batcher/tlog/open-tlog.js";
import { systemClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { MAIN } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";

const vitalog = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", timeout: 30_000 });

const dir = tempDir("vitalog-rules-show-");
after(() => rmSync(dir, { recursive: true, force: true }));

const file = join(dir, "vitalog.yaml");
writeFileSync(
  file,
  `gateway: { id: show-gw, stateDir: state }
mqtt: { port: 0 }
admin: { port: 0 }
log: { level: silent }
rules:
  thresholds:
    ward:
      spo2:
        low:
          - { limit: 90, priority: medium, persistenceSec: 15 }
          - { limit: 85, priority: high, persistenceSec: 5 }
      bp_systolic: { enabled: false }
    subjects:
      pt-copd:
        spo2: { low: [{ limit: 84, priority: high, persistenceSec: 5 }], clearSec: 10 }
`,
);

interface Line {
  subject_id: string | null;
  vital: string;
  unit: string;
  enabled: boolean;
  low: { limit: number; priority: string; persistence_sec: number }[];
  high: { limit: number }[];
  hysteresis: number;
  clear_sec: number;
  source: Record<string, string>;
  rules_hash: string;
}

function jsonLines(...args: string[]): Line[] {
  const r = vitalog("rules", "show", "--config", file, "--json", ...args);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Line);
}

describe("vitalog rules show", () => {
  it("prints the ward's limits merged over the defaults, with where each comes from", () => {
    const lines = jsonLines();
    const byVital = new Map(lines.map((l) => [l.vital, l]));
    assert.deepEqual(
      lines.map((l) => l.vital),
      ["heart_rate", "pulse_rate", "spo2", "respiratory_rate", "body_temperature", "bp_systolic"],
    );
    const spo2 = byVital.get("spo2")!;
    assert.deepEqual(spo2.low, [
      { limit: 85, priority: "high", persistence_sec: 5 },
      { limit: 90, priority: "medium", persistence_sec: 15 },
    ]);
    assert.equal(spo2.hysteresis, 1, "the default hysteresis, merged under the ward's tiers");
    assert.deepEqual(spo2.source, {
      enabled: "default",
      low: "ward",
      high: "default",
      hysteresis: "default",
      clear_sec: "default",
    });
    assert.deepEqual(
      byVital.get("heart_rate")!.high.map((t) => t.limit),
      [160, 130],
    );
    assert.equal(byVital.get("heart_rate")!.source.high, "default");
    assert.equal(byVital.get("bp_systolic")!.enabled, false);
    assert.equal(byVital.get("bp_systolic")!.source.enabled, "ward");
    assert.ok(lines.every((l) => l.subject_id === null));
  });

  it("prints a subject's limits with its overrides merged over the ward", () => {
    const lines = jsonLines("--subject", "pt-copd");
    const spo2 = lines.find((l) => l.vital === "spo2")!;
    assert.deepEqual(
      spo2.low.map((t) => t.limit),
      [84],
    );
    assert.equal(spo2.clear_sec, 10);
    assert.equal(spo2.source.low, "subject");
    assert.equal(spo2.source.clear_sec, "subject");
    assert.equal(spo2.source.hysteresis, "default");
    assert.equal(lines.find((l) => l.vital === "bp_systolic")!.source.enabled, "ward");
    // a subject without overrides: the ward's table and hash
    const other = jsonLines("--subject", "pt-2");
    assert.deepEqual(
      other.map((l) => [l.vital, l.low, l.rules_hash]),
      jsonLines().map((l) => [l.vital, l.low, l.rules_hash]),
    );
  });

  it("prints a table with one row per limit, a turned-off vital as off", () => {
    const r = vitalog("rules", "show", "--config", file, "--subject", "pt-copd");
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split("\n");
    assert.match(rows[0]!, /^thresholds in force for subject pt-copd, rules hash sha256:[0-9a-f]{64}$/);
    assert.match(rows[1]!, /^VITAL\s+DIR\s+LIMIT\s+UNIT\s+PRIORITY\s+DELAY\s+HYSTERESIS\s+CLEAR\s+SOURCE$/);
    const cells = rows.slice(2).map((row) => row.split(/\s{2,}/));
    assert.deepEqual(
      cells.filter((c) => c[0] === "spo2"),
      [["spo2", "low", "< 84", "%", "high", "5 s", "1", "10 s", "subject"]],
    );
    assert.deepEqual(
      cells.filter((c) => c[0] === "bp_systolic"),
      [["bp_systolic", "-", "off", "mm[Hg]", "-", "-", "5", "0 s", "ward"]],
    );
    assert.equal(cells.filter((c) => c[0] === "heart_rate").length, 4);
  });

  it("prints the hash that the gateway records for the same rules", async () => {
    const config = loadConfig(file);
    const gw = await Gateway.start(config, { log: createLogger("silent"), clock: systemClock });
    await gw.stop();
    const tlog = openTlogForCli(config);
    const recorded = new Map<string | null, unknown>();
    try {
      scanLoggedEvents(tlog.db, tlog.records.keys, (e) => {
        if (e.type === "rules_in_force") recorded.set(e.subjectId, e.data.hash);
      });
    } finally {
      tlog.close();
    }
    assert.equal(recorded.get(null), jsonLines()[0]!.rules_hash);
    assert.equal(recorded.get("pt-copd"), jsonLines("--subject", "pt-copd")[0]!.rules_hash);
  });

  it("refuses a missing action or a malformed subject id as a usage error", () => {
    assert.equal(vitalog("rules", "--config", file).status, 64);
    assert.equal(vitalog("rules", "show", "--config", file, "--subject", "pt 1").status, 64);
  });
});
