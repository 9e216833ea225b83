/**
 * One run of a config lists every problem of it (STYLE.md "Errors"; README "Configuration"): the checks that
 * span keys or sections (recipients, secret files, listeners, each section's own cross-field checks) run on the
 * parts that parsed, beside a problem anywhere else, instead of waiting for that problem to be fixed first.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadConfig, parseConfig } from "../src/config.js";
import { GatewayError } from "../src/errors.js";
import { MAIN } from "./helpers/child-gateway.js";
import { tempDir, writeSecret } from "./helpers/gateway.js";

const dir = tempDir("vitalog-config-every-");
after(() => rmSync(dir, { recursive: true, force: true }));

type Problem = { path: string; message: string };

/** The problems `parseConfig` throws for `raw`, as `path: message`, sorted. */
function problemsOf(raw: Record<string, unknown>): string[] {
  let caught: unknown;
  try {
    parseConfig({ gateway: { id: "gw-1", stateDir: "state" }, ...raw }, dir);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GatewayError, `expected CONFIG_INVALID, got ${String(caught)}`);
  assert.equal(caught.code, "CONFIG_INVALID");
  return (caught.details as Problem[]).map((p) => `${p.path}: ${p.message}`).sort();
}

/** The paths of those problems, sorted. */
function pathsOf(raw: Record<string, unknown>): string[] {
  return problemsOf(raw)
    .map((p) => p.slice(0, p.indexOf(": ")))
    .sort();
}

/** An unknown key in `alerts.noConsumer` beside two destination problems: all three are listed in one run. */
const ALERTS_YAML = `gateway: { id: gw-1, stateDir: state }
alerts:
  recipients:
    charge_nurse: [{ sink: mqtt, topic: vitalog/alerts/events }]
    rapid_response_team: [{ sink: mllp }]
  noConsumer: { prio: high }
`;
const ALERTS_PROBLEMS = [
  'alerts.noConsumer: Unrecognized key: "prio"',
  "alerts.recipients.charge_nurse.0.topic: must be under vitalog/alerts/page/",
  "alerts.recipients.rapid_response_team.0: sink mllp needs alerts.mllp",
];

describe("every configuration problem in one run", () => {
  it("lists recipient and destination problems beside an unknown key in alerts", () => {
    const file = join(dir, "alerts.yaml");
    writeFileSync(file, ALERTS_YAML);
    let caught: unknown;
    try {
      loadConfig(file);
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof GatewayError && caught.code === "CONFIG_INVALID", String(caught));
    const got = (caught.details as Problem[]).map((p) => `${p.path}: ${p.message}`).sort();
    assert.deepEqual(got, ALERTS_PROBLEMS);
  });

  it("stops vitalog run with exit 78 and the recipient problems on stderr with the unknown key", () => {
    const file = join(dir, "alerts-run.yaml");
    writeFileSync(file, ALERTS_YAML);
    const r = spawnSync(process.execPath, [MAIN, "run", "--config", file], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /3 problem\(s\)/);
    for (const p of ALERTS_PROBLEMS) assert.ok(r.stderr.includes(`  - ${p}`), `stderr has ${p}`);
  });

  it("checks the ladder's recipients while another rules section, and the alarms section itself, are wrong", () => {
    const paths = pathsOf({
      rules: {
        news2: { bogus: 1 },
        alarms: {
          silence: { defaultSec: 500, maxSec: 300 },
          escalation: { high: [{ afterSec: 60, recipient: "nobody_here", raisePriority: false }] },
        },
      },
      alerts: { recipients: { charge_nurse: [{ sink: "mqtt" }] } },
    });
    assert.deepEqual(paths, [
      "rules.alarms.escalation.high.0.recipient",
      "rules.alarms.silence.defaultSec",
      "rules.news2",
    ]);
  });

  it("does not report a recipient's sink as missing when that sink's own section is the problem", () => {
    const problems = problemsOf({
      alerts: {
        mllp: { host: "alert-manager.example.invalid" },
        recipients: {
          charge_nurse: [{ sink: "mqtt" }],
          rapid_response_team: [{ sink: "mllp" }],
        },
      },
    });
    assert.deepEqual(problems, ["alerts.mllp.port: Invalid input: expected number, received undefined"]);
  });

  it("lists device, secret-file, listener and admin problems beside a schema problem elsewhere", () => {
    const paths = pathsOf({
      log: { level: "chatty" },
      mqtt: { plain: false },
      admin: { host: "0.0.0.0" },
      devices: [
        { id: "d1", subject: "p1", passwordFile: "missing.pw" },
        { id: "d1", subject: "p1", passwordFile: writeSecret(dir, "d1.pw", "pw") },
      ],
      alerts: {
        consumers: [{ id: "station-1", passwordFile: "missing-station.pw" }],
        noConsumer: { prio: "high" },
      },
    });
    assert.deepEqual(paths, [
      "admin.tokenFile",
      "alerts.consumers.0.passwordFile",
      "alerts.noConsumer",
      "devices.0.passwordFile",
      "devices.1.id",
      "log.level",
      "mqtt.plain",
    ]);
  });

  it("refuses anchor.enabled without the tamper-evident log, with the file's other problems", () => {
    const paths = pathsOf({
      log: { level: "chatty" },
      tlog: { enabled: false },
      anchor: {
        enabled: true,
        rpcUrl: "http://127.0.0.1:8545",
        chainId: 1337,
        contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        keyFile: "ledger.key",
      },
    });
    assert.deepEqual(paths, ["anchor.enabled", "log.level"]);
  });

  // each section's own check, and a wrong value (which stops zod's object refinements) in another key of it
  const SECTIONS: { name: string; raw: Record<string, unknown>; expected: string[] }[] = [
    {
      name: "mqtt",
      raw: { mqtt: { maxPayloadBytes: 16_384, maxPacketBytes: 2048, plain: "no" } },
      expected: ["mqtt.maxPacketBytes", "mqtt.plain"],
    },
    {
      name: "alerts",
      raw: {
        alerts: {
          mqtt: { topicPrefix: "vitalog/x", commandPrefix: "vitalog/x" },
          consumers: [
            { id: "station-1", passwordFile: writeSecret(dir, "s1.pw", "pw") },
            { id: "station-1", passwordFile: writeSecret(dir, "s2.pw", "pw") },
          ],
          noConsumer: { priority: "urgent" },
        },
      },
      expected: ["alerts.consumers.1.id", "alerts.mqtt.commandPrefix", "alerts.noConsumer.priority"],
    },
    {
      name: "alerts.webhook.retry",
      raw: {
        alerts: {
          webhook: {
            url: "https://hooks.example.invalid/alerts",
            secretFile: writeSecret(dir, "hook.key", "k"),
            retry: { initialDelayMs: 5000, maxDelayMs: 1000, jitter: "half" },
          },
        },
      },
      expected: ["alerts.webhook.retry.initialDelayMs", "alerts.webhook.retry.jitter"],
    },
    {
      name: "rules.technical",
      raw: {
        rules: {
          technical: { battery: { lowPct: 10, criticalPct: 20 }, sensorContact: { priority: "urgent" } },
        },
      },
      expected: ["rules.technical.battery.criticalPct", "rules.technical.sensorContact.priority"],
    },
    {
      name: "rules.alarms",
      raw: { rules: { alarms: { silence: { defaultSec: 500, maxSec: 300 }, clearHoldSec: "30 s" } } },
      expected: ["rules.alarms.clearHoldSec", "rules.alarms.silence.defaultSec"],
    },
    {
      name: "rules.thresholds",
      raw: {
        rules: {
          thresholds: {
            ward: { hr: { clearSec: 10 } },
            subjects: {
              "pt-1": { heart_rate: { low: [{ limit: 200, priority: "high", persistenceSec: 5 }] } },
              "pt-2": { spo2: { low: [{ limit: 85, priority: "urgent", persistenceSec: 5 }] } },
            },
          },
        },
      },
      expected: [
        "rules.thresholds.subjects.pt-1.heart_rate",
        "rules.thresholds.subjects.pt-2.spo2.low.0.priority",
        "rules.thresholds.ward",
      ],
    },
    {
      name: "rules.rateOfChange",
      raw: {
        rules: {
          rateOfChange: [
            { id: "spo2_drop", delta: "big" },
            {
              id: "hr_rise",
              kind: "heart_rate",
              direction: "rise",
              delta: 20,
              withinSec: 60,
              priority: "medium",
            },
            { id: "hr_rise", enabled: false },
          ],
        },
      },
      expected: [
        "rules.rateOfChange.0.delta",
        "rules.rateOfChange.1.persistenceSec",
        "rules.rateOfChange.2.id",
      ],
    },
    {
      name: "anchor",
      raw: { anchor: { enabled: true, finality: "soon" } },
      expected: ["anchor.chainId", "anchor.contract", "anchor.finality", "anchor.keyFile", "anchor.rpcUrl"],
    },
    {
      name: "drivers",
      raw: { drivers: { packages: ["@acme/oximeter", "@acme/oximeter"], packagesFrom: 5 } },
      expected: ["drivers.packages.1", "drivers.packagesFrom"],
    },
    {
      name: "ble",
      raw: {
        ble: {
          devices: [
            { address: "AA:BB:CC:DD:EE:01", deviceId: "d1" },
            { address: "aa:bb:cc:dd:ee:01", deviceId: "d2" },
          ],
          reconnect: { initialDelayMs: 5000, maxDelayMs: 1000, jitter: "x" },
          enabled: "yes",
        },
      },
      expected: [
        "ble.devices.1.address",
        "ble.enabled",
        "ble.reconnect.initialDelayMs",
        "ble.reconnect.jitter",
      ],
    },
    {
      name: "serial",
      raw: {
        serial: {
          ports: [
            { path: "/dev/ttyUSB0", deviceId: "d1", definition: "ascii-bedside" },
            { path: "/dev/ttyUSB0", deviceId: "d2", definition: "ascii-bedside" },
          ],
          reopen: { multiplier: "x" },
        },
      },
      expected: ["serial.ports.1.path", "serial.reopen.multiplier"],
    },
  ];
  for (const { name, raw, expected } of SECTIONS) {
    it(`runs the ${name} section's own cross-field check beside a wrong value in another of its keys`, () => {
      assert.deepEqual(pathsOf(raw), expected);
    });
  }
});
