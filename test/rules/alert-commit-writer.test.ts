/**
 * The alert tables' commit writer across the commit thread: a durable sink's delivery that ends while the
 * commit of its transition runs (after `prepare` took its snapshot, before the outbox row exists) is still
 * recorded, so the message is not sent again after a restart; a write that fails part-way leaves none of its
 * rows, and the commit's readings are kept. Real SQLite file, real worker thread.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { CommitThread } from "../../src/batcher/commit-thread.js";
import { openDatabase } from "../../src/db.js";
import { createLogger } from "../../src/log.js";
import { MIGRATIONS } from "../../src/migrations.js";
import type { Reading } from "../../src/reading.js";
import { alertCommitWriter } from "../../src/rules/sinks/alert-commit-writer.js";
import { type AlertMessage, toAuditEvent } from "../../src/rules/sinks/alert-message.js";
import { AlertStore, type OutboxOutcome } from "../../src/rules/sinks/alert-store.js";
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

  it("marks a delivery that finished while its transition's commit ran", async () => {
    const path = join(dir, "alerts.db");
    const db = openDatabase(path, MIGRATIONS);
    const store = new AlertStore(db);
    const outcomes = new Map<string, OutboxOutcome>();
    store.addParticipant({
      name: "webhook",
      outcomeOf: (id) => {
        const known = outcomes.get(id);
        // "e-during" is delivered right after the commit's snapshot looked it up (before its row exists)
        if (id === "e-during") outcomes.set(id, { delivered: true, atMs: T0 + 2, attempts: 1 });
        return known;
      },
    });
    const failures: string[] = [];
    const thread = new CommitThread(
      { dbPath: path, synchronous: "full", busyTimeoutMs: 25 },
      createLogger("silent"),
    );
    thread.addWriter(alertCommitWriter(store, (m) => failures.push(m)));
    try {
      // delivered before its commit started: written with the row
      outcomes.set("e-before", { delivered: true, atMs: T0 + 1, attempts: 1 });
      await thread.commit(
        [{ readings: [], rejections: [], events: [toAuditEvent(transition("e-before"))] }],
        T0,
      );
      // delivered while the commit runs: after prepare's snapshot, before the row exists
      await thread.commit(
        [{ readings: [], rejections: [], events: [toAuditEvent(transition("e-during"))] }],
        T0,
      );
      // not delivered at all: stays pending
      await thread.commit(
        [{ readings: [], rejections: [], events: [toAuditEvent(transition("e-never"))] }],
        T0,
      );
      assert.deepEqual(
        store.pending("webhook").map((r) => r.eventId),
        ["e-never"],
        "only the undelivered message is sent again after a restart",
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
    store.addParticipant({ name: "webhook", outcomeOf: () => undefined });
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
