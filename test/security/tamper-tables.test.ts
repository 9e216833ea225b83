/**
 * Someone with a copy of the gateway's database (none of its keys) edits what a person or a report relies
 * on: the log's map of leaves, who acknowledged an alert, the alert history, a clinician's ACVPU entry, a
 * device's binding. `vitalog audit` exits 70 and names each difference; what the gateway itself deleted
 * with a logged reason (an erasure) is not a finding.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { cli } from "../batcher/tlog-fixture.js";
import { spawnGateway, waitExit } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";
import {
  type AuditJson,
  audit,
  buildWardState,
  tamperedCopy,
  type WardState,
  withGateway,
} from "./tamper-fixture.js";

const kindsAndRefs = (r: AuditJson) => r.findings.map((f) => [f.kind, f.ref]);

describe("tampering with the tables audit covers: audit names the difference", () => {
  const root = tempDir("vitalog-tamper-tables-");
  let base: WardState;
  let n = 0;
  after(() => rmSync(root, { recursive: true, force: true }));
  before(async () => {
    base = await buildWardState(`${root}/base`);
  });
  const copy = (tamper: (db: Database.Database) => void) => tamperedCopy(base, `case-${n++}`, tamper);

  /** The map row holding leaf `leaf`, and the position of the leaf in it. */
  const mapRowOf = (db: Database.Database, leaf: number) => {
    const row = db
      .prepare("SELECT first_leaf, ids FROM tlog_reading_ids WHERE first_leaf <= ? ORDER BY first_leaf DESC")
      .get(leaf) as { first_leaf: number; ids: string };
    return { ...row, list: row.ids.split(","), at: leaf - row.first_leaf };
  };
  const setMapEntry = (db: Database.Database, leaf: number, id: string) => {
    const m = mapRowOf(db, leaf);
    m.list[m.at] = id;
    db.prepare("UPDATE tlog_reading_ids SET ids = ? WHERE first_leaf = ?").run(
      m.list.join(","),
      m.first_leaf,
    );
  };
  const leafOf = (db: Database.Database, id: string) =>
    db.prepare("SELECT leaf_index FROM readings WHERE id = ?").pluck().get(id) as number;

  it("the log's map of leaves names another stored reading at a leaf: audit names the reading that is there", async () => {
    const [victim, other] = [base.readings.get("cuff-1")![2]!, base.readings.get("cuff-2")![4]!];
    let leaf = -1;
    const cfg = copy((db) => {
      leaf = leafOf(db, victim);
      setMapEntry(db, leaf, other);
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref, f.leafIndex]),
      [["modified", victim, leaf]],
    );
    assert.match(report.findings[0]!.detail, /map of leaves names .* tlog_reading_ids modified/);
  });

  it("the log's map of leaves names a reading that does not exist: audit names the reading that is there", async () => {
    const victim = base.readings.get("cuff-2")![1]!;
    let leaf = -1;
    const cfg = copy((db) => {
      leaf = leafOf(db, victim);
      setMapEntry(db, leaf, "01NOSUCHREADING00000000000");
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref, f.leafIndex]),
      [["modified", victim, leaf]],
    );
  });

  /** The alert_events row of a transition of the subject's HIGH alert. */
  const transitionOf = (db: Database.Database, subject: string, transition: string) =>
    db
      .prepare("SELECT * FROM alert_events WHERE alert_id = ? AND transition = ?")
      .get(base.raised.get(subject)!.alert_id, transition) as Record<string, unknown> & {
      event_id: string;
      body: string;
    };

  it("who acknowledged an alert changed (column and message): audit names the transition and the change", async () => {
    let eventId = "";
    const cfg = copy((db) => {
      const ack = transitionOf(db, "pt-a", "acknowledge");
      eventId = ack.event_id;
      const body = JSON.parse(ack.body);
      body.by = "nurse-mallory";
      db.prepare("UPDATE alert_events SET by = ?, body = ? WHERE event_id = ?").run(
        "nurse-mallory",
        JSON.stringify(body),
        eventId,
      );
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(kindsAndRefs(report), [["alert_mismatch", eventId]]);
    assert.match(
      report.findings[0]!.detail,
      /acknowledge of alert .*by: logged "nurse-ann", stored "nurse-mallory"/,
    );
    assert.equal(report.findings[0]!.table, "alert_events");
  });

  it("when and through which station an alert was silenced changed: audit names both columns", async () => {
    let eventId = "";
    const cfg = copy((db) => {
      const silence = transitionOf(db, "pt-b", "silence");
      eventId = silence.event_id;
      db.prepare("UPDATE alert_events SET at_ms = at_ms - 600000, via = 'station-9' WHERE event_id = ?").run(
        eventId,
      );
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(kindsAndRefs(report), [["alert_mismatch", eventId]]);
    assert.match(
      report.findings[0]!.detail,
      /at_ms: logged \d+, stored \d+; via: logged "station-1", stored "station-9"/,
    );
  });

  it("only the stored message of a transition changed: audit names the transition", async () => {
    let eventId = "";
    const cfg = copy((db) => {
      const raise = transitionOf(db, "pt-a", "raise");
      eventId = raise.event_id;
      const body = JSON.parse(raise.body);
      body.reason = "nothing to see";
      db.prepare("UPDATE alert_events SET body = ? WHERE event_id = ?").run(JSON.stringify(body), eventId);
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(kindsAndRefs(report), [["alert_mismatch", eventId]]);
    assert.match(report.findings[0]!.detail, /message \(body\) differs/);
  });

  it("an alert's history deleted: audit names every deleted transition", async () => {
    const alertId = base.raised.get("pt-b")!.alert_id;
    let deleted: string[] = [];
    const cfg = copy((db) => {
      deleted = db
        .prepare("SELECT event_id FROM alert_events WHERE alert_id = ? ORDER BY row_id")
        .pluck()
        .all(alertId) as string[];
      db.prepare("DELETE FROM alert_events WHERE alert_id = ?").run(alertId);
    });
    assert.equal(deleted.length, 2, "raise and silence");
    const report = await audit(cfg, 70);
    assert.deepEqual(
      kindsAndRefs(report),
      deleted.map((id) => ["alert_mismatch", id]),
    );
    for (const f of report.findings) assert.match(f.detail, /has no alert_events row: deleted/);
  });

  it("an alert's current state changed, and another's row deleted: audit names both alerts", async () => {
    const [a, b] = [base.raised.get("pt-a")!.alert_id, base.raised.get("pt-b")!.alert_id];
    const cfg = copy((db) => {
      db.prepare("UPDATE alerts SET state = 'resolved' WHERE alert_id = ?").run(a);
      db.prepare("DELETE FROM alerts WHERE alert_id = ?").run(b);
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(
      kindsAndRefs(report).sort(),
      [
        ["alert_state_mismatch", a],
        ["alert_state_mismatch", b],
      ].sort(),
    );
    const byRef = new Map(report.findings.map((f) => [f.ref, f.detail]));
    assert.match(byRef.get(a)!, /state: logged "acknowledged", stored "resolved"/);
    assert.match(byRef.get(b)!, /has no alerts row: deleted/);
  });

  it("a forged alert (history row and current state): audit names both rows inserted", async () => {
    const cfg = copy((db) => {
      const raise = transitionOf(db, "pt-a", "raise");
      const body = {
        ...JSON.parse(raise.body),
        alert_id: "01FORGEDALERT0000000000000",
        event_id: "01FORGEDEVENT0000000000000",
      };
      db.prepare(
        `INSERT INTO alert_events (event_id, alert_id, transition, state, priority, category, rule_id, subject_id,
           device_id, at_ms, by, via, body) VALUES (?, ?, 'raise', 'raised', 'high', 'physiological', ?, 'pt-a', 'cuff-1', ?, NULL, NULL, ?)`,
      ).run(body.event_id, body.alert_id, body.rule_id, body.at_ms, JSON.stringify(body));
      db.prepare(
        `INSERT INTO alerts (alert_id, state, priority, subject_id, raised_at_ms, updated_at_ms, snapshot)
         VALUES (?, 'raised', 'high', 'pt-a', ?, ?, ?)`,
      ).run(body.alert_id, body.at_ms, body.at_ms, JSON.stringify(body));
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(kindsAndRefs(report), [
      ["alert_mismatch", "01FORGEDEVENT0000000000000"],
      ["alert_state_mismatch", "01FORGEDALERT0000000000000"],
    ]);
    assert.match(report.findings[0]!.detail, /has no logged transition: inserted/);
  });

  it("a clinician's ACVPU entry changed: audit names the row and the field", async () => {
    let rowId = 0;
    const cfg = copy((db) => {
      rowId = db
        .prepare("SELECT row_id FROM clinician_observations WHERE acvpu = 'V'")
        .pluck()
        .get() as number;
      db.prepare("UPDATE clinician_observations SET acvpu = 'A' WHERE row_id = ?").run(rowId);
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(kindsAndRefs(report), [["observation_mismatch", String(rowId)]]);
    assert.match(report.findings[0]!.detail, /acvpu: logged "V", stored "A"/);
  });

  it("a clinician's entry deleted, and one forged: audit names the logged entry and the forged row", async () => {
    let forged = 0;
    const cfg = copy((db) => {
      db.prepare("DELETE FROM clinician_observations WHERE acvpu = 'A'").run();
      forged = Number(
        db
          .prepare(
            `INSERT INTO clinician_observations (subject_id, entered_by, via, observed_at_ms, entered_at_ms,
               supplemental_oxygen, acvpu, spo2_scale) VALUES ('pt-c', 'dr-cho', 'station-1', 1, 1, NULL, 'U', NULL)`,
          )
          .run().lastInsertRowid,
      );
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.ref, f.leafIndex === null]),
      [
        ["observation_mismatch", null, false],
        ["observation_mismatch", String(forged), true],
      ],
    );
    assert.match(report.findings[0]!.detail, /logged entry by "dr-cho" .* has no row: deleted/);
    assert.match(report.findings[1]!.detail, /no logged clinician_observation: inserted/);
  });

  it("a device re-bound, re-keyed, added and removed in the table: audit names each device", async () => {
    const cfg = copy((db) => {
      db.prepare("UPDATE devices SET subject_id = 'pt-z' WHERE id = 'cuff-1'").run();
      const hash = db.prepare("SELECT password_hash FROM devices WHERE id = 'cuff-1'").pluck().get();
      db.prepare("UPDATE devices SET password_hash = ? WHERE id = 'cuff-2'").run(hash);
      db.prepare("UPDATE devices SET model = 'BP-999' WHERE id = 'cuff-3'").run();
      db.prepare(
        "INSERT INTO devices (id, subject_id, password_hash, model, created_at_ms, updated_at_ms) VALUES ('rogue-1', 'pt-a', ?, NULL, 1, 1)",
      ).run(hash);
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(kindsAndRefs(report), [
      ["device_mismatch", "cuff-1"],
      ["device_mismatch", "cuff-2"],
      ["device_mismatch", "cuff-3"],
      ["device_mismatch", "rogue-1"],
    ]);
    const [c1, c2, c3, rogue] = report.findings.map((f) => f.detail);
    assert.match(c1!, /subject: logged "pt-a", stored "pt-z"/);
    assert.match(c2!, /credential .* is not the logged one/);
    assert.match(c3!, /model: logged null, stored "BP-999"/);
    assert.match(rogue!, /no logged binding/);
  });

  it("a bound device's row deleted: audit names the device", async () => {
    const cfg = copy((db) => db.prepare("DELETE FROM devices WHERE id = 'cuff-3'").run());
    const report = await audit(cfg, 70);
    assert.deepEqual(kindsAndRefs(report), [["device_mismatch", "cuff-3"]]);
    assert.match(report.findings[0]!.detail, /logged binding has no device row: deleted/);
  });

  it("an erasure is no finding; an event shredded under cover of it is, and so is its orphaned row", async () => {
    const cfg = copy(() => {});
    // the gateway's own, logged path: unbind the subject's device, then erase the subject
    await withGateway(cfg, async (gw) => {
      assert.equal(await gw.registry.remove("cuff-1", Date.now(), { via: "cli", by: "ops-eve" }), true);
    });
    const erased = await cli(["subjects", "erase", "pt-a", "--config", cfg, "--yes", "--by", "ward.admin"]);
    assert.equal(erased.code, 0, erased.stderr);
    const purged = JSON.parse(erased.stdout).rows_purged;
    assert.deepEqual(
      [purged.alert_events, purged.alerts, purged.clinician_observations],
      [2, 1, 1],
      "pt-a's raise and acknowledgement, its alert and its entry are purged with the erasure",
    );
    const clean = await audit(cfg, 0);
    const erasedRows = new Map(clean.tables.map((t) => [t.table, t.erased]));
    assert.equal(erasedRows.get("alert_events"), 0, "no row of the erased subject is left");
    assert.equal(erasedRows.get("clinician_observations"), 0);

    // someone then shreds one of pt-b's events (its silence, the one before its NEWS2 entry) and files it
    // under the erased key, so that it looks erased
    const db = new Database(join(cfg, "..", "state", "vitalog.db"));
    let silence: { event_id: string; alert_id: string } | undefined;
    try {
      for (const t of db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .pluck()
        .all() as string[])
        db.exec(`DROP TRIGGER ${t}`);
      const erasedKey = db
        .prepare("SELECT key_id FROM tlog_subject_keys WHERE erased_at_ms IS NOT NULL")
        .pluck()
        .get() as number;
      silence = transitionOf(db, "pt-b", "silence") as unknown as typeof silence;
      const ptB = db
        .prepare(
          `SELECT ref FROM tlog_records WHERE key_id = (SELECT key_id FROM tlog_subject_keys WHERE subject_id = 'pt-b')
           ORDER BY leaf_index`,
        )
        .pluck()
        .all() as string[];
      db.prepare("UPDATE tlog_records SET key_id = ?, sealed = NULL WHERE ref = ?").run(
        erasedKey,
        ptB.at(-2),
      );
    } finally {
      db.close();
    }
    const report = await audit(cfg, 70);
    assert.deepEqual(kindsAndRefs(report), [
      ["alert_mismatch", silence!.event_id],
      ["alert_state_mismatch", silence!.alert_id],
      ["erasure_mismatch", report.findings[2]!.ref],
    ]);
    assert.match(
      report.findings[2]!.detail,
      /the erasure logged (\d+) record\(s\) shredded, .*; the log now holds \d+/,
    );
    assert.match(report.findings[1]!.detail, /state: logged "raised", stored "silenced"/);
  });

  it("a running gateway's database: audit names an acknowledgement changed while the gateway runs", async () => {
    let eventId = "";
    const cfg = copy(() => {});
    writeFileSync(cfg, readFileSync(cfg, "utf8").replace("level: silent", "level: info"));
    const { child } = await spawnGateway(cfg);
    try {
      const db = new Database(join(cfg, "..", "state", "vitalog.db"));
      try {
        db.pragma("busy_timeout = 5000");
        const ack = transitionOf(db, "pt-a", "acknowledge");
        eventId = ack.event_id;
        db.prepare("UPDATE alert_events SET by = 'nurse-mallory' WHERE event_id = ?").run(eventId);
      } finally {
        db.close();
      }
      const report = await audit(cfg, 70);
      assert.deepEqual(kindsAndRefs(report), [["alert_mismatch", eventId]]);
    } finally {
      child.kill("SIGTERM");
    }
    assert.deepEqual(await waitExit(child), { code: 0, signal: null });
  });
});
