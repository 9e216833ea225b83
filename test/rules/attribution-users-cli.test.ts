/**
 * `vitalog users add|list|role|disable|enable`, run as the real CLI on a real database: each change is in the
 * table and, in the same transaction, in the tamper-evident log with who made it and why; what is refused is
 * refused with its reason and changes nothing.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { scanLoggedEvents } from "../../src/batcher/tlog/audit-events.js";
import { openTlogForCli } from "../../src/batcher/tlog/open-tlog.js";
import { loadConfig } from "../../src/config.js";
import { cli } from "../batcher/tlog-fixture.js";
import { tempDir } from "../helpers/gateway.js";

describe("vitalog users", () => {
  const dir = tempDir("vitalog-users-cli-");
  const configFile = join(dir, "vitalog.yaml");
  const users = (...argv: string[]) => cli(["users", ...argv, "--config", configFile]);
  /** The user events in the log, in log order. */
  const loggedUserEvents = () => {
    const tlog = openTlogForCli(loadConfig(configFile));
    try {
      const events: { type: string; subject: string | null; data: Record<string, unknown> }[] = [];
      scanLoggedEvents(tlog.db, tlog.records.keys, (e) => {
        if (e.type.startsWith("user_"))
          events.push({ type: e.type, subject: e.subjectId, data: { ...e.data } });
      });
      return events;
    } finally {
      tlog.close();
    }
  };
  before(() => {
    mkdirSync(join(dir, "state"), { mode: 0o700 });
    writeFileSync(
      configFile,
      "gateway: { id: users-gw, origin: test.vitalog.invalid/gw/users-gw, stateDir: state }\nlog: { level: silent }\n",
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("adds the first admin of an empty store only as themselves, logged as the bootstrap", async () => {
    const other = await users("add", "--id", "ward.admin", "--role", "admin", "--by", "someone.else");
    assert.deepEqual([other.code, JSON.parse(other.stdout).error], [77, "unknown_user"]);
    const nurse = await users("add", "--id", "first.nurse", "--role", "nurse", "--by", "first.nurse");
    assert.deepEqual([nurse.code, JSON.parse(nurse.stdout).error], [77, "unknown_user"]);
    const first = await users("add", "--id", "ward.admin", "--role", "admin", "--by", "ward.admin");
    assert.equal(first.code, 0, first.stderr);
    const logged = loggedUserEvents();
    assert.deepEqual(
      logged.map((e) => [e.type, e.data.user, e.data.role, e.data.by, e.data.bootstrap]),
      [["user_added", "ward.admin", "admin", "ward.admin", true]],
    );
    // the store is no longer empty: the next admin is added by one
    const second = await users("add", "--id", "self.made", "--role", "admin", "--by", "self.made");
    assert.deepEqual([second.code, JSON.parse(second.stdout).error], [77, "unknown_user"]);
  });

  it("adds a user with a role and a name, lists it, and refuses the same id in another case", async () => {
    const added = await users(
      "add",
      "--id",
      "nurse.kim",
      "--role",
      "nurse",
      "--name",
      "Kim Lee",
      "--by",
      "ward.admin",
    );
    assert.equal(added.code, 0, added.stderr);
    const shown = JSON.parse(added.stdout);
    assert.deepEqual(
      [shown.user_id, shown.role, shown.display_name, shown.enabled],
      ["nurse.kim", "nurse", "Kim Lee", true],
    );
    const again = await users("add", "--id", "NURSE.KIM", "--role", "clinician", "--by", "ward.admin");
    assert.equal(again.code, 1);
    assert.match(again.stderr, /USER_EXISTS: user nurse\.kim already exists/);
    assert.equal((await users("add", "--id", "dr.ray", "--role", "clinician", "--by", "ward.admin")).code, 0);
    const list = await users("list");
    const listed = list.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      listed.map((u) => [u.user_id, u.role, u.enabled]),
      [
        ["dr.ray", "clinician", true],
        ["nurse.kim", "nurse", true],
        ["ward.admin", "admin", true],
      ],
    );
    const logged = loggedUserEvents().slice(1);
    assert.deepEqual(
      logged.map((e) => [e.type, e.subject, e.data.user, e.data.role, e.data.by, e.data.via]),
      [
        ["user_added", null, "nurse.kim", "nurse", "ward.admin", "cli"],
        ["user_added", null, "dr.ray", "clinician", "ward.admin", "cli"],
      ],
    );
    assert.deepEqual([logged[0]!.data.display_name, logged[0]!.data.credential], ["Kim Lee", null]);
  });

  it("logs a role change, a disable and an enable with who and why; a change to the same state logs nothing", async () => {
    const before = loggedUserEvents().length;
    const role = await users(
      "role",
      "--id",
      "nurse.kim",
      "--role",
      "charge_nurse",
      "--by",
      "ward.admin",
      "--reason",
      "new post",
    );
    assert.equal(role.code, 0, role.stderr);
    assert.deepEqual([JSON.parse(role.stdout).role, JSON.parse(role.stdout).changed], ["charge_nurse", true]);
    const same = await users("role", "--id", "nurse.kim", "--role", "charge_nurse", "--by", "ward.admin");
    assert.equal(JSON.parse(same.stdout).changed, false);
    const off = await users("disable", "--id", "Nurse.Kim", "--by", "ward.admin", "--reason", "on leave");
    assert.deepEqual([JSON.parse(off.stdout).user_id, JSON.parse(off.stdout).enabled], ["nurse.kim", false]);
    assert.equal(
      JSON.parse((await users("disable", "--id", "nurse.kim", "--by", "ward.admin")).stdout).changed,
      false,
    );
    const on = await users("enable", "--id", "nurse.kim", "--by", "ward.admin", "--reason", "back");
    assert.equal(JSON.parse(on.stdout).enabled, true);
    const logged = loggedUserEvents().slice(before);
    assert.deepEqual(
      logged.map((e) => [e.type, e.data.user, e.data.by, e.data.reason]),
      [
        ["user_role_changed", "nurse.kim", "ward.admin", "new post"],
        ["user_disabled", "nurse.kim", "ward.admin", "on leave"],
        ["user_enabled", "nurse.kim", "ward.admin", "back"],
      ],
    );
    assert.deepEqual([logged[0]!.data.role, logged[0]!.data.former_role], ["charge_nurse", "nurse"]);
  });

  it("refuses an unknown user, an unknown role and a malformed id, changing nothing", async () => {
    const before = loggedUserEvents().length;
    const unknown = await users("disable", "--id", "nobody", "--by", "ward.admin");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /USER_UNKNOWN: no user nobody/);
    const role = await users("add", "--id", "matron.mo", "--role", "matron", "--by", "ward.admin");
    assert.equal(role.code, 64);
    assert.match(
      role.stderr,
      /--role must be one of nurse, charge_nurse, clinician, clinical_engineer, auditor, admin/,
    );
    assert.equal((await users("add", "--id", "bad id", "--role", "nurse", "--by", "ward.admin")).code, 64);
    assert.equal((await users("disable", "--by", "ward.admin")).code, 64);
    const badName = ["add", "--id", "x.y", "--role", "nurse", "--name", "a\u0007b", "--by", "ward.admin"];
    assert.equal((await users(...badName)).code, 64);
    assert.equal(loggedUserEvents().length, before);
    assert.equal((await users("list")).stdout.trim().split("\n").length, 3);
  });

  it("leaves a store that audits clean against the log", async () => {
    const r = await cli(["audit", "--config", configFile, "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as { tables: { table: string; rows: number; verified: number }[] };
    assert.deepEqual(
      report.tables.find((t) => t.table === "users"),
      { table: "users", rows: 3, verified: 3, pending: 0, erased: 0 },
    );
  });
});
