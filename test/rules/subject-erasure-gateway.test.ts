/**
 * Alarms end with their patient, on a running gateway (real aedes broker on loopback, real SQLite file, the
 * `vitalog` commands run in-process against its control socket): removing a device resolves its technical alarm
 * at once with the reason and it is watched no more; erasing the subject resolves its escalating alarm, and after
 * that nothing of the subject is made, kept or published: no transition, no row, no retained topic, no copy of
 * the id in the database file or its WAL; a binding to the erased id and an entry for it are refused; the audit is
 * clean, and still names a deletion made by hand, before an erasure or after it. A device the config file declares
 * for an erased subject is not bound, and the gateway still starts.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { Gateway } from "../../src/app/gateway.js";
import { auditCommand } from "../../src/cli/audit.js";
import { devicesCommand } from "../../src/cli/devices.js";
import { subjectsCommand } from "../../src/cli/subjects.js";
import { systemClock } from "../../src/clock.js";
import { parseConfig } from "../../src/config.js";
import { GatewayError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { tempDir, waitFor, writeSecret } from "../helpers/gateway.js";
import { type AlertTestGateway, type Station, startAlertGateway, WALL } from "./alert-helpers.js";

/** Subject ids no other string in the database contains. */
const ERASED = "pt-erase-me-7";
const KEPT = "pt-kept-8";
const TAMPERED = "pt-tampered-9";

async function run(
  command: (argv: string[], out: NodeJS.WritableStream) => Promise<number>,
  argv: string[],
): Promise<{ code: number; text: string }> {
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

/** Every retained message the broker holds, by topic. */
async function retained(t: AlertTestGateway): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const stream = (
    (t.gw.mqtt.broker as unknown as { persistence: unknown }).persistence as {
      createRetainedStream(pattern: string): AsyncIterable<{ topic: string; payload: Buffer }>;
    }
  ).createRetainedStream("#");
  for await (const p of stream) out.set(p.topic, Buffer.from(p.payload).toString());
  return out;
}

describe("a subject erased during an active escalation, on a running gateway", () => {
  let t: AlertTestGateway;
  let station: Station;
  let cfg: string;
  let dbPath: string;
  const of = (subject: string) => () => station.events.filter((m) => m.subject_id === subject);

  before(async () => {
    t = await startAlertGateway({
      rules: {
        alarms: {
          // short rungs so that escalations come within the test; the defaults are 60 s and 120 s
          escalation: {
            high: [
              { afterSec: 1, recipient: "charge_nurse", raisePriority: false },
              { afterSec: 1, recipient: "rapid_response_team", raisePriority: false },
              { afterSec: 1, recipient: "duty_doctor", raisePriority: false },
            ],
            medium: [],
            low: [],
          },
          latchingPriorities: ["high"],
          clearHoldSec: 30,
        },
        technical: {
          // silent after 1 s without a frame, so the device-scoped alarm comes at once
          silentDevice: {
            enabled: true,
            defaultExpectedIntervalSec: 1,
            missedIntervals: 1,
            priority: "medium",
          },
        },
      },
    } as never);
    station = await t.station();
    cfg = join(t.dir, "cli.yaml");
    dbPath = t.gw.config.storage.path!;
    writeFileSync(
      cfg,
      `gateway: { id: test-gw, origin: ${t.gw.config.gateway.origin}, stateDir: ${t.dir} }\nlog: { level: silent }\n`,
    );
  });
  after(() => t.close());

  it("ends the removed device's alarm and the erased patient's escalation, and keeps the other patient's", async () => {
    await t.provision("cuff-e", ERASED);
    const cuffE = await t.connect("cuff-e", "pw-cuff-e-secret");
    await cuffE.publishAsync(
      "vitalog/dev/cuff-e/json",
      JSON.stringify({ readings: [{ kind: "bp_systolic", value: 60, unit: "mm[Hg]" }] }),
      { qos: 1 },
    );
    const raised = await station.next(
      (m) => m.subject_id === ERASED && m.rule_id.startsWith("threshold") && m.transition === "raise",
      "the erased patient's HIGH alarm",
    );
    await station.next(
      (m) => m.alert_id === raised.alert_id && m.transition === "escalate" && m.recipient === "charge_nurse",
      "its first escalation",
    );
    const silent = await station.next(
      (m) => m.device_id === "cuff-e" && m.rule_id === "technical.device_silent" && m.transition === "raise",
      "the device-silent alarm",
    );
    const entry = await station.command("observe", { subject_id: ERASED, by: "nurse.amy", acvpu: "A" });
    assert.equal(entry.ok, true, JSON.stringify(entry));

    // the other patient: a HIGH alarm of their own that must go on escalating
    await t.provision("cuff-k", KEPT);
    const cuffK = await t.connect("cuff-k", "pw-cuff-k-secret");
    await cuffK.publishAsync(
      "vitalog/dev/cuff-k/json",
      JSON.stringify({ readings: [{ kind: "bp_systolic", value: 60, unit: "mm[Hg]" }] }),
      { qos: 1 },
    );
    const kept = await station.next(
      (m) => m.subject_id === KEPT && m.rule_id.startsWith("threshold") && m.transition === "raise",
      "the other patient's alarm",
    );

    const removed = await run(devicesCommand, [
      "remove",
      "--config",
      cfg,
      "--id",
      "cuff-e",
      "--by",
      "clin.eng",
    ]);
    assert.equal(removed.code, 0, removed.text);
    const ended = await station.next(
      (m) => m.alert_id === silent.alert_id && m.transition === "resolve",
      "the device alarm's resolution",
    );
    assert.equal(ended.reason, "device removed");
    assert.equal(ended.state, "resolved");

    const erased = await run(subjectsCommand, [
      "erase",
      ERASED,
      "--config",
      cfg,
      "--yes",
      "--by",
      "dpo.kate",
    ]);
    assert.equal(erased.code, 0, erased.text);
    const result = JSON.parse(erased.text);
    assert.equal(result.daemon, "notified");
    assert.ok(result.resolved >= 1, erased.text);
    assert.ok(result.rows_purged.alert_events >= 4, erased.text);
    assert.equal(result.rows_purged.clinician_observations, 1);
    const end = station.events.find((m) => m.alert_id === raised.alert_id && m.transition === "resolve");
    assert.equal(end?.reason, "patient record erased");
    assert.equal(end?.by, "dpo.kate");
    const lastOfErased = of(ERASED)().length;

    // time passes: the other patient's alarm climbs two more rungs after the erasure
    const erasedAt = end!.at_ms;
    await station.next(
      (m) => m.alert_id === kept.alert_id && m.transition === "escalate" && m.recipient === "duty_doctor",
      "the other patient's third rung",
    );
    assert.ok(station.events.some((m) => m.alert_id === kept.alert_id && m.at_ms > erasedAt));
    assert.equal(of(ERASED)().length, lastOfErased, "no transition of the erased patient after the erasure");
    assert.equal(
      station.events.filter((m) => m.rule_id === "technical.device_silent" && m.subject_id === ERASED).length,
      2,
      "the device-silent alarm's raise and resolution, and no second one for a removed device",
    );
  });

  it("keeps no trace of the erased id in the tables, the retained topics or the database files", async () => {
    const db = new Database(dbPath, { readonly: true });
    try {
      for (const table of [
        "alert_events",
        "alerts",
        "clinician_observations",
        "subject_limits",
        "readings",
        "devices",
      ]) {
        const n = db.prepare(`SELECT COUNT(*) FROM ${table} WHERE subject_id = ?`).pluck().get(ERASED);
        assert.equal(n, 0, table);
      }
      const outbox = db
        .prepare("SELECT COUNT(*) FROM alert_outbox WHERE instr(body, ?) > 0")
        .pluck()
        .get(ERASED);
      assert.equal(outbox, 0, "alert_outbox");
      assert.ok(
        (db.prepare("SELECT COUNT(*) FROM alert_events WHERE subject_id = ?").pluck().get(KEPT) as number) >
          0,
      );
    } finally {
      db.close();
    }
    const topics = await retained(t);
    assert.ok(topics.has("vitalog/alerts/active"));
    for (const [topic, payload] of topics) {
      assert.ok(
        !topic.includes(ERASED) && !payload.includes(ERASED),
        `retained ${topic} names the erased subject`,
      );
    }
    assert.ok(
      topics.get("vitalog/alerts/active")!.includes(KEPT),
      "the other patient stays on the active set",
    );
    // a screen connecting now sees the active set without the erased patient
    const wall = await mqtt.connectAsync(t.url, {
      clientId: WALL,
      username: WALL,
      password: "wall-pw",
      reconnectPeriod: 0,
    });
    try {
      const got: string[] = [];
      wall.on("message", (_topic, payload) => got.push(payload.toString()));
      await wall.subscribeAsync("vitalog/alerts/active", { qos: 1 });
      await waitFor(() => got.length > 0, 5000, "the retained active set");
      assert.ok(!got[0]!.includes(ERASED));
    } finally {
      await wall.endAsync(true);
    }
    for (const file of [dbPath, `${dbPath}-wal`]) {
      if (!existsSync(file)) continue;
      assert.equal(readFileSync(file).includes(Buffer.from(ERASED)), false, `${file} holds the erased id`);
    }
  });

  it("refuses a binding to the erased id, an entry for it and a reading of it, and makes no key for it", async () => {
    const bind = await run(devicesCommand, [
      "add",
      "--config",
      cfg,
      "--id",
      "cuff-x",
      "--subject",
      ERASED,
      "--by",
      "clin.eng",
    ]);
    assert.notEqual(bind.code, 0, bind.text);
    assert.match(bind.text, /SUBJECT_ERASED/);
    assert.equal(t.gw.registry.get("cuff-x"), undefined);
    const entry = await station.command("observe", { subject_id: ERASED, by: "nurse.amy", acvpu: "V" });
    assert.deepEqual([entry.ok, entry.error], [false, "subject_erased"]);

    // a device bound to the erased id behind the registry's back: its frame is refused, named and counted
    await t.provision("cuff-z", KEPT);
    const edit = (subject: string) => {
      const db = new Database(dbPath);
      try {
        db.prepare("UPDATE devices SET subject_id = ? WHERE id = 'cuff-z'").run(subject);
      } finally {
        db.close();
      }
    };
    edit(ERASED);
    const cuffZ = await t.connect("cuff-z", "pw-cuff-z-secret");
    await cuffZ.publishAsync(
      "vitalog/dev/cuff-z/json",
      JSON.stringify({ readings: [{ kind: "spo2", value: 80, unit: "%" }] }),
      { qos: 1 },
    );
    await cuffZ.endAsync(true);
    edit(KEPT);
    assert.equal(
      t.gw.metrics.value("vitalog_rejections_total", { device: "cuff-z", reason: "subject_erased" }),
      1,
    );
    const db = new Database(dbPath, { readonly: true });
    try {
      assert.equal(
        db
          .prepare("SELECT COUNT(*) FROM rejections WHERE device_id = 'cuff-z' AND reason = 'subject_erased'")
          .pluck()
          .get(),
        1,
        "the refusal is on record, acknowledged like any other",
      );
      assert.equal(db.prepare("SELECT COUNT(*) FROM readings WHERE device_id = 'cuff-z'").pluck().get(), 0);
      assert.equal(
        db.prepare("SELECT COUNT(*) FROM tlog_subject_keys WHERE subject_id = ?").pluck().get(ERASED),
        0,
        "no key for the erased subject",
      );
    } finally {
      db.close();
    }
    assert.equal(
      station.events.some((m) => m.subject_id === ERASED && m.at_ms > 0 && m.rule_id.includes("spo2")),
      false,
      "no alarm from its SpO2 of 80 %",
    );
  });

  it("audits clean, names a row deleted by hand before an erasure, and one deleted after", async () => {
    // a third patient's transition deleted by hand, then the patient erased: the purge tells the two apart
    await t.provision("cuff-t", TAMPERED);
    const cuffT = await t.connect("cuff-t", "pw-cuff-t-secret");
    await cuffT.publishAsync(
      "vitalog/dev/cuff-t/json",
      JSON.stringify({ readings: [{ kind: "bp_systolic", value: 60, unit: "mm[Hg]" }] }),
      { qos: 1 },
    );
    const raised = await station.next(
      (m) => m.subject_id === TAMPERED && m.rule_id.startsWith("threshold") && m.transition === "escalate",
      "the third patient's escalation",
    );
    await t.gw.commitBarrier();
    assert.equal(
      (await run(devicesCommand, ["remove", "--config", cfg, "--id", "cuff-t", "--by", "clin.eng"])).code,
      0,
    );

    await t.gw.stop();
    const clean = await run(auditCommand, ["--config", cfg, "--json"]);
    assert.equal(clean.code, 0, clean.text);

    const db = new Database(dbPath);
    try {
      db.prepare("DELETE FROM alert_events WHERE event_id = ?").run(raised.event_id);
    } finally {
      db.close();
    }
    const erased = await run(subjectsCommand, [
      "erase",
      TAMPERED,
      "--config",
      cfg,
      "--yes",
      "--by",
      "dpo.kate",
    ]);
    assert.equal(erased.code, 0, erased.text);
    assert.equal(JSON.parse(erased.text).daemon, "not_running");
    const before = await run(auditCommand, ["--config", cfg, "--json"]);
    assert.equal(before.code, 70, before.text);
    const findings = JSON.parse(before.text).findings as { kind: string; table: string; detail: string }[];
    assert.deepEqual(
      findings.map((f) => [f.kind, f.table]),
      [["erasure_mismatch", "alert_events"]],
    );
    assert.match(findings[0]!.detail, /1 deleted before the erasure, outside it/);

    // a transition of the patient who was kept, deleted by hand after the erasure: named as ever
    const db2 = new Database(dbPath);
    let eventId: string;
    try {
      eventId = db2
        .prepare("SELECT event_id FROM alert_events WHERE subject_id = ? ORDER BY row_id LIMIT 1")
        .pluck()
        .get(KEPT) as string;
      db2.prepare("DELETE FROM alert_events WHERE event_id = ?").run(eventId);
    } finally {
      db2.close();
    }
    const after = await run(auditCommand, ["--config", cfg, "--json"]);
    assert.equal(after.code, 70);
    const refs = (JSON.parse(after.text).findings as { kind: string; ref: string }[]).map((f) => [
      f.kind,
      f.ref,
    ]);
    assert.deepEqual(
      refs.map(([kind]) => kind).sort(),
      ["alert_mismatch", "erasure_mismatch"],
      "the deletion after the erasure, and still the one before it",
    );
    assert.ok(refs.some(([kind, ref]) => kind === "alert_mismatch" && ref === eventId));
  });

  it("names a row an older erasure left, and purges it when the subject is erased again", async () => {
    const db = new Database(dbPath);
    try {
      db.prepare(
        `INSERT INTO alert_events (event_id, alert_id, transition, state, priority, category, rule_id, subject_id,
           device_id, at_ms, by, via, body) VALUES ('ev-left', 'al-left', 'raise', 'raised', 'high', 'physiological',
           'threshold.spo2.low', ?, NULL, 1, NULL, NULL, '{}')`,
      ).run(ERASED);
    } finally {
      db.close();
    }
    const found = await run(auditCommand, ["--config", cfg, "--json"]);
    const left = (JSON.parse(found.text).findings as { ref: string; detail: string }[]).find(
      (f) => f.ref === "ev-left",
    );
    assert.match(left?.detail ?? "", /names an erased subject/);
    const again = await run(subjectsCommand, ["erase", ERASED, "--config", cfg, "--yes", "--by", "dpo.kate"]);
    assert.equal(again.code, 0, again.text);
    const r = JSON.parse(again.text);
    assert.deepEqual([r.already_erased, r.rows_purged.alert_events, r.keys], [true, 1, 0]);
    const after = await run(auditCommand, ["--config", cfg, "--json"]);
    const refs = (JSON.parse(after.text).findings as { ref: string }[]).map((f) => f.ref);
    assert.equal(refs.includes("ev-left"), false);
    const nothingLeft = await run(subjectsCommand, [
      "erase",
      ERASED,
      "--config",
      cfg,
      "--yes",
      "--by",
      "dpo.kate",
    ]);
    assert.match(nothingLeft.text, /SUBJECT_ERASED/);
  });
});

describe("a device declared in the config file for an erased subject", () => {
  it("is not bound at start-up, and the gateway starts for everyone else", async () => {
    const dir = tempDir("vitalog-erased-config-");
    const base = {
      gateway: { id: "test-gw", origin: "test.vitalog.invalid/gw/test-gw", stateDir: dir },
      mqtt: { port: 0 },
      admin: { port: 0 },
      log: { level: "silent" },
    };
    const deps = { log: createLogger("silent"), clock: systemClock };
    try {
      const first = await Gateway.start(parseConfig(base, dir), deps);
      await first.registry.add({ id: "mon-1", subjectId: ERASED, password: "pw-mon-1-secret" }, Date.now());
      await first.registry.remove("mon-1", Date.now());
      await first.stop();
      const cfg = join(dir, "cli.yaml");
      writeFileSync(cfg, `gateway: { id: test-gw, origin: ${base.gateway.origin}, stateDir: ${dir} }\n`);
      const erased = await run(subjectsCommand, [
        "erase",
        ERASED,
        "--config",
        cfg,
        "--yes",
        "--by",
        "dpo.kate",
      ]);
      assert.equal(erased.code, 0, erased.text);

      const devices = [
        { id: "mon-1", subject: ERASED, passwordFile: writeSecret(dir, "mon-1.pw", "pw-mon-1-secret") },
        { id: "mon-2", subject: KEPT, passwordFile: writeSecret(dir, "mon-2.pw", "pw-mon-2-secret") },
      ];
      const second = await Gateway.start(parseConfig({ ...base, devices }, dir), deps);
      try {
        assert.equal(second.registry.get("mon-1"), undefined, "not bound to the erased subject");
        assert.equal(second.registry.get("mon-2")?.subjectId, KEPT);
        await assert.rejects(
          mqtt.connectAsync(`mqtt://127.0.0.1:${second.mqtt.port}`, {
            clientId: "mon-1",
            username: "mon-1",
            password: "pw-mon-1-secret",
            reconnectPeriod: 0,
          }),
          "nothing it sends is taken",
        );
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
