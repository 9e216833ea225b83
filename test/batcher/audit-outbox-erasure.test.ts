/**
 * `vitalog audit` on what the alarm record keeps beside the log (a real gateway with a webhook that is down, a
 * real SQLite file, the `vitalog` commands run in-process on copies of its state): the durable sinks' outbox is
 * compared with the logged transitions (a pending message deleted or altered by hand is named); an erasure does
 * not hide a patient's limits or rules in force deleted or changed before it; and a limit row or an outbox message
 * naming an erased patient, or the erased patient's rules-in-force row changed, is named afterwards.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { auditCommand } from "../../src/cli/audit.js";
import { devicesCommand } from "../../src/cli/devices.js";
import { rulesCommand } from "../../src/cli/rules.js";
import { subjectsCommand } from "../../src/cli/subjects.js";
import { GatewayError } from "../../src/errors.js";
import { tempDir, writeSecret } from "../helpers/gateway.js";
import { addUsers } from "../helpers/users.js";
import { type AlertTestGateway, type Station, startAlertGateway } from "../rules/alert-helpers.js";

/** The patient whose messages stay pending, and the one who is erased (ids nothing else contains). */
const PENDING = "pt-outbox-a";
const ERASED = "pt-outbox-erased-b";
/** Nothing listens there: every webhook message stays pending in the outbox. */
const DOWN_URL = "http://127.0.0.1:9/hook";

type Cli = (argv: string[], out: NodeJS.WritableStream) => Promise<number>;

async function run(command: Cli, argv: string[]): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => {
    text += d.toString();
  });
  try {
    return { code: await command(argv, out), text };
  } catch (err) {
    if (err instanceof GatewayError) return { code: err.exitCode, text: `${err.code}: ${err.message}` };
    throw err;
  }
}

interface Finding {
  kind: string;
  table: string;
  ref: string | null;
  detail: string;
}

describe("the audit of the outbox and of what an erasure purges", () => {
  const work = tempDir("vitalog-audit-outbox-");
  const secret = writeSecret(work, "webhook.key", "webhook-secret-0123456789");
  let t: AlertTestGateway;
  let station: Station;
  let copies = 0;

  /** A copy of the stopped gateway's state, and a CLI config file for it (with the webhook configured). */
  function copy(): { cfg: string; db: string } {
    const dir = join(work, `copy-${++copies}`);
    mkdirSync(dir);
    cpSync(t.dir, join(dir, "state"), { recursive: true });
    const cfg = join(dir, "cli.yaml");
    writeFileSync(
      cfg,
      `gateway: { id: test-gw, origin: ${t.gw.config.gateway.origin}, stateDir: ${join(dir, "state")} }\n` +
        `log: { level: silent }\nalerts: { webhook: { url: "${DOWN_URL}", secretFile: ${secret} } }\n`,
    );
    return { cfg, db: join(dir, "state", "vitalog.db") };
  }

  async function audit(cfg: string): Promise<{ code: number; findings: Finding[] }> {
    const r = await run(auditCommand, ["--config", cfg, "--json"]);
    return { code: r.code, findings: JSON.parse(r.text).findings as Finding[] };
  }

  const erase = (cfg: string) =>
    run(subjectsCommand, ["erase", ERASED, "--config", cfg, "--yes", "--by", "adm.eve"]);

  function edit(db: string, sql: string, ...params: unknown[]): number {
    const d = new Database(db);
    try {
      return d.prepare(sql).run(...params).changes;
    } finally {
      d.close();
    }
  }

  before(async () => {
    t = await startAlertGateway({
      alerts: { webhook: { url: DOWN_URL, secretFile: secret } },
    } as never);
    await addUsers(t.gw.config, [
      { id: "adm.eve", role: "admin" },
      { id: "eng.bob", role: "clinical_engineer" },
    ]);
    station = await t.station();
    const cfg = join(work, "live.yaml");
    writeFileSync(
      cfg,
      `gateway: { id: test-gw, origin: ${t.gw.config.gateway.origin}, stateDir: ${t.dir} }\nlog: { level: silent }\n`,
    );
    const limits = await run(rulesCommand, [
      "set",
      "--config",
      cfg,
      "--subject",
      ERASED,
      "--vital",
      "spo2",
      "--low",
      "85:high:0",
      "--by",
      "dr.who",
      "--why",
      "chronic lung disease: target range agreed with the respiratory team",
    ]);
    assert.equal(limits.code, 0, limits.text);
    for (const [device, subject] of [
      ["cuff-a", PENDING],
      ["cuff-b", ERASED],
    ] as const) {
      await t.provision(device, subject);
      const client = await t.connect(device, `pw-${device}-secret`);
      await client.publishAsync(
        `vitalog/dev/${device}/json`,
        JSON.stringify({ readings: [{ kind: "bp_systolic", value: 60, unit: "mm[Hg]" }] }),
        { qos: 1 },
      );
      const raised = await station.next(
        (m) => m.subject_id === subject && m.transition === "raise",
        `${subject}'s alarm`,
      );
      // a second transition, so that one pending message can be deleted and another altered
      const ack = await station.command("ack", { alert_id: raised.alert_id, by: "nurse.jane" });
      assert.equal(ack.ok, true, JSON.stringify(ack));
    }
    const removed = await run(devicesCommand, [
      "remove",
      "--config",
      cfg,
      "--id",
      "cuff-b",
      "--by",
      "eng.bob",
    ]);
    assert.equal(removed.code, 0, removed.text);
    await t.gw.commitBarrier();
    await t.gw.stop();
  });
  after(async () => {
    await t.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("is clean with the webhook's messages pending, and names each pending message deleted or altered by hand", async () => {
    const { cfg, db } = copy();
    assert.deepEqual(await audit(cfg), { code: 0, findings: [] });
    const d = new Database(db);
    let deleted: string[];
    let altered: string;
    try {
      const pending = d
        .prepare(
          `SELECT event_id FROM alert_outbox WHERE sink = 'alerts_webhook' AND delivered_at_ms IS NULL
             AND json_extract(body, '$.subject_id') = ? ORDER BY row_id`,
        )
        .pluck()
        .all(PENDING) as string[];
      assert.ok(pending.length >= 2, "the patient's messages are pending");
      deleted = pending.slice(0, -1);
      altered = pending.at(-1)!;
      for (const id of deleted) d.prepare("DELETE FROM alert_outbox WHERE event_id = ?").run(id);
      d.prepare("UPDATE alert_outbox SET body = json_set(body, '$.priority', 'low') WHERE event_id = ?").run(
        altered,
      );
    } finally {
      d.close();
    }
    const { code, findings } = await audit(cfg);
    assert.equal(code, 70);
    assert.deepEqual(
      findings.map((f) => [f.kind, f.table, f.ref]).sort(),
      [...deleted, altered].map((id) => ["outbox_mismatch", "alert_outbox", `alerts_webhook ${id}`]).sort(),
    );
    assert.match(
      findings.find((f) => f.ref === `alerts_webhook ${deleted[0]}`)!.detail,
      /has no alerts_webhook outbox row: deleted/,
    );
    assert.match(findings.find((f) => f.ref === `alerts_webhook ${altered}`)!.detail, /body\) differs/);
  });

  it("names a patient's limit deleted before the erasure", async () => {
    const { cfg, db } = copy();
    assert.equal(edit(db, "DELETE FROM subject_limits WHERE subject_id = ?", ERASED), 1);
    const erased = await erase(cfg);
    assert.equal(erased.code, 0, erased.text);
    const { code, findings } = await audit(cfg);
    assert.equal(code, 70);
    assert.deepEqual(
      findings.map((f) => [f.kind, f.table]),
      [["erasure_mismatch", "subject_limits"]],
    );
    assert.match(findings[0]!.detail, /1 deleted or changed before the erasure/);
  });

  it("names a patient's limit changed before the erasure", async () => {
    const { cfg, db } = copy();
    assert.equal(
      edit(db, "UPDATE subject_limits SET changed_by = 'dr.nobody' WHERE subject_id = ?", ERASED),
      1,
    );
    assert.equal((await erase(cfg)).code, 0);
    const { findings } = await audit(cfg);
    assert.deepEqual(
      findings.map((f) => [f.kind, f.table]),
      [["erasure_mismatch", "subject_limits"]],
    );
  });

  it("names a patient's rules in force changed before the erasure", async () => {
    const { cfg, db } = copy();
    assert.equal(
      edit(
        db,
        "UPDATE rules_in_force SET state = ? WHERE scope LIKE 'subject:%'",
        `sha256:${"0".repeat(64)}`,
      ),
      1,
    );
    assert.equal((await erase(cfg)).code, 0);
    const { findings } = await audit(cfg);
    assert.deepEqual(
      findings.map((f) => [f.kind, f.table]),
      [["erasure_mismatch", "rules_in_force"]],
    );
  });

  it("is clean after an erasure, and names a limit row or an outbox message of the erased patient put back, and its rules in force changed", async () => {
    const { cfg, db } = copy();
    const d = new Database(db, { readonly: true });
    const limit = d.prepare("SELECT * FROM subject_limits WHERE subject_id = ?").get(ERASED) as Record<
      string,
      unknown
    >;
    const message = d
      .prepare("SELECT * FROM alert_outbox WHERE json_extract(body, '$.subject_id') = ? LIMIT 1")
      .get(ERASED) as Record<string, unknown>;
    d.close();
    assert.ok(limit !== undefined && message !== undefined);
    assert.equal((await erase(cfg)).code, 0);
    assert.deepEqual(await audit(cfg), { code: 0, findings: [] });

    edit(
      db,
      "INSERT INTO subject_limits (subject_id, vital, limits, changed_by, reason, changed_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
      limit.subject_id,
      limit.vital,
      limit.limits,
      limit.changed_by,
      limit.reason,
      limit.changed_at_ms,
    );
    edit(
      db,
      "INSERT INTO alert_outbox (sink, event_id, body, created_at_ms) VALUES (?, ?, ?, ?)",
      message.sink,
      message.event_id,
      message.body,
      message.created_at_ms,
    );
    edit(db, "UPDATE rules_in_force SET state = ? WHERE scope LIKE 'subject:%'", `sha256:${"0".repeat(64)}`);
    const { code, findings } = await audit(cfg);
    assert.equal(code, 70);
    assert.deepEqual(findings.map((f) => [f.kind, f.table]).sort(), [
      ["outbox_mismatch", "alert_outbox"],
      ["rules_in_force_mismatch", "rules_in_force"],
      ["subject_limits_mismatch", "subject_limits"],
    ]);
    for (const f of findings.filter((x) => x.table !== "rules_in_force"))
      assert.match(f.detail, /names an erased subject/);
  });
});
