/**
 * The binding re-check inside the group commit, on real SQLite files: a frame stamped with a subject its
 * device is no longer bound to (re-bound or removed between stamping and commit) is never stored; one
 * acknowledged `binding_changed` rejection counting its readings stands in its place, and the other
 * devices' frames commit with consecutive log positions.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { CommitThread } from "../../src/batcher/commit/commit-thread.js";
import { BINDING_CHANGED } from "../../src/batcher/commit/commit-thread-protocol.js";
import { openDatabase } from "../../src/db.js";
import type { CommitBatch } from "../../src/drivers/ingest.js";
import { createLogger } from "../../src/log.js";
import { MIGRATIONS } from "../../src/migrations.js";
import type { Reading } from "../../src/reading.js";
import { tempDir } from "../helpers/gateway.js";

const log = createLogger("silent");
const T0 = 1_763_700_000_000;
const ECHO = new URL("../helpers/echo-commit-writer.js", import.meta.url).href;

/** A device frame of `count` readings; `first` is the device sequence number of its first one. */
function frame(prefix: string, deviceId: string, subjectId: string, count: number, first = 0): CommitBatch {
  const readings: Reading[] = Array.from({ length: count }, (_, n) => ({
    id: `${prefix}-${n}`,
    deviceId,
    subjectId,
    kind: "heart_rate",
    loinc: "8867-4",
    value: 72,
    unit: "/min",
    deviceTimeMs: T0 + (first + n) * 1000,
    receivedAtMs: T0 + (first + n) * 1000 + 5,
    observedAtMs: T0 + (first + n) * 1000,
    seq: first + n,
    flags: [],
    mdc: null,
  }));
  return { readings, rejections: [] };
}

describe("the group commit re-checks each frame's device binding", () => {
  const dir = tempDir("vitalog-commit-binding-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  const setUp = (name: string) => {
    const path = join(dir, name);
    const db = openDatabase(path, MIGRATIONS);
    const bind = db.prepare(
      "INSERT INTO devices (id, subject_id, password_hash, model, created_at_ms, updated_at_ms) VALUES (?, ?, 'x', NULL, 0, 0)",
    );
    bind.run("dev-a", "pt-a");
    bind.run("dev-b", "pt-b-new");
    db.close();
    const thread = new CommitThread(
      { dbPath: path, synchronous: "normal", busyTimeoutMs: 25, checkBindings: true },
      log,
    );
    thread.addWriter({ name: "echo", module: ECHO, init: { firstLeaf: 0 } });
    return { path, thread };
  };

  const query = (path: string, sql: string) => {
    const db = new Database(path, { readonly: true });
    try {
      return db.prepare(sql).all();
    } finally {
      db.close();
    }
  };

  it("refuses a frame stamped with the device's former subject and commits the others", async () => {
    const { path, thread } = setUp("rebound.db");
    try {
      const out = await thread.commit(
        [
          frame("a", "dev-a", "pt-a", 2),
          frame("b", "dev-b", "pt-b-old", 3),
          frame("c", "dev-a", "pt-a", 1, 2),
        ],
        T0,
      );
      assert.equal(out.failed.size, 0);
      assert.deepEqual(
        out.isolated.map(({ index, reason }) => ({ index, reason })),
        [{ index: 1, reason: BINDING_CHANGED }],
      );
      assert.deepEqual(query(path, "SELECT id, subject_id, leaf_index FROM readings ORDER BY leaf_index"), [
        { id: "a-0", subject_id: "pt-a", leaf_index: 0 },
        { id: "a-1", subject_id: "pt-a", leaf_index: 1 },
        { id: "c-0", subject_id: "pt-a", leaf_index: 2 },
      ]);
      const refusals = query(path, "SELECT device_id, reason, detail FROM rejections") as {
        device_id: string;
        reason: string;
        detail: string;
      }[];
      assert.equal(refusals.length, 1);
      assert.equal(refusals[0]!.device_id, "dev-b");
      assert.equal(refusals[0]!.reason, BINDING_CHANGED);
      // rejections are plaintext: neither subject id is written into them
      assert.doesNotMatch(refusals[0]!.detail, /pt-b/);
      assert.deepEqual(
        query(path, "SELECT SUM(count) AS n FROM rejection_counts WHERE reason = 'binding_changed'"),
        [{ n: 3 }],
      );
    } finally {
      await thread.close();
    }
  });

  it("refuses a frame of a device removed after it was stamped", async () => {
    const { path, thread } = setUp("removed.db");
    try {
      const db = new Database(path);
      db.prepare("DELETE FROM devices WHERE id = 'dev-a'").run();
      db.close();
      const out = await thread.commit(
        [frame("a", "dev-a", "pt-a", 2), frame("b", "dev-b", "pt-b-new", 1)],
        T0,
      );
      assert.deepEqual(
        out.isolated.map(({ index, reason }) => ({ index, reason })),
        [{ index: 0, reason: BINDING_CHANGED }],
      );
      assert.deepEqual(
        query(path, "SELECT id FROM readings").map((r) => (r as { id: string }).id),
        ["b-0"],
      );
    } finally {
      await thread.close();
    }
  });

  it("stores frames whose binding still holds, even when every frame of the commit belongs to one device", async () => {
    const { path, thread } = setUp("unchanged.db");
    try {
      const out = await thread.commit(
        [frame("b", "dev-b", "pt-b-new", 2), frame("d", "dev-b", "pt-b-new", 2, 2)],
        T0,
      );
      assert.equal(out.isolated.length, 0);
      assert.equal(query(path, "SELECT id FROM readings").length, 4);
    } finally {
      await thread.close();
    }
  });
});
