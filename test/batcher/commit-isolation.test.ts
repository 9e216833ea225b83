/**
 * Per-item isolation in the commit thread, on real SQLite files: one device's frame that storage refuses
 * (a value SQLite's STRICT schema rejects, or content a commit writer throws on) is replaced by a durable
 * `storage_refused` rejection while the other devices' frames commit; log positions stay consecutive
 * across the transactions a split commit takes; a writer's failed write leaves none of its rows; a storage
 * fault (a lock) still fails the whole commit, and a writer that refuses every reading never turns readings
 * into refusals.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { CommitThread } from "../../src/batcher/commit/commit-thread.js";
import { STORAGE_REFUSED } from "../../src/batcher/commit/commit-thread-protocol.js";
import type { CommitWriterSpec } from "../../src/batcher/commit/commit-writer.js";
import { type CommitInfo, GroupCommitter } from "../../src/batcher/commit/group-commit.js";
import { ReadingStore } from "../../src/batcher/commit/reading-store.js";
import { REJECTION_EVIDENCE_SEALED } from "../../src/batcher/commit/rejection-evidence.js";
import { RecordLog } from "../../src/batcher/tlog/record-log.js";
import { auditLog } from "../../src/batcher/tlog/tlog-audit.js";
import { tlogCommitWriter } from "../../src/batcher/tlog/tlog-commit-writer.js";
import { ManualClock } from "../../src/clock.js";
import { openDatabase } from "../../src/db.js";
import type { CommitBatch } from "../../src/drivers/ingest.js";
import { createLogger } from "../../src/log.js";
import { MIGRATIONS } from "../../src/migrations.js";
import type { Reading } from "../../src/reading.js";
import { tempDir } from "../helpers/gateway.js";
import type { PickyInit } from "../helpers/picky-commit-writer.js";

const log = createLogger("silent");
const T0 = 1_763_700_000_000;
const ECHO = new URL("../helpers/echo-commit-writer.js", import.meta.url).href;
const PICKY = new URL("../helpers/picky-commit-writer.js", import.meta.url).href;

function reading(id: string, deviceId: string, n: number, over: Partial<Reading> = {}): Reading {
  return {
    id,
    deviceId,
    subjectId: `patient-${deviceId}`,
    kind: "heart_rate",
    loinc: "8867-4",
    value: 72,
    unit: "/min",
    deviceTimeMs: T0 + n * 1000,
    receivedAtMs: T0 + n * 1000 + 5,
    observedAtMs: T0 + n * 1000,
    seq: n,
    flags: [],
    mdc: null,
    ...over,
  };
}

/** A device frame: `count` readings (ids `${prefix}-k`) and no rejections. */
function frame(prefix: string, deviceId: string, count: number): CommitBatch {
  return {
    readings: Array.from({ length: count }, (_, k) => reading(`${prefix}-${k}`, deviceId, k)),
    rejections: [],
  };
}

function picky(mode: PickyInit["mode"]): CommitWriterSpec {
  return { name: `picky-${mode}`, module: PICKY, init: { mode } satisfies PickyInit };
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

describe("commit isolation", () => {
  const dir = tempDir("vitalog-commit-isolation-");
  after(() => rmSync(dir, { recursive: true, force: true }));
  const freshDb = (name: string) => {
    const path = join(dir, name);
    openDatabase(path, MIGRATIONS).close();
    return path;
  };
  const newThread = (path: string) =>
    new CommitThread({ dbPath: path, synchronous: "normal", busyTimeoutMs: 25 }, log);

  it("commits the other devices' frames when SQLite refuses one frame's reading, storing its refusal instead", async () => {
    const path = freshDb("poison-value.db");
    const thread = newThread(path);
    const results: unknown[] = [];
    thread.addWriter({
      name: "echo",
      module: ECHO,
      init: { firstLeaf: 0 },
      onResult: (r) => results.push(r),
    });
    try {
      const poison: CommitBatch = {
        readings: [
          reading("b-0", "dev-b", 0),
          // a relative time of -1e20 s: a REAL in the STRICT INTEGER column observed_at_ms
          reading("b-1", "dev-b", 1, { observedAtMs: -1e20 + T0 }),
        ],
        rejections: [
          {
            deviceId: "dev-b",
            receivedAtMs: T0 + 7,
            reason: "out_of_range",
            count: 3,
            detail: "x",
            payload: null,
          },
        ],
      };
      const out = await thread.commit([frame("a", "dev-a", 2), poison, frame("c", "dev-c", 3)], T0);
      assert.equal(out.failed.size, 0);
      assert.deepEqual(
        out.isolated.map(({ index, reason }) => ({ index, reason })),
        [{ index: 1, reason: STORAGE_REFUSED }],
      );
      assert.match(
        out.isolated[0]!.detail,
        /cannot store REAL value in INTEGER column readings\.observed_at_ms/,
      );
      assert.ok(out.isolated[0]!.detail.length <= 200);
      assert.deepEqual(column(path, "SELECT id || '@' || leaf_index FROM readings ORDER BY leaf_index"), [
        "a-0@0",
        "a-1@1",
        "c-0@2",
        "c-1@3",
        "c-2@4",
      ]);
      assert.deepEqual(results, [
        {
          stored: ["a-0", "a-1", "c-0", "c-1", "c-2"],
          // the refusal stored in place of the frame is sealed in the log (rejection-evidence.ts)
          events: [REJECTION_EVIDENCE_SEALED],
          nowMs: T0,
          prepared: undefined,
          inTransaction: true,
        },
      ]);
      const ro = new Database(path, { readonly: true });
      try {
        const store = new ReadingStore(ro);
        assert.deepEqual(
          store.rejections().map(({ deviceId, receivedAtMs, reason, payload }) => ({
            deviceId,
            receivedAtMs,
            reason,
            payload,
          })),
          [{ deviceId: "dev-b", receivedAtMs: T0 + 5, reason: STORAGE_REFUSED, payload: null }],
          "the frame's own rejection went with it: one record stands for the whole frame",
        );
        assert.deepEqual(
          store.rejectionCounts().map(({ deviceId, reason, count }) => ({ deviceId, reason, count })),
          [{ deviceId: "dev-b", reason: STORAGE_REFUSED, count: 5 }],
          "two readings and three refusals",
        );
      } finally {
        ro.close();
      }
    } finally {
      await thread.close();
    }
  });

  it("refuses a frame whose reading carries text where SQLite expects an integer", async () => {
    const path = freshDb("poison-text.db");
    const thread = newThread(path);
    try {
      const poison: CommitBatch = {
        readings: [reading("b-0", "dev-b", 0, { seq: "twelve" as unknown as number })],
        rejections: [],
      };
      const out = await thread.commit([poison, frame("a", "dev-a", 1)], T0);
      assert.deepEqual(
        out.isolated.map(({ index, reason }) => ({ index, reason })),
        [{ index: 0, reason: STORAGE_REFUSED }],
      );
      assert.match(out.isolated[0]!.detail, /cannot store TEXT value in INTEGER column readings\.device_seq/);
      assert.deepEqual(column(path, "SELECT id FROM readings"), ["a-0"]);
      assert.deepEqual(column(path, "SELECT device_id || ':' || count FROM rejection_counts"), ["dev-b:1"]);
    } finally {
      await thread.close();
    }
  });

  it("leaves none of a writer's rows when it throws after writing part of them", async () => {
    const path = freshDb("partial-writer.db");
    const thread = newThread(path);
    thread.addWriter(picky("poison"));
    try {
      const out = await thread.commit(
        [frame("a", "dev-a", 1), frame("poison", "dev-p", 2), frame("c", "dev-c", 1)],
        T0,
      );
      assert.deepEqual(
        out.isolated.map(({ index, reason, detail }) => ({ index, reason, detail })),
        [{ index: 1, reason: STORAGE_REFUSED, detail: "picky writer refuses poison" }],
      );
      // the writer wrote poison-0 and poison-1 before throwing each time it saw them
      assert.deepEqual(column(path, "SELECT ref FROM writer_rows ORDER BY rowid"), ["a-0", "c-0"]);
      assert.deepEqual(column(path, "SELECT id FROM readings ORDER BY row_id"), ["a-0", "c-0"]);
      assert.deepEqual(column(path, "SELECT reason || ':' || count FROM rejection_counts"), [
        `${STORAGE_REFUSED}:2`,
      ]);
    } finally {
      await thread.close();
    }
  });

  it("keeps log positions consecutive across the transactions of a split commit, and the log audits clean", async () => {
    const path = freshDb("tlog.db");
    const storageKey = randomBytes(32);
    const origin = "test.vitalog.invalid/gw/isolation";
    const setup = openDatabase(path, MIGRATIONS);
    setup.transaction(() => RecordLog.checkIdentity(setup, origin, storageKey, T0))();
    const thread = newThread(path);
    thread.addWriter(tlogCommitWriter(storageKey));
    thread.addWriter(picky("poison"));
    try {
      const bound: CommitBatch = {
        readings: [],
        rejections: [],
        events: [{ type: "device.bound", atMs: T0, subjectId: "patient-dev-e", deviceId: "dev-e", data: {} }],
      };
      const batches = [
        frame("a", "dev-a", 3),
        frame("poison", "dev-p", 2),
        frame("c", "dev-c", 2),
        bound,
        frame("d", "dev-d", 1),
        {
          readings: [reading("f-0", "dev-f", 0, { observedAtMs: 1.5 })], // refused by SQLite itself
          rejections: [],
        },
        frame("g", "dev-g", 2),
      ];
      const out = await thread.commit(batches, T0);
      assert.equal(out.failed.size, 0);
      assert.deepEqual(out.isolated.map((x) => x.index).sort(), [1, 5]);
      // a second commit numbers on from the first; the refused device's subject key, created in a
      // rolled-back transaction, is created again for its next reading
      await thread.commit([frame("h", "dev-h", 2), frame("later", "dev-p", 1)], T0 + 1);
      const leaves = column(path, "SELECT leaf_index FROM readings ORDER BY leaf_index") as number[];
      const events = column(path, "SELECT leaf_index FROM tlog_records ORDER BY leaf_index") as number[];
      const all = [...leaves, ...events].sort((x, y) => x - y);
      assert.equal(leaves.length, 3 + 2 + 1 + 2 + 2 + 1, "every reading of the good frames is stored");
      assert.deepEqual(
        all,
        all.map((_, i) => i),
        "positions 0…n-1: no gap, no repeat",
      );
      const db = new Database(path, { readonly: true });
      try {
        const report = auditLog(db, storageKey, origin, []);
        assert.deepEqual(report.findings, []);
        assert.equal(
          report.treeSize,
          leaves.length + 3,
          "the stored readings, the one event and the seals of the refusals (one per transaction that stored one)",
        );
      } finally {
        db.close();
      }
    } finally {
      await thread.close();
      setup.close();
    }
  });

  it("fails alone an audit-event batch a writer throws on, and commits the rest", async () => {
    const path = freshDb("poison-event.db");
    const thread = newThread(path);
    thread.addWriter(picky("poison"));
    try {
      const poisonEvent: CommitBatch = {
        readings: [],
        rejections: [],
        events: [{ type: "poison", atMs: T0, subjectId: null, deviceId: "dev-p", data: {} }],
      };
      const out = await thread.commit([frame("a", "dev-a", 1), poisonEvent, frame("c", "dev-c", 1)], T0);
      assert.deepEqual([...out.failed.keys()], [1]);
      assert.match(out.failed.get(1)!.message, /picky writer refuses poison/);
      assert.deepEqual(out.isolated, []);
      assert.deepEqual(column(path, "SELECT id FROM readings ORDER BY row_id"), ["a-0", "c-0"]);
      assert.deepEqual(
        column(path, "SELECT COUNT(*) FROM rejection_counts"),
        [0],
        "an event is not a refusal",
      );
    } finally {
      await thread.close();
    }
  });

  it("never turns readings into refusals when a writer refuses every reading", async () => {
    const path = freshDb("writer-down.db");
    const thread = newThread(path);
    thread.addWriter(picky("any-reading"));
    try {
      const refusalOnly: CommitBatch = {
        readings: [],
        rejections: [
          {
            deviceId: "dev-r",
            receivedAtMs: T0,
            reason: "payload_invalid",
            count: 1,
            detail: "x",
            payload: null,
          },
        ],
      };
      const out = await thread.commit([frame("a", "dev-a", 1), frame("b", "dev-b", 1), refusalOnly], T0);
      assert.deepEqual(
        [...out.failed.keys()].sort(),
        [0, 1],
        "the frames with readings fail, unacknowledged",
      );
      assert.deepEqual(out.isolated, []);
      assert.deepEqual(column(path, "SELECT reason FROM rejection_counts"), ["payload_invalid"]);
      assert.deepEqual(column(path, "SELECT COUNT(*) FROM readings"), [0]);
      // with nothing committed, the commit fails as a whole, as without isolation
      await assert.rejects(
        thread.commit([frame("c", "dev-c", 1), frame("d", "dev-d", 1)], T0),
        /picky writer refuses readings/,
      );
      assert.deepEqual(column(path, "SELECT COUNT(*) FROM rejection_counts"), [1]);
    } finally {
      await thread.close();
    }
  });

  it("fails the whole commit as SQLITE_BUSY while another connection holds the lock, then isolates once it is gone", async () => {
    const path = freshDb("locked.db");
    const thread = newThread(path);
    const poison: CommitBatch = {
      readings: [reading("b-0", "dev-b", 0, { observedAtMs: -1e20 })],
      rejections: [],
    };
    const batches = [frame("a", "dev-a", 1), poison];
    try {
      await thread.start();
      const other = new Database(path);
      other.exec("BEGIN IMMEDIATE");
      try {
        await assert.rejects(thread.commit(batches, T0), (err: Error & { code?: string }) => {
          assert.equal(err.code, "SQLITE_BUSY");
          return true;
        });
      } finally {
        other.exec("ROLLBACK");
        other.close();
      }
      assert.deepEqual(column(path, "SELECT COUNT(*) FROM readings"), [0]);
      assert.deepEqual(
        column(path, "SELECT COUNT(*) FROM rejection_counts"),
        [0],
        "nothing blamed on content",
      );
      const out = await thread.commit(batches, T0);
      assert.deepEqual(
        out.isolated.map((x) => x.index),
        [1],
      );
      assert.deepEqual(column(path, "SELECT id FROM readings"), ["a-0"]);
    } finally {
      await thread.close();
    }
  });

  it("acknowledges every frame of a group commit, the refused one once its refusal is durable", async () => {
    const path = freshDb("group.db");
    const thread = newThread(path);
    const infos: CommitInfo[] = [];
    const gc = new GroupCommitter<CommitBatch>({
      clock: new ManualClock(T0),
      maxReadings: 100,
      maxDelayMs: 0,
      commit: (batches) => thread.commit(batches, T0),
      onCommit: (info) => infos.push(info),
    });
    try {
      const poison: CommitBatch = {
        readings: [reading("b-0", "dev-b", 0, { observedAtMs: -1e20 })],
        rejections: [],
      };
      const done = await Promise.all(
        [frame("a", "dev-a", 1), poison, frame("c", "dev-c", 1)].map(
          (payload) =>
            new Promise<Error | undefined>((resolve) =>
              gc.submit({ payload, weight: payload.readings.length, done: resolve }),
            ),
        ),
      );
      assert.deepEqual(done, [undefined, undefined, undefined]);
      assert.deepEqual(
        infos.map(({ items, isolated, failed, error }) => ({ items, isolated, failed, error })),
        [{ items: 3, isolated: 1, failed: 0, error: undefined }],
      );
    } finally {
      await gc.close();
      await thread.close();
    }
  });
});
