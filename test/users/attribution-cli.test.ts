/**
 * Who acted, and through what, from the gateway host's CLI: an acknowledgement or a silence from `vitalog
 * alerts` goes through the daemon's control socket and is recorded `via: "cli"` (a consumer's credential is
 * used only with `--as`); every state-changing command's `--by` is a user the gateway vouches for whose role
 * permits the action, refused with its reason and counted by the running daemon otherwise; and the daemon
 * acts on the users it verified against the log, not on the table as it finds it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { alertsCommand } from "../../src/cli/alerts.js";
import { devicesCommand } from "../../src/cli/devices.js";
import { subjectsCommand } from "../../src/cli/subjects.js";
import { usersCommand } from "../../src/cli/users.js";
import {
  type AttributionGateway,
  runCli,
  STATION,
  type Station,
  startAttributionGateway,
} from "../rules/attribution-fixture.js";

const REFUSED = "vitalog_commands_refused_total";

describe("attribution of CLI commands on the gateway host", () => {
  let t: AttributionGateway;
  let station: Station;
  const cli = (command: typeof usersCommand, ...argv: string[]) =>
    runCli(command, [...argv, "--config", t.configFile]);
  const raiseOn = async (deviceId: string) => {
    const dev = await t.device(deviceId);
    await dev.send("bp_systolic", 60, "mm[Hg]");
    return station.next((m) => m.transition === "raise" && m.device_id === deviceId, `${deviceId}'s alarm`);
  };
  const refusal = (r: { code: number; text: string }) => [r.code, JSON.parse(r.text).error];
  /** Refusals counted by the daemon so far (tests share it: each asserts what it added). */
  const refused = (command: string, reason: string) => t.gw.metrics.value(REFUSED, { command, reason });

  before(async () => {
    t = await startAttributionGateway();
    station = await t.station();
    const add = (id: string, role: string, by: string) =>
      cli(usersCommand, "add", "--id", id, "--role", role, "--by", by);
    assert.equal((await add("ward.admin", "admin", "ward.admin")).code, 0);
    for (const [id, role] of [
      ["nurse.jane", "nurse"],
      ["nurse.zed", "nurse"],
      ["eng.eli", "clinical_engineer"],
    ] as const)
      assert.equal((await add(id, role, "ward.admin")).code, 0);
  });
  after(() => t.close());

  it("records a CLI acknowledgement via cli, not as the nurse station, and one sent --as a consumer as that consumer", async () => {
    const ghostBefore = refused("ack", "unknown_user");
    const raise = await raiseOn("cuff-cli");
    const r = await cli(alertsCommand, "ack", raise.alert_id.slice(0, 8), "--by", "nurse.jane");
    assert.equal(r.code, 0, r.text);
    const reply = JSON.parse(r.text);
    assert.equal(reply.ok, true);
    assert.deepEqual(
      [reply.alert.alert_id, reply.alert.rule_id, reply.alert.subject_id, reply.alert.reason],
      [raise.alert_id, raise.rule_id, "pt-cuff-cli", raise.reason],
    );
    const acked = await station.next((m) => m.transition === "acknowledge" && m.alert_id === raise.alert_id);
    assert.deepEqual([acked.by, acked.via], ["nurse.jane", "cli"]);
    // with --as, the CLI acts as that consumer, and is recorded so
    const other = await raiseOn("cuff-as");
    const as = await cli(alertsCommand, "silence", other.alert_id, "--by", "nurse.jane", "--as", STATION);
    assert.equal(as.code, 0, as.text);
    const silenced = await station.next((m) => m.transition === "silence" && m.alert_id === other.alert_id);
    assert.deepEqual([silenced.by, silenced.via], ["nurse.jane", STATION]);
    // a refusal through the control socket is counted like any other
    const ghost = await cli(alertsCommand, "ack", other.alert_id, "--by", "nurse.ghost");
    assert.deepEqual(
      [ghost.code, JSON.parse(ghost.text).error],
      [77, "unknown_user"],
      "EX_NOPERM, as users does",
    );
    assert.equal(refused("ack", "unknown_user"), ghostBefore + 1);
  });

  it("refuses user management by anyone but an enabled admin, a change of one's own role, and disabling the last admin", async () => {
    const reasons = [
      ["users_disable", "unknown_user"],
      ["users_role", "user_not_permitted"],
      ["users_role", "self_role_change"],
      ["users_disable", "last_admin"],
    ] as const;
    const before = reasons.map(([command, reason]) => refused(command, reason));
    assert.deepEqual(
      refusal(await cli(usersCommand, "disable", "--id", "nurse.jane", "--by", "nobody.at.all")),
      [77, "unknown_user"],
    );
    const selfPromotion = await cli(
      usersCommand,
      "role",
      "--id",
      "nurse.jane",
      "--role",
      "clinician",
      "--by",
      "nurse.jane",
    );
    assert.deepEqual(refusal(selfPromotion), [77, "user_not_permitted"]);
    const adminSelf = await cli(
      usersCommand,
      "role",
      "--id",
      "ward.admin",
      "--role",
      "nurse",
      "--by",
      "ward.admin",
    );
    assert.deepEqual(refusal(adminSelf), [77, "self_role_change"]);
    const lastAdmin = await cli(usersCommand, "disable", "--id", "ward.admin", "--by", "ward.admin");
    assert.deepEqual(refusal(lastAdmin), [77, "last_admin"]);
    assert.deepEqual(
      reasons.map(([command, reason]) => refused(command, reason)),
      before.map((n) => n + 1),
      "each refusal counted once",
    );
    const listed = (await cli(usersCommand, "list")).text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      listed.filter((u) => u.user_id === "nurse.jane" || u.user_id === "ward.admin").map((u) => u.role),
      ["nurse", "admin"],
    );
  });

  it("refuses device changes and erasure by users whose role does not permit them", async () => {
    // a device and subject of its own: nothing here depends on what an earlier test provisioned
    await t.device("cuff-roles");
    const addBefore = refused("devices_add", "user_not_permitted");
    const eraseBefore = refused("subjects_erase", "unknown_user");
    const dev = await cli(devicesCommand, "add", "--id", "wear-x", "--subject", "pt-x", "--by", "nurse.jane");
    assert.deepEqual(refusal(dev), [77, "user_not_permitted"]);
    const ghost = await cli(devicesCommand, "remove", "--id", "cuff-roles", "--by", "anyone");
    assert.deepEqual(refusal(ghost), [77, "unknown_user"]);
    const erase = await cli(subjectsCommand, "erase", "pt-cuff-roles", "--yes", "--by", "nobody.at.all");
    assert.deepEqual(refusal(erase), [77, "unknown_user"]);
    const engineerErases = await cli(subjectsCommand, "erase", "pt-cuff-roles", "--yes", "--by", "eng.eli");
    assert.deepEqual(refusal(engineerErases), [77, "user_not_permitted"]);
    assert.equal(refused("devices_add", "user_not_permitted"), addBefore + 1);
    assert.equal(refused("subjects_erase", "unknown_user"), eraseBefore + 1);
    // nothing changed: the device is still bound, the subject's record still there
    assert.equal(t.gw.registry.get("cuff-roles")?.subjectId, "pt-cuff-roles");
    assert.equal(t.gw.registry.get("wear-x"), undefined);
    const engineerAdds = await cli(
      devicesCommand,
      "add",
      "--id",
      "wear-y",
      "--subject",
      "pt-y",
      "--by",
      "eng.eli",
    );
    assert.equal(engineerAdds.code, 0, engineerAdds.text);
  });

  it("acts on the users it verified against the log: a row edited or inserted behind its back is unknown", async () => {
    const raise = await raiseOn("cuff-tamper");
    t.gw.db.prepare("INSERT INTO users VALUES ('ghost', 'nurse', NULL, 1, NULL, 0, 0)").run();
    t.gw.db.prepare("UPDATE users SET role = 'auditor' WHERE id = 'nurse.zed'").run();
    const ghost = await station.command("ack", { alert_id: raise.alert_id, by: "ghost" });
    assert.deepEqual([ghost.ok, ghost.error], [false, "unknown_user"]);
    // until told, the daemon still holds nurse.zed as the log made them
    const zed = await station.command("silence", { alert_id: raise.alert_id, by: "nurse.zed" });
    assert.equal(zed.ok, true, JSON.stringify(zed));
    // a legitimate change makes the daemon read the table again: the edited row no longer matches the log
    assert.equal(
      (await cli(usersCommand, "add", "--id", "nurse.amy", "--role", "nurse", "--by", "ward.admin")).code,
      0,
    );
    const after = await station.command("ack", { alert_id: raise.alert_id, by: "nurse.zed" });
    assert.deepEqual([after.ok, after.error], [false, "unknown_user"]);
    assert.equal(
      (await station.command("ack", { alert_id: raise.alert_id, by: "ghost" })).error,
      "unknown_user",
    );
    const amy = await station.command("ack", { alert_id: raise.alert_id, by: "nurse.amy" });
    assert.equal(amy.ok, true, JSON.stringify(amy));
  });
});
