/**
 * At start-up the gateway takes back its open alerts and the last day's NEWS2 entries. Someone with the
 * stopped gateway's database forges an alarm, deletes a live one, rewrites who acknowledged another, or
 * forges a clinician's entry. The gateway restores what the log's events support, reports every row that
 * disagrees (error log, counter, a failing /healthz check naming the rows) and keeps alerting.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type Database from "better-sqlite3";
import type { Gateway } from "../../src/app/gateway.js";
import { tempDir } from "../helpers/gateway.js";
import { buildWardState, tamperedCopy, type WardState, withGateway } from "./tamper-fixture.js";

const FORGED = "01FORGEDALERT0000000000000";

/** What a restarted gateway shows: its open alerts, the restore check and counter, pt-a's ACVPU. */
function seen(gw: Gateway) {
  const { engine } = gw.rules;
  const problem = gw.health.report().problems.find((p) => p.check === "restored_state")?.problem;
  const consciousness = engine.news2("pt-a").parameters.find((p) => p.parameter === "consciousness")?.raw;
  return {
    open: new Map(engine.activeAlerts().map((a) => [a.alert_id, a])),
    problem,
    counted: (table: string) => gw.metrics.value("vitalog_restore_discrepancies_total", { table }) ?? 0,
    consciousness,
  };
}

describe("alert state restored at start-up is checked against the log", () => {
  const root = tempDir("vitalog-tamper-restore-");
  let base: WardState;
  let n = 0;
  after(() => rmSync(root, { recursive: true, force: true }));
  before(async () => {
    base = await buildWardState(`${root}/base`);
  });
  const copy = (tamper: (db: Database.Database) => void) => tamperedCopy(base, `case-${n++}`, tamper);
  const ids = () => ({ a: base.raised.get("pt-a")!.alert_id, b: base.raised.get("pt-b")!.alert_id });

  it("an untouched database restores both open alerts and the NEWS2 entries, with nothing to report", async () => {
    await withGateway(
      copy(() => {}),
      async (gw) => {
        const s = seen(gw);
        const { a, b } = ids();
        assert.deepEqual(
          [s.open.get(a)?.state, s.open.get(a)?.acknowledged_by, s.open.get(b)?.state],
          ["acknowledged", "nurse-ann", "silenced"],
        );
        assert.equal(s.problem, undefined);
        assert.equal(s.counted("alerts"), 0);
        assert.equal(s.consciousness, "A");
      },
    );
  });

  it("a forged open alarm is not restored; /healthz and the counter name it", async () => {
    const cfg = copy((db) => {
      const row = db.prepare("SELECT snapshot FROM alerts WHERE alert_id = ?").pluck().get(ids().a) as string;
      const forged = {
        ...JSON.parse(row),
        alert_id: FORGED,
        condition: "pt-c:threshold.bp_systolic.low",
        subject_id: "pt-c",
        state: "raised",
        acknowledged_by: null,
      };
      db.prepare(
        `INSERT INTO alerts (alert_id, state, priority, subject_id, raised_at_ms, updated_at_ms, snapshot)
         VALUES (?, 'raised', 'high', 'pt-c', ?, ?, ?)`,
      ).run(FORGED, forged.raised_at_ms, forged.at_ms, JSON.stringify(forged));
    });
    await withGateway(cfg, async (gw) => {
      const s = seen(gw);
      assert.equal(s.open.has(FORGED), false, "the forged row is no live alarm");
      assert.equal(s.open.size, 2, "the genuine alarms are restored");
      assert.equal(s.counted("alerts"), 1);
      assert.match(
        s.problem ?? "",
        new RegExp(
          `1 stored row\\(s\\) disagreed with the log.*alerts ${FORGED}: open in the table but not in the log`,
        ),
      );
    });
  });

  it("a live alarm's row deleted and another's acknowledgement rewritten: both restored as logged, both named", async () => {
    const { a, b } = ids();
    const cfg = copy((db) => {
      db.prepare("DELETE FROM alerts WHERE alert_id = ?").run(b);
      const snap = JSON.parse(
        db.prepare("SELECT snapshot FROM alerts WHERE alert_id = ?").pluck().get(a) as string,
      );
      db.prepare("UPDATE alerts SET snapshot = ? WHERE alert_id = ?").run(
        JSON.stringify({ ...snap, acknowledged_by: "nurse-mallory" }),
        a,
      );
    });
    await withGateway(cfg, async (gw) => {
      const s = seen(gw);
      assert.equal(s.open.get(b)?.state, "silenced", "the deleted alarm is back");
      assert.equal(s.open.get(a)?.acknowledged_by, "nurse-ann", "who acknowledged, as logged");
      assert.equal(s.counted("alerts"), 2);
      assert.match(
        s.problem ?? "",
        new RegExp(`alerts ${a}: its row differs from its last logged transition`),
      );
      assert.match(
        s.problem ?? "",
        new RegExp(`alerts ${b}: open in the log but missing or resolved in the table`),
      );
    });
  });

  it("a forged clinician's entry is not replayed into NEWS2; /healthz names its row", async () => {
    let rowId = 0;
    const cfg = copy((db) => {
      const now = Date.now();
      rowId = Number(
        db
          .prepare(
            `INSERT INTO clinician_observations (subject_id, entered_by, via, observed_at_ms, entered_at_ms,
               supplemental_oxygen, acvpu, spo2_scale) VALUES ('pt-a', 'dr-cho', 'station-1', ?, ?, NULL, 'U', NULL)`,
          )
          .run(now, now).lastInsertRowid,
      );
    });
    await withGateway(cfg, async (gw) => {
      const s = seen(gw);
      assert.equal(s.consciousness, "A", "the logged entry, not the forged one");
      assert.equal(s.counted("clinician_observations"), 1);
      assert.match(s.problem ?? "", new RegExp(`clinician_observations ${rowId}: entry not in the log`));
    });
  });
});
