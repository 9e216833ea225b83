/**
 * Someone with a copy of the gateway's database (none of its keys) edits the user store to act as someone,
 * or as nobody: promotes a user, re-enables a disabled one, inserts one, deletes one who acted, gives one a
 * password, drops the table. `vitalog audit` exits 70 and names the user and what differs from the log.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type Database from "better-sqlite3";
import { cli } from "../batcher/tlog-fixture.js";
import { tempDir } from "../helpers/gateway.js";
import { type AuditJson, audit, buildWardState, tamperedCopy, type WardState } from "./tamper-fixture.js";

const named = (r: AuditJson) => r.findings.filter((f) => f.table === "users").map((f) => [f.kind, f.ref]);
const detailOf = (r: AuditJson, ref: string) => r.findings.find((f) => f.ref === ref)?.detail ?? "";

describe("tampering with the user store: audit names the user", () => {
  const root = tempDir("vitalog-tamper-users-");
  let base: WardState;
  let n = 0;
  after(() => rmSync(root, { recursive: true, force: true }));
  before(async () => {
    // the ward's nurses and clinician acted through a station (tamper-fixture.ts); then, from the CLI, an
    // auditor is added, a nurse becomes charge nurse, and a nurse who left is disabled
    base = await buildWardState(`${root}/base`);
    const users = async (...argv: string[]) => {
      const r = await cli(["users", ...argv, "--config", base.configFile, "--by", "ward.admin"]);
      assert.equal(r.code, 0, r.stderr);
    };
    await users("add", "--id", "aud-ian", "--role", "auditor");
    await users("role", "--id", "nurse-bob", "--role", "charge_nurse", "--reason", "promoted");
    await users("add", "--id", "nurse-old", "--role", "nurse");
    await users("disable", "--id", "nurse-old", "--reason", "left the ward");
  });
  const copy = (tamper: (db: Database.Database) => void) => tamperedCopy(base, `case-${n++}`, tamper);

  it("audits the untouched user store clean, every row verified against the log", async () => {
    const report = await audit(base.configFile, 0);
    assert.deepEqual(report.findings, []);
    assert.deepEqual(
      report.tables.find((t) => t.table === "users"),
      { table: "users", rows: 6, verified: 6, pending: 0, erased: 0 },
    );
  });

  it("an auditor given a nurse's role: audit names the user and both roles", async () => {
    const cfg = copy((db) => db.prepare("UPDATE users SET role = 'nurse' WHERE id = 'aud-ian'").run());
    const report = await audit(cfg, 70);
    assert.deepEqual(named(report), [["user_mismatch", "aud-ian"]]);
    assert.match(detailOf(report, "aud-ian"), /role: logged "auditor", stored "nurse"/);
  });

  it("a promotion undone behind the gateway's back: audit names the logged role", async () => {
    const cfg = copy((db) => db.prepare("UPDATE users SET role = 'nurse' WHERE id = 'nurse-bob'").run());
    const report = await audit(cfg, 70);
    assert.deepEqual(named(report), [["user_mismatch", "nurse-bob"]]);
    assert.match(detailOf(report, "nurse-bob"), /role: logged "charge_nurse", stored "nurse"/);
  });

  it("a disabled user enabled again: audit names the user", async () => {
    const cfg = copy((db) => db.prepare("UPDATE users SET is_enabled = 1 WHERE id = 'nurse-old'").run());
    const report = await audit(cfg, 70);
    assert.deepEqual(named(report), [["user_mismatch", "nurse-old"]]);
    assert.match(detailOf(report, "nurse-old"), /logged disabled, stored enabled/);
  });

  it("a user inserted to act as: audit names the row without a logged addition", async () => {
    const cfg = copy((db) =>
      db
        .prepare(
          "INSERT INTO users (id, role, display_name, is_enabled, password_hash, created_at_ms, updated_at_ms) VALUES ('nurse-mallory', 'nurse', NULL, 1, NULL, 1, 1)",
        )
        .run(),
    );
    const report = await audit(cfg, 70);
    assert.deepEqual(named(report), [["user_mismatch", "nurse-mallory"]]);
    assert.match(detailOf(report, "nurse-mallory"), /no logged user_added: inserted/);
  });

  it("a user who acknowledged an alarm deleted: audit names the logged user without a row", async () => {
    const cfg = copy((db) => db.prepare("DELETE FROM users WHERE id = 'nurse-ann'").run());
    const report = await audit(cfg, 70);
    assert.deepEqual(named(report), [["user_mismatch", "nurse-ann"]]);
    assert.match(detailOf(report, "nurse-ann"), /logged user has no row: deleted/);
  });

  it("a password given to a user: audit names the credential that is not the logged one", async () => {
    const cfg = copy((db) =>
      db
        .prepare("UPDATE users SET password_hash = 'scrypt$16384$8$1$c2FsdA==$aGFzaA==' WHERE id = 'dr-cho'")
        .run(),
    );
    const report = await audit(cfg, 70);
    assert.deepEqual(named(report), [["user_mismatch", "dr-cho"]]);
    assert.match(detailOf(report, "dr-cho"), /credential \(password hash\) is not the logged one/);
  });

  it("the users table dropped: audit says it is missing while the log holds users", async () => {
    const cfg = copy((db) => db.exec("DROP TABLE users"));
    const report = await audit(cfg, 70);
    assert.deepEqual(named(report), [["table_unreadable", null]]);
    assert.match(report.findings[0]!.detail, /users table is missing, but the log holds 6 user\(s\)/);
  });
});
