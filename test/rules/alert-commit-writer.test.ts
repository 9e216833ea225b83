/**
 * The alert tables' commit writer across the commit thread: a durable sink's delivery outcome, submitted as a
 * write command after its transition, is recorded whether it lands in the transition's commit or a later one,
 * so the message is not sent again after a restart; a command no writer applies fails alone; a write that
 * fails part-way leaves none of its rows, and the commit's readings are kept. Real SQLite file, real worker
 * thread.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { CommitThread } from "../../src/batcher/commit/commit-thread.js";
import { openDatabase } from "../../src/db.js";
import type { CommitBatch } from "../../src/drivers/ingest.js";
import { createLogger } from "../../src/log.js";
import { MIGRATIONS } from "../../src/migrations.js";
import type { Reading } from "../../src/reading.js";
import {
  ALERTS_WRITER,
  alertCommitWriter,
  type OutboxMarks,
} from "../../src/rules/sinks/alert-commit-writer.js";
import { type AlertMessage, toAuditEvent } from "../../src/rules/sinks/alert-message.js";
import { AlertStore } from "../../src/rules/sinks/alert-store.js";
import { tempDir } from "../helpers/gateway.js";
import { restorableAlert } from "./helpers.js";

const T0 = 1_763_700_000_000;

function transition(eventId: string): AlertMessage {
  return {
    ...restorableAlert(T0, { alert_id: `alert-${eventId}` }),
    v: 1,
    event_id: eventId,
    gateway_id: "gw",
    via: null,
    by: null,
    transition: "raise",
    at_ms: T0,
  };
}

describe("alert commit writer", () => {
  const dir = tempDir("vitalog-alert-writer-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("applies delivery outcomes submitted as write commands, in the transition's commit or a later one", async () => {
    const path = join(dir, "alerts.db");
    const db = openDatabase(path, MIGRATIONS);
    const store = new AlertStore(db);
    store.addParticipant({ name: "webhook" });
    const failures: string[] = [];
    const thread = new CommitThread(
      { dbPath: path, synchronous: "full", busyTimeoutMs: 25 },
      createLogger("silent"),
    );
    thread.addWriter(alertCommitWriter(store, (m) => failures.push(m)));
    const delivered = (eventId: string, atMs: number): CommitBatch => {
      const command: OutboxMarks = {
        type: "outbox_marks",
        marks: [{ sink: "webhook", eventId, outcome: { delivered: true, atMs, attempts: 1 } }],
      };
      return { readings: [], rejections: [], commands: [{ writer: ALERTS_WRITER, command }] };
    };
    const raised = (eventId: string): CommitBatch => ({
      readings: [],
      rejections: [],
      events: [toAuditEvent(transition(eventId))],
    });
    try {
      // delivered before its commit ran: the mark was submitted after the transition, in the same commit
      await thread.commit([raised("e-same"), delivered("e-same", T0 + 1)], T0);
      // delivered after its commit: the mark comes with a later one
      await thread.commit([raised("e-later"), raised("e-never")], T0);
      await thread.commit([delivered("e-later", T0 + 2)], T0);
      assert.deepEqual(
        store.pending("webhook").map((r) => r.eventId),
        ["e-never"],
        "only the undelivered message is sent again after a restart",
      );
      const row = db
        .prepare("SELECT delivered_at_ms, attempts FROM alert_outbox WHERE event_id = 'e-later'")
        .get();
      assert.deepEqual(row, { delivered_at_ms: T0 + 2, attempts: 1 });
      // a command for a writer that is not loaded is never dropped silently: its batch fails alone
      const out = await thread.commit(
        [raised("e-beside"), { readings: [], rejections: [], commands: [{ writer: "nobody", command: {} }] }],
        T0,
      );
      assert.deepEqual([...out.failed.keys()], [1]);
      assert.match(out.failed.get(1)!.message, /no commit writer named nobody/);
      assert.ok(
        store.pending("webhook").some((r) => r.eventId === "e-beside"),
        "the other batch committed",
      );
      assert.deepEqual(failures, []);
    } finally {
      await thread.close();
      db.close();
    }
  });

  it("leaves no row of an alert write that fails part-way, and commits the readings beside it", async () => {
    const path = join(dir, "partial.db");
    const db = openDatabase(path, MIGRATIONS);
    // the second transition's outbox row is refused: its event and alert rows, and all of the first
    // transition's rows, were written before it in the same write
    db.exec(`CREATE TRIGGER refuse_outbox BEFORE INSERT ON alert_outbox WHEN NEW.event_id = 'e-2'
      BEGIN SELECT RAISE(ABORT, 'outbox refused'); END`);
    const store = new AlertStore(db);
    store.addParticipant({ name: "webhook" });
    const failures: string[] = [];
    const thread = new CommitThread(
      { dbPath: path, synchronous: "full", busyTimeoutMs: 25 },
      createLogger("silent"),
    );
    thread.addWriter(alertCommitWriter(store, (m) => failures.push(m)));
    try {
      const out = await thread.commit(
        [
          { readings: [heartRate("r-1")], rejections: [] },
          {
            readings: [],
            rejections: [],
            events: [toAuditEvent(transition("e-1")), toAuditEvent(transition("e-2"))],
          },
        ],
        T0,
      );
      assert.equal(out.failed.size, 0, "an alert-table failure never fails the commit");
      assert.equal(failures.length, 1);
      assert.match(failures[0]!, /outbox refused/);
      const count = (table: string) => {
        const ro = new Database(path, { readonly: true });
        try {
          return ro.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get();
        } finally {
          ro.close();
        }
      };
      assert.deepEqual(
        ["alert_events", "alerts", "alert_outbox"].map(count),
        [0, 0, 0],
        "no transition without its outbox rows, no alert without its event",
      );
      assert.equal(count("readings"), 1);
    } finally {
      await thread.close();
      db.close();
    }
  });
});

function heartRate(id: string): Reading {
  return {
    id,
    deviceId: "cuff-1",
    subjectId: "patient-1",
    kind: "heart_rate",
    loinc: "8867-4",
    value: 72,
    unit: "/min",
    deviceTimeMs: T0,
    receivedAtMs: T0 + 5,
    observedAtMs: T0,
    seq: 1,
    flags: [],
    mdc: null,
  };
}
