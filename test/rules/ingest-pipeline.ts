/**
 * The ingest-to-alarm path as the gateway wires it (rules/create-rules.ts), for the signal-quality and staleness
 * suites: the real Ingest on a real GroupCommitter and commit thread over a SQLite file, the real RuleEngine
 * with the configuration the real schema yields, on a ManualClock. Frames go in as the transports hand them
 * over: an MQTT payload through the real decoder, a BLE decode result as the driver sink passes it.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { CommitThread } from "../../src/batcher/commit/commit-thread.js";
import { GroupCommitter } from "../../src/batcher/commit/group-commit.js";
import { ReadingStore, type StoredReading } from "../../src/batcher/commit/reading-store.js";
import { ManualClock } from "../../src/clock.js";
import { openDatabase } from "../../src/db.js";
import { type CommitBatch, Ingest, type InputRejection, type Source } from "../../src/drivers/ingest.js";
import { frameStatus } from "../../src/drivers/ingest-sink.js";
import { decodePayload } from "../../src/drivers/mqtt/payload.js";
import type { DecodeResult } from "../../src/drivers/profiles/decode-result.js";
import { UlidFactory } from "../../src/ids.js";
import { createLogger } from "../../src/log.js";
import { Metrics } from "../../src/metrics.js";
import { MIGRATIONS } from "../../src/migrations.js";
import type { DeviceStatusInput, ReadingInput } from "../../src/reading.js";
import type { AlertEvent } from "../../src/rules/alert-event.js";
import { rulesConfigSchema } from "../../src/rules/config.js";
import { RuleEngine, type RulesConfig } from "../../src/rules/engine.js";
import { tempDir } from "../helpers/gateway.js";

export const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);

export interface Pipeline {
  clock: ManualClock;
  ingest: Ingest;
  engine: RuleEngine;
  /** Every alert transition, in order. */
  events: AlertEvent[];
  /** What the listeners were shown, in order: "status" or "reading:<kind>". */
  shown: string[];
  /** An MQTT payload as the transport hands it to ingest (decoded by the real decoder); resolves when stored. */
  mqtt(deviceId: string, format: "senml" | "json", payload: unknown): Promise<void>;
  /** A BLE (or serial) decode result as the driver sink hands it to ingest; resolves when stored. */
  ble(deviceId: string, result: DecodeResult): Promise<void>;
  /** Raw inputs and status; resolves when stored. */
  submit(deviceId: string, inputs: ReadingInput[], status?: DeviceStatusInput): Promise<void>;
  /** Advances the clock `seconds`, one second at a time, calling `each(i)` before each step, then ticking. */
  run(seconds: number, each?: (i: number) => Promise<void> | void): Promise<void>;
  /** The readings committed to the SQLite file. */
  stored(deviceId?: string): StoredReading[];
  close(): Promise<void>;
}

/** Source of a device: subject `pt-<deviceId>`. */
export function sourceOf(deviceId: string, transport: Source["transport"] = "mqtt"): Source {
  return { deviceId, subjectId: `pt-${deviceId}`, transport };
}

/** Builds the pipeline; `rules` is the `rules:` section as written in YAML (parsed by the real schema). */
export function pipeline(rules: Record<string, unknown> = {}): Pipeline {
  const dir = tempDir("vitalog-signal-");
  const path = join(dir, "vitalog.db");
  openDatabase(path, MIGRATIONS).close();
  const clock = new ManualClock(T0);
  const thread = new CommitThread(
    { dbPath: path, synchronous: "normal", busyTimeoutMs: 5000 },
    createLogger("silent"),
  );
  const committer = new GroupCommitter<CommitBatch>({
    clock,
    maxReadings: 10_000,
    maxDelayMs: 0,
    commit: async (batches) => {
      await thread.commit(batches, clock.now());
    },
  });
  const ingest = new Ingest({
    clock,
    ids: new UlidFactory(),
    committer,
    log: createLogger("silent"),
    metrics: new Metrics(),
    lastSequences: new Map(),
  });
  let n = 0;
  const engine = new RuleEngine(rulesConfigSchema.parse(rules) as RulesConfig, {
    clock,
    newAlertId: () => `a${++n}`,
  });
  const events: AlertEvent[] = [];
  engine.onAlertEvent((e) => events.push(e));
  const shown: string[] = [];
  // as rules/create-rules.ts wires it
  ingest.addListener({
    onReadings: (readings) => engine.onReadings(readings),
    onDeviceStatus: (source, status) => engine.onDeviceStatus(source.deviceId, source.subjectId, status),
    onRejected: (source, reason, _atMs, count) => {
      if (source.deviceId !== null && source.subjectId !== null)
        engine.onRejected(source.deviceId, source.subjectId, reason, count);
    },
  });
  ingest.addListener({
    onDeviceStatus: () => shown.push("status"),
    onReading: (r) => shown.push(`reading:${r.kind}`),
  });
  const send = (
    source: Source,
    frame: {
      inputs: readonly ReadingInput[];
      status?: DeviceStatusInput | undefined;
      rejected?: InputRejection[];
    },
    raw: Uint8Array | null,
  ) =>
    new Promise<void>((resolve, reject) =>
      ingest.submit(source, frame, raw, (err) => (err ? reject(err) : resolve())),
    );
  return {
    clock,
    ingest,
    engine,
    events,
    shown,
    mqtt(deviceId, format, payload) {
      const bytes = Buffer.from(JSON.stringify(payload));
      return send(sourceOf(deviceId), decodePayload(format, bytes), bytes);
    },
    ble(deviceId, result) {
      // as IngestSink.frame: the decoded readings and the status of the frame (with its values without a value)
      return send(sourceOf(deviceId, "ble"), { inputs: result.readings, status: frameStatus(result) }, null);
    },
    submit(deviceId, inputs, status) {
      return send(sourceOf(deviceId), { inputs, status }, null);
    },
    async run(seconds, each) {
      for (let i = 0; i < seconds; i++) {
        await each?.(i);
        clock.advance(1000);
        engine.tick();
      }
    },
    stored(deviceId) {
      const db = new Database(path, { readonly: true });
      try {
        return new ReadingStore(db).query(deviceId === undefined ? {} : { deviceId });
      } finally {
        db.close();
      }
    },
    async close() {
      await committer.close();
      await thread.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
