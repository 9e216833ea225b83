/**
 * The alert tables' commit writer across the commit thread: a durable sink's delivery that ends while the
 * commit of its transition runs (after `prepare` took its snapshot, before the outbox row exists) is still
 * recorded, so the message is not sent again after a restart. Real SQLite file, real worker thread.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CommitThread } from "../../src/batcher/commit-thread.js";
import { openDatabase } from "../../src/db.js";
import { createLogger } from "../../src/log.js";
import { MIGRATIONS } from "../../src/migrations.js";
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
});
