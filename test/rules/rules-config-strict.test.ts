/**
 * Every section of `rules:` and `alerts:` is strict: an unknown key at any depth is an error, listed with every
 * other problem of the file, and the daemon refuses to start with exit 78 (EX_CONFIG).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadConfig } from "../../src/config.js";
import { GatewayError } from "../../src/errors.js";
import { MAIN } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";

const dir = tempDir("vitalog-rules-strict-");
after(() => rmSync(dir, { recursive: true, force: true }));

/** Unknown keys in every section of `rules:` and `alerts:`, beside an ordinary problem elsewhere. */
const MISTAKES = `gateway: { id: "not an id!", stateDir: state }
rules:
  bogus: 1
  alarm: { clearHoldSec: 0 }
  thresholds:
    nope: 2
    ward:
      spo2:
        hysterisis: 1
        low: [{ limit: 88, priority: medium, persistenceSec: 15, delay: 3 }]
      heartrate: { clearSec: 5 }
    subjects:
      pt-1: { heart_rate: { clear: 5 } }
  rateOfChange: [{ id: spo2_drop, deltaPct: 3 }]
  news2: { bandPriority: { low: null, low_medium: low, medium: medium, high: high, red: high } }
  technical:
    silentDevice: { enable: false }
    devices: { mon-1: { expectedIntervalSec: 5, grace: 1 } }
  alarms:
    silence: { defaultSec: 60, maxSec: 300, audio: off }
    escalation:
      high: [{ afterSec: 60, recipient: charge_nurse, raisePriority: false, to: pager }]
      medium: []
      low: []
alerts:
  bogus: 1
  mqtt: { nope: 1 }
  consumers: [{ id: station-1, passwordFile: station.pw, canAck: true }]
  webhook: { url: "https://integration.example.invalid/alerts", secretFile: hook.key, retry: { jiter: 0.5 } }
`;

/** The problems, as `path: unknown keys` for unknown keys and as the path alone for the others. */
const EXPECTED = [
  "alerts: bogus",
  // the secret files the fixture names do not exist: reported beside the unknown keys, not hidden by them
  "alerts.consumers.0.passwordFile",
  "alerts.consumers.0: canAck",
  "alerts.mqtt: nope",
  "alerts.webhook.retry: jiter",
  "alerts.webhook.secretFile",
  "gateway.id",
  "rules: bogus, alarm",
  "rules.alarms.escalation.high.0: to",
  "rules.alarms.silence: audio",
  "rules.news2.bandPriority: red",
  "rules.rateOfChange.0: deltaPct",
  "rules.technical.devices.mon-1: grace",
  "rules.technical.silentDevice: enable",
  "rules.thresholds: nope",
  "rules.thresholds.subjects.pt-1.heart_rate: clear",
  "rules.thresholds.ward: heartrate",
  "rules.thresholds.ward.spo2: hysterisis",
  "rules.thresholds.ward.spo2.low.0: delay",
];

function describeProblems(details: unknown): string[] {
  return (details as { path: string; message: string }[])
    .map((p) => {
      const keys = /^Unrecognized keys?: (.*)$/.exec(p.message)?.[1];
      return keys === undefined ? p.path : `${p.path}: ${keys.replaceAll('"', "")}`;
    })
    .sort();
}

describe("strict rules and alerts sections", () => {
  const file = join(dir, "mistakes.yaml");
  writeFileSync(file, MISTAKES);

  it("lists every unknown key of rules and alerts, at any depth, with the file's other problems", () => {
    let caught: unknown;
    try {
      loadConfig(file);
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof GatewayError, String(caught));
    assert.equal(caught.code, "CONFIG_INVALID");
    assert.equal(caught.exitCode, 78);
    assert.deepEqual(describeProblems(caught.details), [...EXPECTED].sort());
  });

  it("refuses the typo alarm: for alarms: even when it is the only mistake", () => {
    const typo = join(dir, "typo.yaml");
    writeFileSync(typo, "gateway: { id: gw, stateDir: state }\nrules:\n  alarm: { clearHoldSec: 0 }\n");
    assert.throws(
      () => loadConfig(typo),
      (err: unknown) =>
        err instanceof GatewayError && describeProblems(err.details).join("|") === "rules: alarm",
    );
  });

  it("stops vitalog run with exit 78 and every problem on stderr", () => {
    const r = spawnSync(process.execPath, [MAIN, "run", "--config", file], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /CONFIG_INVALID/);
    assert.match(r.stderr, new RegExp(`${EXPECTED.length} problem\\(s\\)`));
    for (const p of EXPECTED) assert.ok(r.stderr.includes(`  - ${p.split(":")[0]}:`), `stderr names ${p}`);
  });
});
