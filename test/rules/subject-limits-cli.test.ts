/**
 * A clinician's per-patient limit change through `vitalog rules set|reset`, against a real gateway (real
 * broker on loopback, real SQLite file, the log on) started from the same config file as the CLI: applied live
 * by the running daemon, refused for anyone who may not change limits, logged with who and why, kept across a
 * restart (and written by the CLI itself while the daemon is stopped), and checked by `vitalog audit`.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import mqtt, { type MqttClient } from "mqtt";
import { Gateway } from "../../src/app/gateway.js";
import { type LoggedEvent, scanLoggedEvents } from "../../src/batcher/tlog/audit-events.js";
import { eraseSubject } from "../../src/batcher/tlog/erasure.js";
import { openTlogForCli } from "../../src/batcher/tlog/open-tlog.js";
import { auditCommand } from "../../src/cli/audit.js";
import { rulesCommand } from "../../src/cli/rules.js";
import { usersCommand } from "../../src/cli/users.js";
import { systemClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { controlSocketPath } from "../../src/control/control-socket.js";
import { createLogger } from "../../src/log.js";
import type { RulesConfig } from "../../src/rules/engine.js";
import { subjectRulesInForce } from "../../src/rules/rules-in-force.js";
import { withStoredOverrides } from "../../src/rules/threshold-config.js";
import { tempDir, waitFor } from "../helpers/gateway.js";
import { addUsers } from "../helpers/users.js";
import { runCli } from "./attribution-fixture.js";

const SUBJECT = "pt-copd";
const WHY = "COPD, target 88–92 % per consultant";

describe("a patient's own alarm limits changed through the CLI", () => {
  const dir = tempDir("vitalog-subject-limits-");
  const configFile = join(dir, "vitalog.yaml");
  let gw: Gateway | undefined;
  let device: MqttClient | undefined;
  const rules = (...argv: string[]) => runCli(rulesCommand, [...argv, "--config", configFile]);
  const set = (by: string, ...more: string[]) =>
    rules("set", "--subject", SUBJECT, "--vital", "spo2", "--by", by, ...more);

  const start = async () => {
    gw = await Gateway.start(loadConfig(configFile), { log: createLogger("silent"), clock: systemClock });
    if (gw.registry.list().length === 0)
      await gw.registry.add({ id: "ox-1", subjectId: SUBJECT, password: "pw-ox-1-secret" }, Date.now());
    device = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqtt.port}`, {
      clientId: "ox-1",
      username: "ox-1",
      password: "pw-ox-1-secret",
      reconnectPeriod: 0,
    });
  };
  const stop = async () => {
    await device?.endAsync(true).catch(() => {});
    await gw?.stop();
    gw = undefined;
  };
  /** Publishes one SpO2 value (QoS 1: resolves once the gateway has judged and committed it). */
  const spo2 = async (value: number) => {
    await device!.publishAsync(
      "vitalog/dev/ox-1/json",
      JSON.stringify({ readings: [{ kind: "spo2", value, unit: "%" }] }),
      {
        qos: 1,
      },
    );
  };
  const alerts = () =>
    gw!.rules.engine.activeAlerts({ subjectId: SUBJECT }).filter((a) => a.rule_id === "threshold.spo2.low");
  /** The low-SpO2 alert while its condition holds. */
  const lowSpo2Alert = () => alerts().find((a) => a.condition_active);
  /** Acknowledges what a HIGH alarm left latched once its condition ended [IEC 60601-1-8 latching]. */
  const acknowledgeLatched = () => {
    for (const a of alerts()) if (!a.condition_active) gw!.rules.engine.acknowledge(a.alert_id, "dr.ray");
  };
  const refusals = (reason: string) =>
    gw!.metrics.value("vitalog_commands_refused_total", { command: "rules_set", reason });
  const loggedEvents = (type: string): LoggedEvent[] => {
    const tlog = openTlogForCli(loadConfig(configFile));
    try {
      const out: LoggedEvent[] = [];
      scanLoggedEvents(tlog.db, tlog.records.keys, (e) => {
        if (e.type === type) out.push(e);
      });
      return out;
    } finally {
      tlog.close();
    }
  };
  const storedRows = () => {
    const db = new Database(loadConfig(configFile).storage.path!, { readonly: true });
    try {
      return db.prepare("SELECT subject_id, vital, limits, changed_by, reason FROM subject_limits").all();
    } finally {
      db.close();
    }
  };

  before(async () => {
    mkdirSync(join(dir, "state"), { mode: 0o700 });
    // SpO2 alarms at once below the ward's 88 %, so the test needs no persistence delay
    writeFileSync(
      configFile,
      [
        `gateway: { id: limits-gw, origin: test.vitalog.invalid/gw/limits-gw, stateDir: ${join(dir, "state")} }`,
        "mqtt: { host: 127.0.0.1, port: 0 }",
        "admin: { port: 0 }",
        "log: { level: silent }",
        "rules:",
        "  thresholds:",
        "    ward:",
        "      spo2: { low: [{ limit: 88, priority: high, persistenceSec: 0 }], clearSec: 0 }",
        "",
      ].join("\n"),
    );
    await addUsers(loadConfig(configFile), [
      { id: "dr.ray", role: "clinician" },
      { id: "nurse.kim", role: "nurse" },
      { id: "dr.gone", role: "clinician" },
    ]);
    assert.equal(
      (
        await runCli(usersCommand, [
          "disable",
          "--id",
          "dr.gone",
          "--by",
          "ward.admin",
          "--config",
          configFile,
        ])
      ).code,
      0,
    );
    await start();
  });
  after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is applied by the running gateway at once: an SpO2 that alarmed under the ward's limit no longer does", async () => {
    await spo2(87);
    assert.match(lowSpo2Alert()?.reason ?? "", /below limit 88/, "87 % alarms under the ward's 88 %");

    const r = await set("dr.ray", "--low", "85:high:0", "--why", WHY);
    assert.equal(r.code, 0, r.text);
    const reply = JSON.parse(r.text);
    assert.deepEqual(
      [reply.ok, reply.applied, reply.daemon, reply.vitals],
      [true, "live", "running", ["spo2"]],
    );
    assert.equal(lowSpo2Alert(), undefined, "the alarm the new limit no longer supports ended at once");
    // latched (HIGH), saying why it ended
    assert.equal(alerts()[0]?.state, "latched");
    assert.match(
      alerts()[0]?.reason ?? "",
      /Oxygen saturation 87 % within the new limits \(limits changed by dr\.ray\)/,
    );
    acknowledgeLatched();

    await spo2(87);
    assert.equal(lowSpo2Alert(), undefined, "87 % is within the patient's own limit");
    await spo2(84);
    assert.match(lowSpo2Alert()?.reason ?? "", /84 % below limit 85 %/);
    await spo2(90);
    acknowledgeLatched();
    assert.equal(lowSpo2Alert(), undefined);
  });

  it("refuses a nurse, an unknown or disabled user, a blank reason and impossible or inverted limits, counting each, and changes nothing", async () => {
    const before = storedRows();
    // a refused user exits 77 (EX_NOPERM) as every `--by` command does; any other refusal 1
    const cases: [string[], string, number][] = [
      [["nurse.kim", "--low", "80:high:0", "--why", WHY], "user_not_permitted", 77],
      [["dr.nobody", "--low", "80:high:0", "--why", WHY], "unknown_user", 77],
      [["dr.gone", "--low", "80:high:0", "--why", WHY], "user_disabled", 77],
      [["dr.ray", "--low", "80:high:0", "--why", "   "], "reason_required", 1],
      // at or beyond the physiologic range a value can never cross the limit
      [["dr.ray", "--low", "0:high:0", "--why", WHY], "invalid_limits", 1],
      [["dr.ray", "--high", "80:medium:0", "--why", WHY], "invalid_limits", 1],
    ];
    for (const [argv, reason, code] of cases) {
      const countBefore = refusals(reason);
      const r = await set(argv[0]!, ...argv.slice(1));
      assert.equal(r.code, code, `${argv.join(" ")}: ${r.text}`);
      assert.equal(JSON.parse(r.text).error, reason, r.text);
      assert.equal(refusals(reason), countBefore + 1, `${reason} is counted`);
    }
    assert.match(
      JSON.parse((await set("dr.ray", "--high", "80:medium:0", "--why", WHY)).text).detail,
      /every low limit must be below every high limit/,
    );
    assert.deepEqual(storedRows(), before);
  });

  it("logs the change under the patient with who, why, the limits before and after and the hash in force, and records the rules in force", async () => {
    const [change] = loggedEvents("subject_limits_changed");
    assert.equal(change?.subjectId, SUBJECT);
    assert.deepEqual(
      [change.data.by, change.data.why, change.data.action, change.data.vital],
      ["dr.ray", WHY, "set", "spo2"],
    );
    const lows = (side: unknown) => (side as { low: { limit: number }[] }).low.map((t) => t.limit);
    assert.deepEqual(lows(change.data.before), [88]);
    assert.deepEqual(lows(change.data.after), [85]);
    const configRules = loadConfig(configFile).rules as RulesConfig;
    const inForce = subjectRulesInForce(
      {
        ...configRules,
        thresholds: withStoredOverrides(configRules.thresholds, {
          [SUBJECT]: { spo2: { low: [{ limit: 85, priority: "high", persistenceSec: 0 }] } },
        }),
      },
      SUBJECT,
    );
    assert.equal(change.data.rules_hash, inForce.hash);
    await waitFor(
      () =>
        loggedEvents("rules_in_force").some((e) => e.subjectId === SUBJECT && e.data.hash === inForce.hash),
      5000,
      "the subject's rules_in_force record",
    );
    const record = loggedEvents("rules_in_force").find((e) => e.subjectId === SUBJECT)!;
    assert.deepEqual([record.data.via, record.data.by], ["limit_change", "dr.ray"]);

    const shown = await rules("show", "--subject", SUBJECT, "--json");
    const line = shown.text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .find((l) => l.vital === "spo2");
    assert.deepEqual(
      line.low.map((t: { limit: number }) => t.limit),
      [85],
    );
    assert.equal(line.source.low, "subject");
    assert.equal(line.rules_hash, inForce.hash);
    assert.deepEqual([line.change.changed_by, line.change.why], ["dr.ray", WHY]);
  });

  it("survives a restart, and a reset made while the daemon is stopped applies at its next start", async () => {
    await stop();
    await start();
    await spo2(87);
    assert.equal(lowSpo2Alert(), undefined, "the patient's limit is in force from start-up");

    await stop();
    const r = await rules(
      "reset",
      "--subject",
      SUBJECT,
      "--vital",
      "spo2",
      "--by",
      "dr.ray",
      "--why",
      "exacerbation over",
    );
    assert.equal(r.code, 0, r.text);
    assert.deepEqual(
      [JSON.parse(r.text).daemon, JSON.parse(r.text).applied],
      ["not_running", "at_next_start"],
    );
    await start();
    await spo2(87);
    assert.match(lowSpo2Alert()?.reason ?? "", /below limit 88/, "back to the ward's limit");
    await spo2(95);
    acknowledgeLatched();
    const changes = loggedEvents("subject_limits_changed");
    assert.deepEqual(
      changes.map((e) => [e.data.action, e.data.by, e.data.why]),
      [
        ["set", "dr.ray", WHY],
        ["reset", "dr.ray", "exacerbation over"],
      ],
    );
  });

  it("is clean under audit, which names a tampered rules_in_force or subject_limits row", async () => {
    assert.equal((await set("dr.ray", "--low", "86:high:0", "--why", WHY)).code, 0);
    await stop();
    const clean = await runCli(auditCommand, ["--config", configFile, "--json"]);
    const report = JSON.parse(clean.text);
    assert.deepEqual(report.findings, [], clean.text);
    assert.equal(clean.code, 0);
    const tables = Object.fromEntries(
      report.tables.map((t: { table: string; verified: number }) => [t.table, t.verified]),
    );
    assert.equal(tables.subject_limits, 1);
    assert.ok(tables.rules_in_force >= 2, "the ward's and the subject's rows verified");

    const db = new Database(loadConfig(configFile).storage.path!);
    try {
      db.prepare("UPDATE rules_in_force SET state = ? WHERE scope = 'ward'").run(`sha256:${"0".repeat(64)}`);
      db.prepare("UPDATE subject_limits SET limits = ? WHERE subject_id = ?").run(
        JSON.stringify({ low: [{ limit: 70, priority: "high", persistenceSec: 0 }] }),
        SUBJECT,
      );
    } finally {
      db.close();
    }
    const tampered = await runCli(auditCommand, ["--config", configFile, "--json"]);
    const kinds = JSON.parse(tampered.text).findings.map((f: { kind: string; ref: string }) => [
      f.kind,
      f.ref,
    ]);
    assert.notEqual(tampered.code, 0);
    assert.deepEqual(kinds, [
      ["rules_in_force_mismatch", "ward"],
      ["subject_limits_mismatch", `${SUBJECT} spo2`],
    ]);
    await start();
  });

  it("applies a change for a subject the gateway has never seen, warning in the reply and the command's output", async () => {
    const known = JSON.parse((await set("dr.ray", "--low", "86:high:0", "--why", WHY)).text);
    assert.equal(known.warning, undefined, "a subject with a bound device is known");
    const r = await rules(
      "set",
      "--subject",
      "pt-NOBODY",
      "--vital",
      "spo2",
      "--low",
      "85:high:0",
      "--by",
      "dr.ray",
      "--why",
      WHY,
    );
    assert.equal(r.code, 0, r.text);
    const reply = JSON.parse(r.text);
    assert.deepEqual([reply.applied, reply.daemon, reply.warning], ["live", "running", "subject_not_seen"]);
    assert.match(reply.warning_detail, /no device is bound to pt-NOBODY and nothing is recorded for it/);

    await stop();
    const offline = await rules(
      "set",
      "--subject",
      "pt-NOBODY-2",
      "--vital",
      "spo2",
      "--low",
      "85:high:0",
      "--by",
      "dr.ray",
      "--why",
      WHY,
    );
    assert.equal(offline.code, 0, offline.text);
    assert.deepEqual(
      [JSON.parse(offline.text).applied, JSON.parse(offline.text).warning],
      ["at_next_start", "subject_not_seen"],
    );
    await start();
  });

  it("says that a subject was erased, and exits 1, rather than showing the ward's limits for it", async () => {
    await stop();
    // pt-NOBODY has a record (its limit change), so its erasure leaves the log's tombstone
    const tlog = openTlogForCli(loadConfig(configFile));
    try {
      eraseSubject(tlog, "pt-NOBODY", Date.now());
    } finally {
      tlog.close();
    }
    const shown = await rules("show", "--subject", "pt-NOBODY");
    assert.equal(shown.code, 1, shown.text);
    assert.equal(
      shown.text,
      "the record of pt-NOBODY was erased: its limits are gone and readings for it are refused\n",
    );
    const json = await rules("show", "--subject", "pt-NOBODY", "--json");
    assert.equal(json.code, 1, json.text);
    assert.deepEqual([JSON.parse(json.text).subject_id, JSON.parse(json.text).erased], ["pt-NOBODY", true]);
    const other = await rules("show", "--subject", SUBJECT);
    assert.equal(other.code, 0, other.text);
    assert.match(other.text, /thresholds in force for subject pt-copd/);
    await start();
  });
});

describe("a limit change when the daemon's state is unknown", () => {
  it("exits 75 and writes nothing when the control socket closes without an answer", async () => {
    const dir = tempDir("vitalog-subject-limits-unknown-");
    const stateDir = join(dir, "state");
    mkdirSync(stateDir, { mode: 0o700 });
    const configFile = join(dir, "vitalog.yaml");
    writeFileSync(
      configFile,
      `gateway: { id: limits-gw, origin: test.vitalog.invalid/gw/limits-gw, stateDir: ${stateDir} }\nlog: { level: silent }\n`,
    );
    // a daemon that dies while answering: it accepts the request and closes without a word
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(controlSocketPath(stateDir), resolve));
    try {
      const r = await runCli(rulesCommand, [
        "set",
        "--subject",
        SUBJECT,
        "--vital",
        "spo2",
        "--low",
        "85:high:0",
        "--by",
        "dr.ray",
        "--why",
        WHY,
        "--config",
        configFile,
      ]);
      assert.equal(r.code, 75, r.text);
      assert.equal(JSON.parse(r.text).daemon, "unreachable");
      assert.match(JSON.parse(r.text).detail, /may or may not be applied/);
      assert.equal(existsSync(loadConfig(configFile).storage.path!), false, "the command wrote nothing");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
