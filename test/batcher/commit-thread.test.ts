/**
 * The commit thread on a real SQLite file: commits run in a worker thread on their own connection,
 * duplicates are reported, writers get their init/prepare data and return results, a writer that cannot
 * load fails every commit (never a commit without it), and a lock surfaces as SQLITE_BUSY for the group
 * commit's retry.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { CommitThread } from "../../src/batcher/commit/commit-thread.js";
import { openDatabase } from "../../src/db.js";
import type { CommitBatch } from "../../src/drivers/ingest.js";
import { GatewayError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { MIGRATIONS } from "../../src/migrations.js";
import type { Reading } from "../../src/reading.js";
import { tempDir } from "../helpers/gateway.js";

const log = createLogger("silent");
const ECHO = new URL("../helpers/echo-commit-writer.js", import.meta.url).href;

function reading(id: string, deviceTimeMs: number): Reading {
  return {
    id,
    deviceId: "cuff-1",
    subjectId: "patient-1",
    kind: "heart_rate",
    loinc: "8867-4",
    value: 72,
    unit: "/min",
    deviceTimeMs,
    receivedAtMs: deviceTimeMs + 5,
    observedAtMs: deviceTimeMs,
    seq: deviceTimeMs,
    flags: [],
    mdc: null,
  };
}

/** Runs `sql` (one column) on a read-only connection of its own: what is committed, as others see it. */
function column(path: string, sql: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).pluck().all();
  } finally {
    db.close();
  }
}

describe("commit thread", () => {
  const dir = tempDir("vitalog-commit-thread-");
  after(() => rmSync(dir, { recursive: true, force: true }));
  const freshDb = (name: string) => {
    const path = join(dir, name);
    openDatabase(path, MIGRATIONS).close();
    return path;
  };

  it("commits in the worker: rows visible to other connections, duplicates named, writers fed and heard", async () => {
    const path = freshDb("echo.db");
    const thread = new CommitThread({ dbPath: path, synchronous: "full", busyTimeoutMs: 25 }, log);
    const results: unknown[] = [];
    thread.addWriter({
      name: "echo",
      module: ECHO,
      init: { firstLeaf: 100 },
      prepare: (events) => ({ seen: events.length }),
      onResult: (r) => results.push(r),
    });
    try {
      await thread.start();
      const batches: CommitBatch[] = [
        { readings: [reading("r1", 1000), reading("r2", 2000)], rejections: [] },
        {
          readings: [reading("r3", 1000)], // same device, vital and device time as r1: a duplicate
          rejections: [
            { deviceId: "cuff-1", receivedAtMs: 5, reason: "RANGE", count: 1, detail: "x", payload: null },
          ],
          events: [{ type: "device.bound", atMs: 7, subjectId: "patient-1", deviceId: "cuff-1", data: {} }],
        },
      ];
      const out = await thread.commit(batches, 123);
      assert.deepEqual(out.duplicates, ["cuff-1"]);
      assert.deepEqual(results, [
        {
          stored: ["r1", "r2"],
          // the stored rejection sample is sealed into the log in the same commit (rejection-evidence.ts)
          events: ["device.bound", "rejection_evidence_sealed"],
          nowMs: 123,
          prepared: { seen: 1 },
          inTransaction: true,
        },
      ]);
      assert.deepEqual(column(path, "SELECT id || '@' || leaf_index FROM readings ORDER BY row_id"), [
        "r1@100",
        "r2@101",
      ]);
      assert.deepEqual(column(path, "SELECT COUNT(*) FROM rejections"), [1]);
      // the next commit numbers on from what is stored
      await thread.commit([{ readings: [reading("r4", 3000)], rejections: [] }], 124);
      assert.deepEqual(column(path, "SELECT leaf_index FROM readings WHERE id = 'r4'"), [102]);
    } finally {
      await thread.close();
    }
  });

  it("fails every commit, naming the writer, when a writer cannot be loaded", async () => {
    const path = freshDb("broken.db");
    const thread = new CommitThread({ dbPath: path, synchronous: "full", busyTimeoutMs: 25 }, log);
    thread.addWriter({ name: "missing", module: new URL("./no-such-writer.js", import.meta.url).href });
    try {
      for (let i = 0; i < 2; i++) {
        await assert.rejects(
          thread.commit([{ readings: [reading(`r${i}`, 1000 + i)], rejections: [] }], 1),
          /commit writer missing failed to load/,
        );
      }
      assert.deepEqual(column(path, "SELECT COUNT(*) FROM readings"), [0], "nothing committed without it");
    } finally {
      await thread.close();
    }
  });

  it("rolls the whole commit back when a writer throws, and reports a lock as SQLITE_BUSY", async () => {
    const path = freshDb("rollback.db");
    const thread = new CommitThread({ dbPath: path, synchronous: "full", busyTimeoutMs: 25 }, log);
    try {
      await thread.commit([{ readings: [reading("a", 1)], rejections: [] }], 1);
      const other = new Database(path);
      other.exec("BEGIN IMMEDIATE");
      await assert.rejects(
        thread.commit([{ readings: [reading("b", 2)], rejections: [] }], 2),
        (err: Error) => {
          assert.equal((err as { code?: string }).code, "SQLITE_BUSY");
          return true;
        },
      );
      other.exec("ROLLBACK");
      other.close();
      thread.addWriter({
        name: "failing",
        module: new URL("../helpers/failing-commit-writer.js", import.meta.url).href,
      });
      await assert.rejects(
        thread.commit([{ readings: [reading("c", 3)], rejections: [] }], 3),
        /log unavailable/,
      );
      assert.deepEqual(column(path, "SELECT id FROM readings"), ["a"], "b and c were rolled back");
    } finally {
      await thread.close();
    }
  });

  it("fails the commits a dying thread held and commits the next ones in a new thread", async () => {
    const path = freshDb("crash.db");
    const thread = new CommitThread({ dbPath: path, synchronous: "full", busyTimeoutMs: 25 }, log);
    thread.addWriter({
      name: "exiting",
      module: new URL("../helpers/exiting-commit-writer.js", import.meta.url).href,
      init: { marker: join(dir, "crash.marker") },
    });
    try {
      await assert.rejects(
        thread.commit([{ readings: [reading("lost", 1)], rejections: [] }], 1),
        (err: Error) => err instanceof GatewayError && /commit thread exited \(code 3\)/.test(err.message),
      );
      await thread.commit([{ readings: [reading("kept", 2)], rejections: [] }], 2);
      assert.deepEqual(column(path, "SELECT id FROM readings"), ["kept"], "the failed commit left nothing");
    } finally {
      await thread.close();
    }
  });

  it("rejects a commit that cannot cross to the thread, and keeps working", async () => {
    const path = freshDb("clone.db");
    const thread = new CommitThread({ dbPath: path, synchronous: "full", busyTimeoutMs: 25 }, log);
    try {
      const event = { type: "x", atMs: 1, subjectId: null, deviceId: null, data: { f: () => 1 } };
      await assert.rejects(
        thread.commit([{ readings: [reading("n", 1)], rejections: [], events: [event] }], 1),
        /could not be cloned/,
      );
      await thread.commit([{ readings: [reading("y", 2)], rejections: [] }], 2);
      assert.deepEqual(column(path, "SELECT id FROM readings"), ["y"]);
    } finally {
      await thread.close();
    }
  });

  it("refuses to start when the database cannot be opened", async () => {
    // a path below a regular file: the directory cannot be created
    const path = freshDb("file.db");
    const blocked = new CommitThread(
      { dbPath: join(path, "x.db"), synchronous: "full", busyTimeoutMs: 25 },
      log,
    );
    await assert.rejects(blocked.start(), /cannot open the database/);
    await blocked.close();
  });
});
