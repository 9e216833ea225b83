import { AdminServer } from "./admin-server.js";
import { attachAnchor } from "./anchor/attach-anchor.js";
import { attachTlog } from "./batcher/attach-tlog.js";
import { GroupCommitter } from "./batcher/group-commit.js";
import { ReadingStore } from "./batcher/reading-store.js";
import { assertCurrentLogFormat } from "./batcher/tlog-schema.js";
import type { Clock } from "./clock.js";
import { type Config, readSecretFile } from "./config.js";
import { type Db, openDatabase } from "./db.js";
import { attachDrivers } from "./drivers/attach-drivers.js";
import { DeviceRegistry } from "./drivers/device-registry.js";
import { type AuditEvent, type CommitBatch, Ingest } from "./drivers/ingest.js";
import { MqttTransport } from "./drivers/mqtt/mqtt-transport.js";
import { UlidFactory } from "./ids.js";
import type { Logger } from "./log.js";
import { Metrics } from "./metrics.js";
import { MIGRATIONS } from "./migrations.js";
import type { Reading } from "./reading.js";
import { attachRules } from "./rules/attach-rules.js";

/**
 * A part of the gateway with a life cycle (checkpointer, alert sinks, BLE/serial drivers, anchor
 * publisher …). Services start in registration order after the MQTT broker is up and stop in
 * reverse order before the last group commit is flushed.
 */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Included in `vitalog status` under the service's name. */
  status?(): unknown;
}

/**
 * Runs inside the group-commit transaction after the readings were inserted. `stored` are the
 * readings actually written (duplicates left out), `events` the audit events of the batch, in order.
 * MUST be synchronous and MUST NOT await; throwing fails (rolls back) the whole commit.
 */
export type CommitWriter = (stored: readonly Reading[], events: readonly AuditEvent[]) => void;

/**
 * The running gateway: owns start-up and shutdown order. Start: store → registry → ingest → MQTT →
 * services → admin HTTP. Stop: services (reverse) → flush the last group commit (so pending PUBACKs
 * go out) → close clients → close the database.
 */
export class Gateway {
  readonly config: Readonly<Config>;
  readonly metrics = new Metrics();
  readonly db: Db;
  readonly registry: DeviceRegistry;
  readonly store: ReadingStore;
  readonly ingest: Ingest;
  readonly mqtt: MqttTransport;
  readonly log: Logger;
  readonly clock: Clock;
  readonly #committer: GroupCommitter<CommitBatch>;
  readonly #admin: AdminServer;
  readonly #services: Service[] = [];
  readonly #commitWriters: CommitWriter[] = [];
  #nextLeaf: (() => number) | undefined;
  readonly #startedAtMs: number;
  #adminPort = 0;
  #stopped = false;

  private constructor(config: Readonly<Config>, deps: { log: Logger; clock: Clock }) {
    this.config = config;
    this.log = deps.log;
    this.clock = deps.clock;
    this.#startedAtMs = deps.clock.now();
    // a short lock wait: the event loop (alerts) must not block behind another process's write;
    // the group commit retries a locked batch instead (see GroupCommitter busyRetryMs)
    this.db = openDatabase(config.storage.path!, MIGRATIONS, {
      synchronous: config.storage.synchronous,
      busyTimeoutMs: 25,
    });
    assertCurrentLogFormat(this.db);
    this.registry = new DeviceRegistry(this.db);
    this.store = new ReadingStore(this.db);
    const duplicates = this.metrics.counter(
      "vitalog_readings_duplicate_total",
      "Re-sent readings dropped as duplicates",
    );
    const commits = this.metrics.counter("vitalog_commits_total", "Group commits, by outcome");
    const lastBatch = this.metrics.gauge(
      "vitalog_commit_last_batch",
      "Readings and rejections in the last commit",
    );
    this.#committer = new GroupCommitter<CommitBatch>({
      db: this.db,
      clock: deps.clock,
      maxReadings: config.storage.batchMaxReadings,
      maxDelayMs: config.storage.batchMaxDelayMs,
      write: (batches) => {
        const stored: Reading[] = [];
        const events: AuditEvent[] = [];
        // with the log attached, stored readings take consecutive log positions from its current size
        let leaf = this.#nextLeaf?.() ?? null;
        for (const b of batches) {
          for (const r of b.readings) {
            if (this.store.insert(r, leaf)) {
              stored.push(r);
              if (leaf !== null) leaf++;
            } else duplicates({ device: r.deviceId });
          }
          for (const j of b.rejections) this.store.insertRejection(j);
          if (b.events) events.push(...b.events);
        }
        for (const w of this.#commitWriters) w(stored, events);
      },
      onCommit: ({ weight, error }) => {
        commits({ outcome: error ? "failed" : "ok" });
        lastBatch(weight);
        if (error) this.log.error({ err: error, cause: String(error.cause) }, "group commit failed");
      },
    });
    this.ingest = new Ingest({
      clock: deps.clock,
      ids: new UlidFactory(),
      committer: this.#committer,
      log: deps.log.child({ module: "ingest" }),
      metrics: this.metrics,
      lastSequences: this.store.lastSequences(),
    });
    this.mqtt = new MqttTransport({
      config: config.mqtt,
      registry: this.registry,
      ingest: this.ingest,
      log: deps.log.child({ module: "mqtt" }),
      metrics: this.metrics,
    });
    this.#admin = new AdminServer({ metrics: this.metrics, status: () => this.status(), log: deps.log });
  }

  static async start(config: Readonly<Config>, deps: { log: Logger; clock: Clock }): Promise<Gateway> {
    const gw = new Gateway(config, deps);
    try {
      // Composition: each subsystem attaches its services, ingest listeners and commit writers here,
      // in dependency order, through a function of its own module (`attachX(gw)`).
      const tlog = attachTlog(gw);
      attachAnchor(gw, tlog);
      attachRules(gw);
      await attachDrivers(gw);
      for (const d of config.devices) {
        const outcome = await gw.registry.upsert(
          { id: d.id, subjectId: d.subject, password: readSecretFile(d.passwordFile), model: d.model },
          deps.clock.now(),
        );
        if (outcome !== "unchanged") deps.log.info({ deviceId: d.id, outcome }, "device from config");
      }
      await gw.mqtt.start();
      for (const s of gw.#services) {
        await s.start();
        deps.log.info({ service: s.name }, "service started");
      }
      if (config.admin.port !== 0)
        gw.#adminPort = await gw.#admin.start(config.admin.port, config.admin.host);
    } catch (err) {
      await gw.stop();
      throw err;
    }
    deps.log.info({ gatewayId: config.gateway.id, db: config.storage.path }, "gateway started");
    return gw;
  }

  /** Registers a service; call before `start` completes (from the composition in `start`). */
  addService(service: Service): void {
    this.#services.push(service);
  }

  /** Registers a writer that runs inside every group commit (e.g. the Merkle log appender). */
  addCommitWriter(writer: CommitWriter): void {
    this.#commitWriters.push(writer);
  }

  /**
   * Makes every stored reading carry its position in the tamper-evident log: `next()` (called inside the
   * group commit) is the log's size; the batch's stored readings take the next positions in order, and
   * the log's commit writer MUST append exactly them first (see RecordLog.append).
   */
  numberReadingsFrom(next: () => number): void {
    this.#nextLeaf = next;
  }

  /** Commits an audit event durably (with the next group commit); `done` fires after the commit. */
  recordEvent(event: AuditEvent, done: (err?: Error) => void = () => {}): void {
    this.#committer.submit({ payload: { readings: [], rejections: [], events: [event] }, weight: 1, done });
  }

  get adminPort(): number {
    return this.#adminPort;
  }

  /** What `vitalog status` shows. */
  status(): Record<string, unknown> {
    const m = this.metrics;
    const services: Record<string, unknown> = {};
    for (const s of this.#services) if (s.status) services[s.name] = s.status();
    return {
      gateway: this.config.gateway.id,
      origin: this.config.gateway.origin,
      uptime_s: Math.round((this.clock.now() - this.#startedAtMs) / 1000),
      mqtt: { port: this.mqtt.port, clients: m.value("vitalog_mqtt_clients") },
      readings_accepted: m.sum("vitalog_readings_accepted_total"),
      rejections: m.sum("vitalog_rejections_total"),
      refusals: m.sum("vitalog_mqtt_refusals_total"),
      commits_failed: m.value("vitalog_commits_total", { outcome: "failed" }),
      ...services,
    };
  }

  /** Graceful stop: idempotent; flushes every pending reading before closing. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const s of [...this.#services].reverse()) {
      await s.stop().catch((err) => this.log.warn({ err, service: s.name }, "service stop failed"));
    }
    this.#committer.close();
    // let the PUBACK writes queued by the last commit reach the sockets before clients are closed
    await new Promise((resolve) => setImmediate(resolve));
    await this.mqtt.stop().catch((err) => this.log.warn({ err }, "mqtt stop"));
    await this.#admin.stop().catch(() => {});
    this.db.close();
    this.log.info("gateway stopped");
  }
}
