/**
 * Rejections on a real SQLite file: exact counts per device, reason and minute; samples truncated and kept
 * under a hard byte budget whose running total follows every commit and rollback; and the migration that
 * turns a database of one row per refusal into counts plus the newest samples.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  MAX_REJECTION_SAMPLE_BYTES,
  MAX_SAMPLE_DETAIL_CHARS,
  MAX_SAMPLE_PAYLOAD_BYTES,
  ReadingStore,
  type RejectionRecord,
} from "../../src/batcher/commit/reading-store.js";
import { RejectionEvidence } from "../../src/batcher/commit/rejection-evidence.js";
import { type Db, openDatabase } from "../../src/db.js";
import { MIGRATIONS } from "../../src/migrations.js";
import { tempDir } from "../helpers/gateway.js";

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const MINUTE0 = T0 / 60_000;

function record(over: Partial<RejectionRecord> = {}): RejectionRecord {
  return {
    deviceId: "cuff-1",
    receivedAtMs: T0,
    reason: "above_physiologic_limit",
    count: 1,
    detail: "heart_rate 400 /min is above the limit",
    payload: new Uint8Array(16),
    ...over,
  };
}

/** What the connection's running total (the commit thread's journal) says, and what the rows actually hold. */
function sampleBytes(db: Db): { kept: number; actual: number } {
  const kept = db.prepare("SELECT bytes FROM temp.rejection_sample_total").pluck().get() as number;
  const actual = db
    .prepare("SELECT ifnull(SUM(octet_length(detail) + ifnull(octet_length(payload), 0)), 0) FROM rejections")
    .pluck()
    .get() as number;
  return { kept, actual };
}

describe("rejection store", () => {
  const dir = tempDir("vitalog-rejection-store-");
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const open = (options?: { maxSampleBytes?: number }) => {
    const db = openDatabase(join(dir, `r${++n}.db`), MIGRATIONS);
    new RejectionEvidence(db); // the journal the commit thread keeps on its connection
    return { db, store: new ReadingStore(db, options) };
  };

  it("adds every record's count to its device, reason and minute, unknown devices under null", () => {
    const { db, store } = open();
    const write = db.transaction((rs: RejectionRecord[]) => {
      for (const r of rs) store.insertRejection(r);
    });
    write([record({ count: 8000 }), record({ count: 183, isCountOnly: true })]);
    write([
      record({ receivedAtMs: T0 + 59_999, count: 2, isCountOnly: true }),
      record({ receivedAtMs: T0 + 60_000, count: 5 }),
      record({ reason: "unit_unsupported", count: 7, isCountOnly: true }),
      record({ deviceId: null, reason: "device_not_provisioned", count: 1 }),
      record({ deviceId: "cuff-2", count: 3, isCountOnly: true }),
    ]);
    assert.deepEqual(store.rejectionCounts("cuff-1"), [
      { deviceId: "cuff-1", reason: "above_physiologic_limit", minute: MINUTE0, count: 8185 },
      { deviceId: "cuff-1", reason: "unit_unsupported", minute: MINUTE0, count: 7 },
      { deviceId: "cuff-1", reason: "above_physiologic_limit", minute: MINUTE0 + 1, count: 5 },
    ]);
    assert.deepEqual(store.rejectionCounts(null), [
      { deviceId: null, reason: "device_not_provisioned", minute: MINUTE0, count: 1 },
    ]);
    assert.equal(store.rejectionCounts().length, 5);
    assert.deepEqual(
      store.rejections().map((r) => [r.deviceId, r.reason]),
      [
        ["cuff-1", "above_physiologic_limit"],
        ["cuff-1", "above_physiologic_limit"],
        [null, "device_not_provisioned"],
      ],
      "count-only records leave no sample row",
    );
    db.close();
  });

  it("keeps at most 1 KiB of a sample's payload and 512 characters of its detail, never half a character", () => {
    const { db, store } = open();
    const detail = `${"x".repeat(MAX_SAMPLE_DETAIL_CHARS - 1)}😀 and more`;
    store.insertRejection(record({ detail, payload: new Uint8Array(16 * 1024).fill(7) }));
    const [row] = store.rejections();
    assert.equal(row!.payload!.length, MAX_SAMPLE_PAYLOAD_BYTES);
    assert.equal(row!.detail, "x".repeat(MAX_SAMPLE_DETAIL_CHARS - 1));
    db.close();
  });

  it("refuses a record whose count is not a positive integer", () => {
    const { db, store } = open();
    for (const count of [0, -1, 1.5, Number.NaN])
      assert.throws(() => store.insertRejection(record({ count })), RangeError, String(count));
    assert.deepEqual(store.rejectionCounts(), []);
    db.close();
  });

  it("evicts the oldest samples once the byte budget is passed and never exceeds it", () => {
    const budget = 10 * 1024;
    const { db, store } = open({ maxSampleBytes: budget });
    const write = db.transaction((i: number) =>
      store.insertRejection(
        record({ receivedAtMs: T0 + i, detail: `sample ${i}`, payload: new Uint8Array(1000).fill(i % 256) }),
      ),
    );
    for (let i = 0; i < 100; i++) {
      write(i);
      const { kept, actual } = sampleBytes(db);
      assert.equal(kept, actual, `total kept by the trigger after sample ${i}`);
      assert.ok(actual <= budget, `${actual} bytes after sample ${i}`);
    }
    const details = store.rejections().map((r) => r.detail);
    assert.equal(details.at(-1), "sample 99", "the newest sample is kept");
    assert.equal(details.length, 10, "samples of about 1 KB: ten fit in 10 KiB");
    assert.deepEqual(
      details,
      Array.from({ length: 10 }, (_, k) => `sample ${90 + k}`),
    );
    assert.equal(store.rejectionCounts()[0]!.count, 100, "evicted samples stay counted");
    db.close();
  });

  it("leaves the byte total as it was when the commit rolls back", () => {
    const { db, store } = open({ maxSampleBytes: 4096 });
    const write = db.transaction((rs: RejectionRecord[], fail: boolean) => {
      for (const r of rs) store.insertRejection(r);
      if (fail) throw new Error("a later writer failed");
    });
    write([record({ payload: new Uint8Array(1000) }), record({ payload: new Uint8Array(1000) })], false);
    const before = sampleBytes(db);
    assert.throws(() =>
      write(
        [1, 2, 3, 4].map(() => record({ payload: new Uint8Array(1000) })),
        true,
      ),
    );
    assert.deepEqual(sampleBytes(db), before, "no drift: the rows and their total roll back together");
    assert.equal(store.rejections().length, 2);
    write([record({ payload: new Uint8Array(1000) })], false);
    assert.equal(store.rejections().length, 3);
    assert.equal(store.rejectionCounts()[0]!.count, 3);
    db.close();
  });

  it("migrates one row per refusal into exact counts and keeps only the newest 8 MiB of samples", () => {
    const path = join(dir, "legacy.db");
    const legacy = openDatabase(
      path,
      MIGRATIONS.filter((m) => m.version <= 6),
    );
    const insert = legacy.prepare(
      "INSERT INTO rejections (device_id, received_at_ms, reason, detail, payload) VALUES (?,?,?,?,?)",
    );
    const payload = new Uint8Array(4096);
    const rows = 2500; // 2500 × (4096 + detail) ≈ 10 MiB, as the old store kept them
    legacy.transaction(() => {
      for (let i = 0; i < rows; i++)
        insert.run(
          i % 5 === 0 ? null : "flood-1",
          T0 + i * 100,
          "senml_invalid_record",
          `record ${i}`,
          payload,
        );
    })();
    legacy.close();

    const db = openDatabase(path, MIGRATIONS);
    new RejectionEvidence(db);
    const store = new ReadingStore(db);
    const counts = store.rejectionCounts();
    assert.equal(
      counts.reduce((s, c) => s + c.count, 0),
      rows,
      "every legacy row counted",
    );
    assert.deepEqual(
      counts.filter((c) => c.deviceId === null).map((c) => c.count),
      [120, 120, 120, 120, 20],
      "unknown devices counted per minute (600 rows a minute, one in five unknown)",
    );
    const { kept, actual } = sampleBytes(db);
    assert.equal(kept, actual);
    assert.ok(actual <= MAX_REJECTION_SAMPLE_BYTES, `${actual} bytes kept`);
    assert.ok(actual > MAX_REJECTION_SAMPLE_BYTES - 4200, "as many of the newest as fit");
    const samples = store.rejections();
    assert.equal(samples.at(-1)!.detail, `record ${rows - 1}`, "the newest legacy row is kept");
    assert.equal(samples[0]!.detail, `record ${rows - samples.length}`, "the oldest ones went first");
    db.close();
  });
});
