import { dirname } from "node:path";
import { AdminServer, adminAccessOf } from "./admin-server.js";
import { attachAnchor } from "./anchor/attach-anchor.js";
import { attachTlog } from "./batcher/attach-tlog.js";
import { CommitThread } from "./batcher/commit-thread.js";
import { BINDING_CHANGED } from "./batcher/commit-thread-protocol.js";
import type { CommitWriterSpec } from "./batcher/commit-writer.js";
import { DiskWatermark } from "./batcher/disk-watermark.js";
import { GroupCommitter } from "./batcher/group-commit.js";
import { ReadingStore } from "./batcher/reading-store.js";
import { assertCurrentLogFormat } from "./batcher/tlog-schema.js";
import type { Clock } from "./clock.js";
import { type Config, readSecretFile } from "./config.js";
import { ControlRefusal, ControlServer } from "./control/control-socket.js";
import { type Db, openDatabase } from "./db.js";
import { Admission } from "./drivers/admission.js";
import { attachDrivers } from "./drivers/attach-drivers.js";
import { DeviceRegistry } from "./drivers/device-registry.js";
import { type AuditEvent, type CommitBatch, Ingest } from "./drivers/ingest.js";
import { MqttTransport } from "./drivers/mqtt/mqtt-transport.js";
import { GatewayError } from "./errors.js";
import { registerGatewayMetrics } from "./gateway-metrics.js";
import { CommitHealth, errorText, Health } from "./health.js";
import { DEVICE_ID_PATTERN } from "./identifiers.js";
import { UlidFactory } from "./ids.js";
import { InstanceLock } from "./instance-lock.js";
import type { Logger } from "./log.js";
import { Metrics } from "./metrics.js";
import { MIGRATIONS } from "./migrations.js";
import { attachRules } from "./rules/attach-rules.js";
import { USER_ID_PATTERN } from "./users/roles.js";

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

/** How often every live MQTT session is checked against its device's current binding and credential. */
const SESSION_SWEEP_MS = 5000;

/** What `Gateway.start` is given besides the config. */
export interface GatewayDeps {
  log: Logger;
  clock: Clock;
  newAlertId?: () => string;
  /**
   * How long a batch that meets another connection's write lock is kept and retried before it fails
   * (GroupCommitter `busyGiveUpMs`; its default when absent). Tests set it so they do not depend on the default.
   */
  busyGiveUpMs?: number;
}

/**
 * The running gateway: owns start-up and shutdown order. Start: instance lock → database → control socket →
 * store → registry → ingest → commit writers → commit thread → MQTT → services → admin HTTP. Stop: services
 * (reverse) → flush the last group commit (so pending PUBACKs go out) → close clients → commit thread → close
 * the database → release the instance lock.
 * Group commits run in the commit thread (batcher/commit-thread.ts) on a connection of their own.
 */
export class Gateway {
  readonly config: Readonly<Config>;
  readonly metrics = new Metrics({ processMetrics: true });
  /** The named checks behind /healthz; each subsystem registers its own (`health.register(name, check)`). */
  readonly health = new Health();
  readonly db: Db;
  readonly registry: DeviceRegistry;
  readonly store: ReadingStore;
  readonly ingest: Ingest;
  readonly mqtt: MqttTransport;
  /** Free space of the database's file system against `ingest.disk` (readings unacknowledged below it). */
  readonly storageWatermark: DiskWatermark;
  readonly admission: Admission;
  readonly log: Logger;
  readonly clock: Clock;
  /** Makes the ids of new alerts (tests inject predictable ones, as they inject the clock); default random UUIDs. */
  readonly newAlertId: (() => string) | undefined;
  readonly #committer: GroupCommitter<CommitBatch>;
  readonly #commitHealth: CommitHealth;
  readonly #admin: AdminServer;
  readonly #services: Service[] = [];
  readonly #thread: CommitThread;
  readonly #control: ControlServer;
  readonly #lock: InstanceLock;
  readonly #deviceChangeListeners: ((deviceId: string, by: string | null) => void)[] = [];
  #sessionSweep: unknown;
  readonly #startedAtMs: number;
  #adminPort = 0;
  #stopped = false;

  private constructor(config: Readonly<Config>, deps: GatewayDeps, lock: InstanceLock) {
    this.config = config;
    this.#lock = lock;
    this.log = deps.log;
    this.clock = deps.clock;
    this.newAlertId = deps.newAlertId;
    this.#startedAtMs = deps.clock.now();
    // a short lock wait: the event loop (alerts) must not block behind another process's write;
    // the group commit retries a locked batch instead (see GroupCommitter busyRetryMs)
    this.db = openDatabase(config.storage.path!, MIGRATIONS, {
      synchronous: config.storage.synchronous,
      busyTimeoutMs: 25,
    });
    assertCurrentLogFormat(this.db);
    this.registry = new DeviceRegistry(this.db);
    this.#control = new ControlServer(config.gateway.stateDir, { clock: deps.clock });
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
    this.#thread = new CommitThread(
      {
        dbPath: config.storage.path!,
        synchronous: config.storage.synchronous,
        busyTimeoutMs: 25,
        checkBindings: true,
      },
      deps.log.child({ module: "commit-thread" }),
    );
    this.#committer = new GroupCommitter<CommitBatch>({
      clock: deps.clock,
      maxReadings: config.storage.batchMaxReadings,
      maxDelayMs: config.storage.batchMaxDelayMs,
      busyGiveUpMs: deps.busyGiveUpMs,
      commit: async (batches) => {
        this.#commitHealth.begin();
        const outcome = await this.#thread.commit(batches, deps.clock.now());
        for (const device of outcome.duplicates) duplicates({ device });
        if (outcome.isolated.length === 0 && outcome.failed.size === 0) return outcome;
        const deviceOf = (index: number): string => {
          const b = batches[index];
          return (
            b?.readings[0]?.deviceId ?? b?.rejections[0]?.deviceId ?? b?.events?.[0]?.deviceId ?? "(unknown)"
          );
        };
        // registering a family again returns it: created when first needed
        const isolated = this.metrics.counter(
          "vitalog_commit_isolated_total",
          "Group-commit items whose content storage refused, stored as a refusal so the others commit, per device and reason",
        );
        for (const { index, reason, detail } of outcome.isolated) {
          const deviceId = deviceOf(index);
          isolated({ device: deviceId, reason });
          // a frame stamped with a binding that no longer holds: its session must not send another (closed
          // once this commit's acknowledgements, the refusal's included, are written to the sockets)
          if (reason === BINDING_CHANGED)
            setImmediate(() => {
              this.mqtt.revalidateSessions(deviceId);
              this.#tellDeviceChanged(deviceId);
            });
          this.log.warn({ deviceId, reason }, "commit item isolated: its refusal was stored instead");
          // the detail is kept with the stored refusal; a writer's message may quote content
          this.log.debug({ deviceId, reason, detail }, "commit item isolation detail");
        }
        for (const [index, err] of outcome.failed) {
          const code = (err as { code?: unknown }).code;
          this.log.warn(
            { deviceId: deviceOf(index), code, err: errorText(err) },
            "commit item not committed",
          );
        }
        return outcome;
      },
      onCommit: ({ items, weight, error, durationMs, failed }) => {
        // items failing alone (the others committed) make the commit path unhealthy as a failed commit does
        const problem =
          error ??
          (failed > 0 ? new Error(`${failed} of ${items} item(s) of a group commit failed`) : undefined);
        this.#commitHealth.observe(durationMs, problem);
        commits({ outcome: error ? "failed" : failed > 0 ? "partial" : "ok" });
        lastBatch(weight);
        if (error) this.log.error({ err: error, cause: String(error.cause) }, "group commit failed");
        else if (failed > 0) this.log.error({ failed, items }, "group commit items failed alone");
      },
    });
    this.storageWatermark = new DiskWatermark({
      dir: dirname(config.storage.path!),
      ...config.ingest.disk,
      clock: deps.clock,
      log: deps.log.child({ module: "storage" }),
    });
    this.admission = new Admission({ config: config.ingest, clock: deps.clock });
    this.ingest = new Ingest({
      storage: this.storageWatermark,
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
      admission: this.admission,
      clock: deps.clock,
      maxPendingReadings: config.ingest.maxPendingReadings,
      maxRssBytes: config.ingest.maxRssBytes,
      log: deps.log.child({ module: "mqtt" }),
      metrics: this.metrics,
    });
    this.#commitHealth = new CommitHealth({ metrics: this.metrics, clock: deps.clock });
    this.health.register("commits", () => this.#commitHealth.problem());
    this.health.register("commit_thread", () => {
      const down = this.#thread.downReason;
      return down === undefined ? undefined : `commit thread down: ${down}`;
    });
    this.health.register("storage", () => this.storageWatermark.problem());
    registerGatewayMetrics({
      metrics: this.metrics,
      registry: this.registry,
      ingest: this.ingest,
      clock: deps.clock,
      storageDir: dirname(config.storage.path!),
      startedAtMs: this.#startedAtMs,
    });
    this.#admin = new AdminServer({
      metrics: this.metrics,
      health: this.health,
      status: () => this.status(),
      log: deps.log,
      access: adminAccessOf(config.admin),
    });
  }

  static async start(config: Readonly<Config>, deps: GatewayDeps): Promise<Gateway> {
    // before the database is opened (and migrated): a second gateway on this database or this state
    // directory stops here, having written nothing (ALREADY_RUNNING, naming the first)
    const lock = InstanceLock.acquire(
      { stateDir: config.gateway.stateDir, database: config.storage.path! },
      deps.clock.now(),
    );
    let gw: Gateway;
    try {
      gw = new Gateway(config, deps, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
    try {
      // Composition: each subsystem attaches its services, ingest listeners and commit writers here,
      // in dependency order, through a function of its own module (`attachX(gw)`).
      // the lock is held: a control socket file found now was left by a gateway that died, and is replaced
      gw.#control.handle("devices_changed", async (args) => gw.#devicesChanged(args));
      await gw.#control.start();
      const tlog = attachTlog(gw);
      // a binding or credential change and its log event commit together (on this connection; the
      // commit thread reads the log's size inside each of its transactions)
      if (tlog) gw.registry.attachEventLog((events) => tlog.records.append([], events));
      await attachAnchor(gw, tlog);
      attachRules(gw, tlog);
      await attachDrivers(gw);
      await gw.#thread.start();
      await gw.storageWatermark.start();
      for (const d of config.devices) {
        let outcome: string;
        try {
          outcome = await gw.registry.upsert(
            { id: d.id, subjectId: d.subject, password: readSecretFile(d.passwordFile), model: d.model },
            deps.clock.now(),
          );
        } catch (err) {
          if (!(err instanceof GatewayError && err.code === "SUBJECT_ERASED")) throw err;
          // one device declared for an erased patient must not keep the ward's gateway down; nor may it stay
          // bound to whoever it was bound to before the file changed: it is removed, and nothing it sends is kept
          await gw.registry.remove(d.id, deps.clock.now(), { via: "config" });
          deps.log.error({ deviceId: d.id }, "device from config is bound to an erased subject: not bound");
          continue;
        }
        if (outcome !== "unchanged") deps.log.info({ deviceId: d.id, outcome }, "device from config");
      }
      await gw.mqtt.start();
      // a binding changed without word on the control socket (a CLI on another host's copy, a direct
      // database edit) still ends its sessions within one sweep; the commit check refuses their frames before
      const sweep = () => {
        if (gw.#stopped) return;
        try {
          gw.mqtt.revalidateSessions();
        } catch (err) {
          // the registry unreadable (a database gone or locked): sessions stay as they are until it is back
          gw.log.warn({ err: errorText(err) }, "session sweep could not read the device registry");
        }
        gw.#sessionSweep = deps.clock.setTimeout(sweep, SESSION_SWEEP_MS);
      };
      gw.#sessionSweep = deps.clock.setTimeout(sweep, SESSION_SWEEP_MS);
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

  /**
   * Registers a writer that runs inside every group commit, in the commit thread (e.g. the Merkle log
   * appender; see batcher/commit-writer.ts). Writers run in registration order; a writer that fails to
   * load fails every later commit.
   */
  addCommitWriter(spec: CommitWriterSpec): void {
    this.#thread.addWriter(spec);
  }

  /**
   * Resolves once everything submitted to the group commit before this call is committed (or failed: then it
   * rejects). Commits run in submission order, so an empty item submitted now is done after all of them.
   */
  commitBarrier(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#committer.submit({
        payload: { readings: [], rejections: [] },
        weight: 1,
        done: (err) => (err ? reject(err) : resolve()),
      });
      this.#committer.flush();
    });
  }

  /**
   * Registers a listener told the id of a device whose binding or credential may have changed (a
   * `devices_changed` request, or a frame refused at commit because its binding no longer holds). It re-reads
   * the registry itself. `by`: the user who made the change, when a `vitalog devices … --by USER` command said
   * so (null otherwise). Listeners MUST NOT throw (a throw is logged).
   */
  onDeviceChanged(listener: (deviceId: string, by: string | null) => void): void {
    this.#deviceChangeListeners.push(listener);
  }

  #tellDeviceChanged(deviceId: string, by: string | null = null): void {
    for (const listener of this.#deviceChangeListeners) {
      try {
        listener(deviceId, by);
      } catch (err) {
        this.log.error({ deviceId, err: errorText(err) }, "device change listener failed");
      }
    }
  }

  /** Commits an audit event durably (with the next group commit); `done` fires after the commit. */
  recordEvent(event: AuditEvent, done: (err?: Error) => void = () => {}): void {
    this.#committer.submit({ payload: { readings: [], rejections: [], events: [event] }, weight: 1, done });
  }

  /**
   * `devices_changed { device_id, by? }` on the control socket, sent by a `vitalog devices` command after it
   * changed a binding or a credential: every live session of that device whose binding or credential no
   * longer holds is closed now. The daemon re-reads the registry itself; the request only says where to look.
   */
  #devicesChanged(args: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const deviceId = args.device_id;
    if (typeof deviceId !== "string" || !DEVICE_ID_PATTERN.test(deviceId)) {
      throw new ControlRefusal("bad_request", "device_id must be a device id");
    }
    const by = args.by ?? null;
    if (by !== null && (typeof by !== "string" || !USER_ID_PATTERN.test(by))) {
      throw new ControlRefusal("bad_request", "by must be a user id");
    }
    const closed = this.mqtt.revalidateSessions(deviceId);
    this.#tellDeviceChanged(deviceId, by);
    return { sessions_closed: closed };
  }

  get adminPort(): number {
    return this.#adminPort;
  }

  /** The local control socket: subsystems register the ops a `vitalog` command sends to the running daemon. */
  get control(): ControlServer {
    return this.#control;
  }

  /**
   * What `vitalog status` shows: counts and states, never patient data (no subject ids). Never throws: each
   * part is computed on its own and a part that throws (e.g. a tile store whose edge no longer matches its
   * root) shows as `{ error }`, so the rest stays visible when it matters most.
   */
  status(): Record<string, unknown> {
    const m = this.metrics;
    const part = (f: () => unknown): unknown => {
      try {
        return f();
      } catch (err) {
        return { error: errorText(err) };
      }
    };
    const services: Record<string, unknown> = {};
    for (const s of this.#services) if (s.status) services[s.name] = part(() => s.status!());
    return {
      gateway: this.config.gateway.id,
      origin: this.config.gateway.origin,
      uptime_s: Math.round((this.clock.now() - this.#startedAtMs) / 1000),
      health: part(() => this.health.report()),
      mqtt: part(() => ({
        port: this.mqtt.port,
        tls_port: this.mqtt.tlsPort,
        clients: m.value("vitalog_mqtt_clients"),
      })),
      readings_accepted: part(() => m.sum("vitalog_readings_accepted_total")),
      rejections: part(() => m.sum("vitalog_rejections_total")),
      refusals: part(() => m.sum("vitalog_mqtt_refusals_total")),
      commits_failed: part(() => m.value("vitalog_commits_total", { outcome: "failed" })),
      ...services,
    };
  }

  /** Graceful stop: idempotent; flushes every pending reading before closing. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.clock.clearTimeout(this.#sessionSweep);
    for (const s of [...this.#services].reverse()) {
      await s.stop().catch((err) => this.log.warn({ err, service: s.name }, "service stop failed"));
    }
    await this.storageWatermark.stop();
    await this.#committer.close();
    // let the PUBACK writes queued by the last commit reach the sockets before clients are closed
    await new Promise((resolve) => setImmediate(resolve));
    await this.mqtt.stop().catch((err) => this.log.warn({ err }, "mqtt stop"));
    await this.#admin.stop().catch(() => {});
    await this.#control.stop().catch((err) => this.log.warn({ err }, "control socket stop"));
    await this.#thread.close().catch((err) => this.log.warn({ err }, "commit thread close"));
    try {
      this.db.close();
    } finally {
      this.#lock.release();
    }
    this.log.info("gateway stopped");
  }
}
