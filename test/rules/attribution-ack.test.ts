/**
 * Who answers an alarm is a user the gateway knows: through a real gateway, its broker and a nurse station
 * (and the CLI acting as one), an acknowledgement or a silence by an unknown, disabled or unauthorised user
 * is refused with its reason and counted; a known user's is recorded with who and through what, in the
 * tables and in the log, and `vitalog audit` agrees.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { scanLoggedEvents } from "../../src/batcher/tlog/audit-events.js";
import { openTlogForCli } from "../../src/batcher/tlog/open-tlog.js";
import { alertsCommand } from "../../src/cli/alerts.js";
import { auditCommand } from "../../src/cli/audit.js";
import { usersCommand } from "../../src/cli/users.js";
import { loadConfig } from "../../src/config.js";
import { waitFor } from "../helpers/gateway.js";
import {
  type AttributionGateway,
  runCli,
  STATION,
  type Station,
  startAttributionGateway,
} from "./attribution-fixture.js";

const REFUSED = "vitalog_commands_refused_total";

describe("acknowledgements and silences by users the gateway knows", () => {
  let t: AttributionGateway;
  let station: Station;
  const users = (...argv: string[]) =>
    runCli(usersCommand, [...argv, "--config", t.configFile, "--by", "ward.admin"]);
  /** Raises a HIGH low-systolic alarm on a new device and returns its raise. */
  const raiseOn = async (deviceId: string) => {
    const dev = await t.device(deviceId);
    await dev.send("bp_systolic", 60, "mm[Hg]");
    return station.next((m) => m.transition === "raise" && m.device_id === deviceId, `${deviceId}'s alarm`);
  };
  const stateOf = (alertId: string) => t.gw.rules.engine.alarms.get(alertId)?.state;
  /** Refusals counted by the gateway so far (tests share it: each asserts what it added). */
  const refused = (command: string, reason: string) => t.gw.metrics.value(REFUSED, { command, reason });

  before(async () => {
    t = await startAttributionGateway();
    station = await t.station();
    const staff: [string, string][] = [
      ["nurse.jane", "nurse"],
      ["nurse.eve", "nurse"],
      ["audrey.audit", "auditor"],
      ["eng.eli", "clinical_engineer"],
    ];
    // the ward's admin adds themselves (the bootstrap of an empty store), then the staff
    assert.equal((await users("add", "--id", "ward.admin", "--role", "admin")).code, 0);
    for (const [id, role] of staff)
      assert.equal((await users("add", "--id", id, "--role", role, "--reason", "ward 7 staff")).code, 0);
  });
  after(() => t.close());

  it("refuses an acknowledgement or a silence by a user the gateway does not know, and counts each", async () => {
    const before = [refused("ack", "unknown_user"), refused("silence", "unknown_user")];
    const raise = await raiseOn("cuff-unknown");
    const ack = await station.command("ack", { alert_id: raise.alert_id, by: "nurse.ghost" });
    assert.deepEqual([ack.ok, ack.error], [false, "unknown_user"]);
    assert.match(String(ack.detail), /no user nurse\.ghost/);
    const silence = await station.command("silence", { alert_id: raise.alert_id, by: "nurse.ghost" });
    assert.equal(silence.error, "unknown_user");
    assert.equal(stateOf(raise.alert_id), "raised");
    assert.deepEqual(
      [refused("ack", "unknown_user"), refused("silence", "unknown_user")],
      [before[0]! + 1, before[1]! + 1],
    );
  });

  it("refuses a user from the next command after `vitalog users disable`", async () => {
    const disabledBefore = refused("ack", "user_disabled");
    const raise = await raiseOn("cuff-disabled");
    const silenced = await station.command("silence", { alert_id: raise.alert_id, by: "nurse.eve" });
    assert.equal(silenced.ok, true, JSON.stringify(silenced));
    const disabled = await users("disable", "--id", "nurse.eve", "--reason", "left the ward");
    assert.equal(disabled.code, 0);
    assert.deepEqual([JSON.parse(disabled.text).enabled, JSON.parse(disabled.text).changed], [false, true]);
    const ack = await station.command("ack", { alert_id: raise.alert_id, by: "nurse.eve" });
    assert.deepEqual([ack.ok, ack.error, ack.detail], [false, "user_disabled", "user nurse.eve is disabled"]);
    assert.equal(stateOf(raise.alert_id), "silenced");
    assert.equal(refused("ack", "user_disabled"), disabledBefore + 1);
  });

  it("refuses roles that do not answer a patient's alarm: an auditor and a clinical engineer", async () => {
    const raise = await raiseOn("cuff-roles");
    for (const by of ["audrey.audit", "eng.eli"]) {
      const ack = await station.command("ack", { alert_id: raise.alert_id, by });
      assert.deepEqual([ack.ok, ack.error], [false, "user_not_permitted"], by);
      assert.match(String(ack.detail), /may not acknowledge or silence a physiological alarm/);
    }
    assert.equal(stateOf(raise.alert_id), "raised");
    // an auditor may look at a subject's NEWS2, not enter an observation
    const entry = { subject_id: "pt-cuff-roles", by: "audrey.audit", acvpu: "A" };
    assert.equal((await station.command("observe", entry)).error, "user_not_permitted");
    const look = await station.command("observe", { subject_id: "pt-cuff-roles", by: "audrey.audit" });
    assert.equal(look.ok, true);
    const ghost = await station.command("observe", { subject_id: "pt-cuff-roles", by: "nurse.ghost" });
    assert.equal(ghost.error, "unknown_user");
  });

  it("lets a clinical engineer answer a technical alarm, and not an auditor", async () => {
    const dev = await t.device("wear-battery");
    // 3 % is under the critical battery level (technical.ts defaults): a MEDIUM technical alarm
    await dev.publish({ readings: [{ kind: "heart_rate", value: 72, unit: "/min" }], battery_pct: 3 });
    const raise = await station.next(
      (m) =>
        m.transition === "raise" && m.rule_id === "technical.battery_low" && m.device_id === "wear-battery",
      "the low-battery alarm",
    );
    assert.equal(
      (await station.command("ack", { alert_id: raise.alert_id, by: "audrey.audit" })).error,
      "user_not_permitted",
    );
    const reply = await station.command("ack", { alert_id: raise.alert_id, by: "eng.eli" });
    assert.equal(reply.ok, true, JSON.stringify(reply));
    const ack = await station.next((m) => m.transition === "acknowledge" && m.alert_id === raise.alert_id);
    assert.deepEqual([ack.by, ack.via], ["eng.eli", STATION]);
  });

  it("records a known user's acknowledgement with who (as stored) and through which consumer, in the log, and audit passes", async () => {
    const raise = await raiseOn("cuff-known");
    // typed in another case: the user is the stored one, and that is who is recorded
    const reply = await station.command("ack", { alert_id: raise.alert_id, by: "Nurse.Jane" });
    assert.equal(reply.ok, true, JSON.stringify(reply));
    const ack = await station.next((m) => m.transition === "acknowledge" && m.alert_id === raise.alert_id);
    assert.deepEqual([ack.by, ack.via, ack.acknowledged_by], ["nurse.jane", STATION, "nurse.jane"]);
    await waitFor(
      () => t.gw.db.prepare("SELECT 1 FROM alert_events WHERE event_id = ?").get(ack.event_id) !== undefined,
      10_000,
      "the acknowledgement committed",
    );
    const tlog = openTlogForCli(loadConfig(t.configFile));
    try {
      const logged: { type: string; data: Record<string, unknown> }[] = [];
      scanLoggedEvents(tlog.db, tlog.records.keys, (e) => logged.push({ type: e.type, data: { ...e.data } }));
      const acked = logged.find((e) => e.type === "alert_acknowledged" && e.data.alert_id === raise.alert_id);
      assert.deepEqual([acked?.data.by, acked?.data.via], ["nurse.jane", STATION]);
      const added = logged.find((e) => e.type === "user_added" && e.data.user === "nurse.jane");
      assert.deepEqual(
        [added?.data.role, added?.data.by, added?.data.via, added?.data.reason],
        ["nurse", "ward.admin", "cli", "ward 7 staff"],
      );
      const disabled = logged.find((e) => e.type === "user_disabled");
      assert.deepEqual([disabled?.data.user, disabled?.data.reason], ["nurse.eve", "left the ward"]);
    } finally {
      tlog.close();
    }
    const audit = await runCli(auditCommand, ["--config", t.configFile, "--json"]);
    const report = JSON.parse(audit.text) as {
      ok: boolean;
      findings: unknown[];
      tables: { table: string; rows: number; verified: number }[];
    };
    assert.deepEqual([audit.code, report.findings], [0, []]);
    assert.deepEqual(
      report.tables.find((x) => x.table === "users"),
      { table: "users", rows: 5, verified: 5, pending: 0, erased: 0 },
    );
  });

  it("acknowledges by a unique prefix of the alert id, from a station and from the CLI", async () => {
    t.nextAlertIds.push("e7553221-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "e7553221-bbbb-4bbb-8bbb-bbbbbbbbbbbb");
    const a = await raiseOn("cuff-prefix-a");
    const b = await raiseOn("cuff-prefix-b");
    assert.deepEqual(
      [a.alert_id, b.alert_id],
      ["e7553221-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "e7553221-bbbb-4bbb-8bbb-bbbbbbbbbbbb"],
    );
    const cli = await runCli(alertsCommand, [
      "ack",
      "E7553221-A",
      "--by",
      "nurse.jane",
      "--config",
      t.configFile,
    ]);
    assert.equal(cli.code, 0, cli.text);
    assert.equal(JSON.parse(cli.text).alert.alert_id, a.alert_id);
    const acked = await station.next((m) => m.transition === "acknowledge" && m.alert_id === a.alert_id);
    assert.deepEqual([acked.by, acked.via], ["nurse.jane", "cli"]);
    const silence = await station.command("silence", { alert_id: "e7553221-b", by: "nurse.jane" });
    assert.deepEqual([silence.ok, (silence.alert as { alert_id: string }).alert_id], [true, b.alert_id]);
    assert.equal(stateOf(b.alert_id), "silenced");
    const none = await station.command("ack", { alert_id: "ffffffff", by: "nurse.jane" });
    assert.equal(none.error, "unknown_alert");
  });

  it("refuses an ambiguous prefix, naming only how many alerts it matches", async () => {
    const ambiguousBefore = refused("ack", "ambiguous_alert");
    t.nextAlertIds.push("5eed0001-0000-4000-8000-00000000000c", "5eed0001-0000-4000-8000-00000000000d");
    const c = await raiseOn("cuff-ambiguous-c");
    const d = await raiseOn("cuff-ambiguous-d");
    const reply = await station.command("ack", { alert_id: "5eed0001", by: "nurse.jane" });
    assert.deepEqual([reply.ok, reply.error], [false, "ambiguous_alert"]);
    assert.equal(reply.detail, "2 active alerts start with 5eed0001: give more of the id");
    // nothing about the candidates: neither their ids nor their patients
    assert.equal(reply.alert, undefined);
    assert.doesNotMatch(JSON.stringify(reply), /pt-|cuff-|00000000000[cd]/);
    assert.deepEqual([stateOf(c.alert_id), stateOf(d.alert_id)], ["raised", "raised"]);
    const cli = await runCli(alertsCommand, [
      "ack",
      "5eed0001-",
      "--by",
      "nurse.jane",
      "--config",
      t.configFile,
    ]);
    assert.deepEqual([cli.code, JSON.parse(cli.text).error], [1, "ambiguous_alert"]);
    assert.equal(refused("ack", "ambiguous_alert"), ambiguousBefore + 2);
    // a prefix too short to be one is no alert's id
    const short = await station.command("ack", { alert_id: "5eed0", by: "nurse.jane" });
    assert.equal(short.error, "unknown_alert");
  });
});
