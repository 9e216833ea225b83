/**
 * A rejection flood through the real ingest path: Ingest, a real GroupCommitter and the real commit thread
 * on a SQLite file, with a manual clock spanning several minutes. 16 KiB packs of 8,100 bad entries each
 * (what one hostile device sent to write 33.5 MB a message) must grow the database by at most 1 MB a minute,
 * count every refused record exactly, and log one warn line per device and reason a minute, values only at
 * debug.
 */
import assert from "node:assert/strict";
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { CommitThread } from "../../src/batcher/commit/commit-thread.js";
import { GroupCommitter } from "../../src/batcher/commit/group-commit.js";
import {
  MAX_SAMPLE_DETAIL_CHARS,
  MAX_SAMPLE_PAYLOAD_BYTES,
  ReadingStore,
} from "../../src/batcher/commit/reading-store.js";
import { ManualClock } from "../../src/clock.js";
import { openDatabase } from "../../src/db.js";
import { type CommitBatch, Ingest, type InputRejection, type Source } from "../../src/drivers/ingest.js";
import { UlidFactory } from "../../src/ids.js";
import { createLogger, type LogLevel } from "../../src/log.js";
import { Metrics } from "../../src/metrics.js";
import { MIGRATIONS } from "../../src/migrations.js";
import type { ReadingInput } from "../../src/reading.js";
import { tempDir } from "../helpers/gateway.js";

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);
const MB = 1_000_000;
/** A measurement value no other field contains: where it shows up, a value leaked. */
const VALUE = 417;
const DECODER_REFUSED = 8000;
const OVER_LIMIT = 100;
const PACK = Buffer.alloc(16 * 1024, "1,");
const rejected: InputRejection[] = Array.from({ length: DECODER_REFUSED }, (_, i) => ({
  reason: "senml_invalid_record",
  detail: `record ${i} is not an object`,
}));
const inputs: ReadingInput[] = Array.from({ length: OVER_LIMIT }, () => ({
  kind: "heart_rate",
  value: VALUE,
  unit: "/min",
}));

interface LogLine {
  level: number;
  msg: string;
  deviceId?: string | null;
  reason?: string;
  count?: number;
  suppressed?: number;
  detail?: string;
  /** pino's timestamp, ms since the epoch. */
  time?: number;
}

/** A pino logger at `level` whose lines land, parsed, in `lines`. */
function capturingLogger(level: LogLevel, lines: LogLine[]) {
  const sink = { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) };
  return createLogger(level, sink as unknown as NodeJS.WritableStream);
}

function source(deviceId: string): Source {
  return { deviceId, subjectId: `pt-${deviceId}`, transport: "mqtt" };
}

/** Ingest on a real commit thread and SQLite file, as the gateway wires it. */
function pipeline(path: string, clock: ManualClock, level: LogLevel, lines: LogLine[]) {
  const thread = new CommitThread(
    { dbPath: path, synchronous: "normal", busyTimeoutMs: 5000 },
    createLogger("silent"),
  );
  const committer = new GroupCommitter<CommitBatch>({
    clock,
    maxReadings: 100_000,
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
    log: capturingLogger(level, lines),
    metrics,
    lastSequences: new Map(),
  });
  return {
    ingest,
    metrics,
    async close() {
      await committer.close();
      await thread.close();
    },
  };
}

/** Size of the database once its WAL is folded in: what the flood left on disk. */
function checkpointedBytes(path: string): number {
  const db = new Database(path);
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  return statSync(path).size;
}

function add(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

describe("ingest under a rejection flood", () => {
  const dir = tempDir("vitalog-rejection-flood-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("grows the database by at most 1 MB a minute, counts every refused record exactly and keeps a capped sample", async (t) => {
    const path = join(dir, "flood.db");
    openDatabase(path, MIGRATIONS).close();
    const sizeBefore = checkpointedBytes(path);
    const clock = new ManualClock(T0);
    const lines: LogLine[] = [];
    const p = pipeline(path, clock, "warn", lines);
    const calls = new Map<string, number>();
    const heard = new Map<string, number>();
    p.ingest.addListener({
      onRejected: (s, reason, _atMs, count) => {
        add(calls, `${s.deviceId}/${reason}`, 1);
        add(heard, `${s.deviceId}/${reason}`, count);
      },
    });

    const MINUTES = 5;
    const STEP_MS = 250; // two devices, a 16 KiB pack each every 250 ms: 2,400 packs, 19.4 million bad entries
    const steps = (MINUTES * 60_000) / STEP_MS;
    const frames = new Map<string, number>(); // per device and minute
    let unknown = 0;
    let pending: Promise<void>[] = [];
    for (let step = 0; step < steps; step++) {
      const minute = Math.floor(clock.now() / 60_000);
      for (const id of ["flood-1", "flood-2"]) {
        pending.push(
          new Promise((resolve, reject) =>
            p.ingest.submit(source(id), { inputs, rejected }, PACK, (err) => (err ? reject(err) : resolve())),
          ),
        );
        add(frames, `${id}@${minute}`, 1);
      }
      if (step % 8 === 0) {
        unknown += 1;
        p.ingest.reject(
          { deviceId: null, subjectId: null },
          { reason: "device_not_provisioned", detail: "mqtt stranger-7 (not configured)" },
          PACK,
        );
      }
      if (pending.length >= 16) {
        await Promise.all(pending);
        pending = [];
      }
      clock.advance(STEP_MS);
    }
    await Promise.all(pending);
    clock.advance(120_000); // past the last log interval: the closing lines report what was suppressed
    await p.close();

    const growth = checkpointedBytes(path) - sizeBefore;
    t.diagnostic(`database growth: ${growth} bytes over ${MINUTES} minutes of flood`);
    assert.ok(growth <= MINUTES * MB, `${growth} bytes in ${MINUTES} minutes`);

    const db = new Database(path, { readonly: true });
    const store = new ReadingStore(db);
    const perDevice = steps; // packs per device
    for (const id of ["flood-1", "flood-2"]) {
      const total = {
        senml_invalid_record: perDevice * DECODER_REFUSED,
        above_physiologic_limit: perDevice * OVER_LIMIT,
      };
      for (const [reason, n] of Object.entries(total)) {
        assert.equal(
          p.metrics.value("vitalog_rejections_total", { device: id, reason }),
          n,
          `${id} ${reason} metric`,
        );
        assert.equal(heard.get(`${id}/${reason}`), n, `${id} ${reason} heard by listeners`);
        assert.equal(
          calls.get(`${id}/${reason}`),
          perDevice,
          "listeners are called once per reason per frame",
        );
      }
      const counts = store.rejectionCounts(id);
      assert.equal(counts.length, MINUTES * 2, "one row per reason and minute");
      for (const c of counts) {
        const packs = frames.get(`${id}@${c.minute}`)!;
        const perPack = c.reason === "senml_invalid_record" ? DECODER_REFUSED : OVER_LIMIT;
        assert.equal(c.count, packs * perPack, `${id} ${c.reason} in minute ${c.minute}`);
      }
    }
    assert.deepEqual(
      store.rejectionCounts(null).map((c) => c.count),
      Array.from({ length: MINUTES }, () => unknown / MINUTES),
      "unknown devices counted per minute",
    );
    assert.equal(
      p.metrics.value("vitalog_rejections_total", { device: "(unknown)", reason: "device_not_provisioned" }),
      unknown,
    );

    const samples = store.rejections();
    const perKey = new Map<string, number>();
    const perMinute = new Map<string, number>();
    for (const s of samples) {
      const minute = Math.floor(s.receivedAtMs / 60_000);
      add(perKey, `${s.deviceId}/${s.reason}@${minute}`, 1);
      add(perMinute, String(minute), 1);
      assert.ok(s.payload!.length <= MAX_SAMPLE_PAYLOAD_BYTES);
      assert.ok(s.detail.length <= MAX_SAMPLE_DETAIL_CHARS);
    }
    assert.equal(perKey.size, MINUTES * 5, "every device, reason and minute has a sample");
    assert.deepEqual(new Set(perKey.values()), new Set([3]), "three samples per device, reason and minute");
    assert.ok(
      samples.some((s) => s.detail.includes(String(VALUE))),
      "a sample keeps the refused value",
    );
    db.close();

    const warns = lines.filter((l) => l.msg === "input rejected");
    const logged = new Map<string, number>();
    const linesPerKey = new Map<string, number>();
    for (const l of warns) {
      assert.equal(l.level, 40);
      assert.equal(l.detail, undefined, "no detail above debug");
      // the line's own timestamp (ms since the epoch) may contain the value's digits by chance
      const { time: _time, ...fields } = l;
      assert.ok(!JSON.stringify(fields).includes(String(VALUE)), "no measurement value above debug");
      add(logged, `${l.deviceId}/${l.reason}`, l.count! + l.suppressed!);
      add(linesPerKey, `${l.deviceId}/${l.reason}`, 1);
    }
    for (const [key, n] of linesPerKey)
      assert.ok(n <= MINUTES + 1, `${key}: ${n} warn lines in ${MINUTES} minutes`);
    assert.equal(
      logged.get("flood-1/senml_invalid_record"),
      perDevice * DECODER_REFUSED,
      "suppressed counts add up",
    );
    assert.equal(logged.get("flood-2/above_physiologic_limit"), perDevice * OVER_LIMIT);
    assert.equal(logged.get("null/device_not_provisioned"), unknown);
  });

  it("logs a refusal's detail, which may carry measurement values, only at debug", async () => {
    const path = join(dir, "debug.db");
    openDatabase(path, MIGRATIONS).close();
    const clock = new ManualClock(T0);
    const lines: LogLine[] = [];
    const p = pipeline(path, clock, "debug", lines);
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) =>
        p.ingest.submit(source("cuff-1"), { inputs }, PACK, () => resolve()),
      );
      clock.advance(1000);
    }
    await p.close();
    const mine = lines.filter((l) => l.reason === "above_physiologic_limit");
    const debug = mine.filter((l) => l.level === 20);
    assert.equal(debug.length, 3, "one debug line per frame and reason");
    for (const l of debug) {
      assert.equal(l.msg, "input rejection detail");
      assert.match(l.detail!, new RegExp(`heart_rate ${VALUE} /min`));
    }
    const warn = mine.filter((l) => l.level === 40);
    assert.deepEqual(
      warn.map((l) => [l.msg, l.count, l.suppressed, l.detail]),
      [["input rejected", OVER_LIMIT, 0, undefined]],
      "one warn line, the next two suppressed",
    );
  });

  it("gives the first 128 distinct refusal reasons a metric label of their own and counts later new ones as other, storing every real reason", async () => {
    const path = join(dir, "reasons.db");
    openDatabase(path, MIGRATIONS).close();
    const clock = new ManualClock(T0);
    const p = pipeline(path, clock, "silent", []);
    // a vendor decoder's reasons are open-ended: 140 distinct ones, twice each
    const reasons = Array.from({ length: 140 }, (_, i) => `vendor_fault_${i}`);
    for (const round of [0, 1]) {
      for (const reason of reasons) {
        await new Promise<void>((resolve) =>
          p.ingest.reject(source("odd-1"), { reason, detail: `round ${round}` }, null, () => resolve()),
        );
      }
    }
    await p.close();
    const samples = p.metrics.snapshot().vitalog_rejections_total ?? [];
    const labels = new Set(samples.map((x) => x.labels.reason));
    assert.equal(labels.size, 129);
    assert.ok(labels.has("other"));
    assert.ok(labels.has("vendor_fault_127") && !labels.has("vendor_fault_128"));
    assert.equal(p.metrics.value("vitalog_rejections_total", { device: "odd-1", reason: "other" }), 24);
    assert.equal(p.metrics.sum("vitalog_rejections_total"), 280);
    const db = new Database(path, { readonly: true });
    const stored = db
      .prepare("SELECT COUNT(DISTINCT reason) FROM rejection_counts WHERE device_id = 'odd-1'")
      .pluck()
      .get();
    db.close();
    assert.equal(stored, 140);
  });
});
