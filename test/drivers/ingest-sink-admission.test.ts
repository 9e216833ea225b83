/**
 * Admission on the BLE and serial path (IngestSink), over the real Ingest, group commit, commit thread and
 * a SQLite file, on a manual clock: a device over its budget gets INGEST_THROTTLED for decoded frames and
 * for frames that do not decode alike (a serial device then gets no ack and sends again), each counted as
 * not admitted and none stored; another device on the same sink is unaffected.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { CommitThread } from "../../src/batcher/commit/commit-thread.js";
import { GroupCommitter } from "../../src/batcher/commit/group-commit.js";
import { ManualClock } from "../../src/clock.js";
import { openDatabase } from "../../src/db.js";
import { Admission } from "../../src/drivers/admission.js";
import { DeviceRegistry } from "../../src/drivers/device-registry.js";
import { type CommitBatch, Ingest } from "../../src/drivers/ingest.js";
import { ingestConfigSchema } from "../../src/drivers/ingest-config.js";
import { IngestSink } from "../../src/drivers/ingest-sink.js";
import { UlidFactory } from "../../src/ids.js";
import { createLogger } from "../../src/log.js";
import { Metrics } from "../../src/metrics.js";
import { MIGRATIONS } from "../../src/migrations.js";
import { tempDir } from "../helpers/gateway.js";

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const log = createLogger("silent");

describe("admission on the BLE and serial path", () => {
  const dir = tempDir("vitalog-sink-admission-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("throttles a device's undecodable frames like its readings, and leaves another device alone", async () => {
    const path = join(dir, "sink.db");
    const db = openDatabase(path, MIGRATIONS);
    const registry = new DeviceRegistry(db);
    await registry.add({ id: "cuff-noisy", subjectId: "pt-1", password: "pw-noisy-0001" }, T0);
    await registry.add({ id: "cuff-quiet", subjectId: "pt-2", password: "pw-quiet-0001" }, T0);
    const clock = new ManualClock(T0);
    const thread = new CommitThread({ dbPath: path, synchronous: "normal", busyTimeoutMs: 5000 }, log);
    const committer = new GroupCommitter<CommitBatch>({
      clock,
      maxReadings: 10_000,
      maxDelayMs: 0,
      commit: async (batches) => {
        await thread.commit(batches, clock.now());
      },
    });
    const metrics = new Metrics();
    const ingest = new Ingest({
      clock,
      ids: new UlidFactory(),
      committer,
      log,
      metrics,
      lastSequences: new Map(),
    });
    // 2 frames a second, a burst of 4
    const config = ingestConfigSchema.parse({
      limits: { device: { messagesPerSec: 2, messagesBurst: 4 } },
    });
    const sink = new IngestSink({
      transport: "serial",
      deviceIds: new Map([
        ["/dev/ttyNOISY", "cuff-noisy"],
        ["/dev/ttyQUIET", "cuff-quiet"],
      ]),
      registry,
      ingest,
      admission: new Admission({ config, clock }),
      log,
      metrics,
    });
    const reject = (deviceKey: string) =>
      new Promise<Error | undefined>((resolve) =>
        sink.reject({
          deviceKey,
          binding: "test-cuff",
          receivedAtMs: clock.now(),
          reason: "frame_checksum_mismatch",
          detail: "checksum 0x00 != 0x5a",
          done: resolve,
        }),
      );
    const outcomes: (string | undefined)[] = [];
    for (let i = 0; i < 10; i++) {
      const err = await reject("/dev/ttyNOISY");
      outcomes.push((err as { code?: string } | undefined)?.code);
    }
    const quiet = await reject("/dev/ttyQUIET");
    await committer.close();
    await thread.close();

    assert.deepEqual(outcomes, [...Array(4).fill(undefined), ...Array(6).fill("INGEST_THROTTLED")]);
    assert.equal(quiet, undefined);
    assert.equal(
      metrics.value("vitalog_rejections_total", { device: "cuff-noisy", reason: "rate_limited_messages" }),
      6,
    );
    const check = new Database(path, { readonly: true });
    const stored = check
      .prepare(
        "SELECT device_id, SUM(count) AS n FROM rejection_counts GROUP BY device_id ORDER BY device_id",
      )
      .all();
    check.close();
    db.close();
    assert.deepEqual(stored, [
      { device_id: "cuff-noisy", n: 4 },
      { device_id: "cuff-quiet", n: 1 },
    ]);
  });
});
