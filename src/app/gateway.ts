/**
 * The composition root: the one module that knows every subsystem. `Gateway.start` builds each part from its
 * `createX(deps)` (a config slice and the ports it needs), adds what the part returns (services, commit
 * writers, ingest listeners, health checks, principals) where it belongs, and starts them in order; `stop`
 * undoes it in reverse. The returned handle is what the CLI, the demo and the tests hold.
 *
 * Start: instance lock → database → control socket → store → registry → ingest → log → anchoring → alerting
 * → drivers → commit thread → devices from config → MQTT → services (in the order above) → admin HTTP.
 * Stop: services (reverse) → flush the last group commit (so pending PUBACKs go out) → close clients →
 * commit thread → close the database → release the instance lock.
 */
import { dirname } from "node:path";
import { AdminServer, adminAccessOf } from "../admin-server.js";
import { type AnchorParts, createAnchor } from "../anchor/create-anchor.js";
import type { CommitWriterSpec } from "../batcher/commit/commit-writer.js";
import { DiskWatermark } from "../batcher/commit/disk-watermark.js";
import type { GroupCommitter } from "../batcher/commit/group-commit.js";
import { ReadingStore } from "../batcher/commit/reading-store.js";
import { createTlog, type TlogParts } from "../batcher/tlog/create-tlog.js";
import { assertCurrentLogFormat } from "../batcher/tlog/tlog-schema.js";
import type { Clock } from "../clock.js";
import { type Config, readSecretFile } from "../config.js";
import { ControlServer } from "../control/control-socket.js";
import {
  type AuditEvent,
  ControlRefusal,
  type DeviceDirectory,
  type EventRecorder,
  type WriteCommands,
} from "../core/ports.js";
import { Lifecycle, type Service } from "../core/service.js";
import { type Db, openDatabase } from "../db.js";
import { Admission } from "../drivers/admission.js";
import { createDrivers } from "../drivers/create-drivers.js";
import { type LoadedDefinition, loadDefinitionPackages } from "../drivers/definition-loader.js";
import { DeviceRegistry } from "../drivers/device-registry.js";
import { type CommitBatch, Ingest } from "../drivers/ingest.js";
import { createMqttDriver } from "../drivers/mqtt/create-mqtt-driver.js";
import { aedesPublisher } from "../drivers/mqtt/local-publisher.js";
import type { MqttTransport } from "../drivers/mqtt/mqtt-transport.js";
import { GatewayError } from "../errors.js";
import { errorText, Health } from "../health.js";
import { DEVICE_ID_PATTERN, USER_ID_PATTERN } from "../identifiers.js";
import { UlidFactory } from "../ids.js";
import { InstanceLock } from "../instance-lock.js";
import type { Logger } from "../log.js";
import { Metrics } from "../metrics.js";
import { MIGRATIONS } from "../migrations.js";
import { createRules, type RulesHandle } from "../rules/create-rules.js";
import { createUserDirectory } from "../users/create-users.js";
import { type CommitPath, createCommitPath } from "./commit-path.js";
import { registerGatewayMetrics } from "./gateway-metrics.js";

/** How often every live MQTT session is checked against its device's current binding and credential. */
const SESSION_SWEEP_MS = 5000;

/** What `Gateway.start` takes besides the configuration. */
export interface GatewayDeps {
  readonly log: Logger;
  readonly clock: Clock;
  /** Makes the ids of new alerts (tests inject predictable ones, as they inject the clock); default random UUIDs. */
  readonly newAlertId?: () => string;
  /** The vendor definitions `loadGatewayConfig` loaded with the config (loaded at start when absent). */
  readonly definitions?: readonly LoadedDefinition[];
  /**
   * How long a batch that meets another connection's write lock is kept and retried before it fails
   * (GroupCommitter `busyGiveUpMs`; its default when absent). Tests set it so they do not depend on the default.
   */
  readonly busyGiveUpMs?: number;
}

/** The running gateway, as the composition root built it. */
export class Gateway {
  readonly config: Readonly<Config>;
  readonly metrics = new Metrics({ processMetrics: true });
  /** The named checks behind /healthz; each part returns its own, added here by the composition. */
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
  /** The audit-event port every part records through (into the group commit). */
  readonly events: EventRecorder;
  /** The write-command port: typed writes applied by the commit thread (outbox marks, checkpoint signing). */
  readonly writes: WriteCommands;
  /** The device-directory port (the registry, with the change listeners the parts registered). */
  readonly devices: DeviceDirectory;
  /** Alerting: the rule engine, the alert store and sinks, the command processor. */
  rules!: RulesHandle;
  /** The tamper-evident log; undefined when `tlog.enabled` is false. */
  tlog: TlogParts["tlog"] | undefined;
  /** Anchoring; undefined when `anchor.enabled` is false. */
  anchor: AnchorParts["anchor"] | undefined;
  readonly #commitPath: CommitPath;
  readonly #committer: GroupCommitter<CommitBatch>;
  readonly #admin: AdminServer;
  readonly #lifecycle: Lifecycle;
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
    this.#startedAtMs = deps.clock.now();
    this.#lifecycle = new Lifecycle(deps.log);
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
    this.#commitPath = createCommitPath({
      storage: config.storage,
      busyGiveUpMs: deps.busyGiveUpMs,
      clock: deps.clock,
      log: deps.log,
      metrics: this.metrics,
      onBindingChanged: (deviceId) => {
        this.mqtt.revalidateSessions(deviceId);
        this.#tellDeviceChanged(deviceId);
      },
    });
    this.#committer = this.#commitPath.committer;
    this.events = {
      record: (event, done) => this.recordEvent(event, done),
      barrier: () => this.commitBarrier(),
    };
    this.writes = {
      submit: (writer, command, done = () => {}, options = {}) =>
        this.#committer.submit({
          payload: { readings: [], rejections: [], commands: [{ writer, command, ...options }] },
          weight: 1,
          done,
        }),
    };
    this.devices = {
      list: () => this.registry.list(),
      get: (deviceId) => this.registry.get(deviceId),
      onChanged: (listener) => {
        this.#deviceChangeListeners.push(listener);
      },
    };
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
    this.mqtt = createMqttDriver({
      config: config.mqtt,
      limits: config.ingest,
      registry: this.registry,
      ingest: this.ingest,
      admission: this.admission,
      clock: deps.clock,
      log: deps.log,
      metrics: this.metrics,
      definitions: deps.definitions,
    });
    this.#addHealthChecks(this.#commitPath.healthChecks);
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

  static async start(config: Readonly<Config>, given: GatewayDeps): Promise<Gateway> {
    // the vendor definitions, loaded once for every driver (MQTT, BLE, serial) when the caller did not load
    // them with the config (loadGatewayConfig does)
    const deps: GatewayDeps = {
      ...given,
      definitions:
        given.definitions ??
        (await loadDefinitionPackages(config.drivers.packages, {
          packagesFrom: config.drivers.packagesFrom,
        })),
    };
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
      await gw.#compose(deps);
      await gw.#commitPath.thread.start();
      await gw.storageWatermark.start();
      await gw.#applyConfigDevices();
      await gw.mqtt.start();
      gw.#startSessionSweep();
      await gw.#lifecycle.start();
      if (config.admin.port !== 0)
        gw.#adminPort = await gw.#admin.start(config.admin.port, config.admin.host);
    } catch (err) {
      await gw.stop();
      throw err;
    }
    deps.log.info({ gatewayId: config.gateway.id, db: config.storage.path }, "gateway started");
    return gw;
  }

  /** Builds every part from its `createX(deps)` and adds what it returns, in dependency order. */
  async #compose(deps: GatewayDeps): Promise<void> {
    const { config, clock, log, metrics, db } = this;
    // the lock is held: a control socket file found now was left by a gateway that died, and is replaced
    this.#control.handle("devices_changed", async (args) => this.#devicesChanged(args));
    await this.#control.start();
    const shared = { db, clock, log, metrics };

    const tlogParts = createTlog({ ...shared, config, writes: this.writes });
    this.tlog = tlogParts?.tlog;
    if (tlogParts) {
      const { records } = tlogParts.tlog;
      // a binding or credential change and its log event commit together (on this connection; the
      // commit thread reads the log's size inside each of its transactions)
      this.registry.attachEventLog((events) => records.append([], events));
      this.#addParts(tlogParts);
    }

    const anchorParts = await createAnchor({
      ...shared,
      config: config.anchor,
      stateDir: config.gateway.stateDir,
      checkpoints: tlogParts && { feed: tlogParts.checkpoints, origin: tlogParts.tlog.origin },
    });
    this.anchor = anchorParts?.anchor;
    if (anchorParts) this.#addParts(anchorParts);

    // the users verified against the log at start, refreshed on `users_changed` (users/user-directory.ts)
    const users = createUserDirectory(
      { ...shared, control: this.#control },
      tlogParts?.tlog,
      log.child({ module: "rules" }),
    );
    const rulesParts = createRules({
      ...shared,
      config: { rules: config.rules, alerts: config.alerts, gatewayId: config.gateway.id },
      newAlertId: deps.newAlertId,
      events: this.events,
      writes: this.writes,
      publisher: aedesPublisher(() => this.mqtt.broker),
      devices: this.devices,
      control: this.#control,
      users,
      storageProblem: () => this.storageWatermark.problem(),
      setSubjectGate: (gate) => this.ingest.setSubjectGate(gate),
      tlog: tlogParts?.tlog,
    });
    this.rules = rulesParts.rules;
    this.#addParts(rulesParts);
    this.mqtt.setPrincipalResolver(rulesParts.principalResolver);

    const driverParts = await createDrivers({
      ...shared,
      config,
      registry: this.registry,
      ingest: this.ingest,
      admission: this.admission,
      definitions: deps.definitions,
    });
    this.#addParts(driverParts);
  }

  /** Adds what a part returned to where it belongs. */
  #addParts(parts: {
    readonly services?: readonly Service[];
    readonly commitWriters?: readonly CommitWriterSpec[];
    readonly ingestListeners?: readonly Parameters<Ingest["addListener"]>[0][];
    readonly healthChecks?: Readonly<Record<string, () => string | undefined>>;
  }): void {
    for (const w of parts.commitWriters ?? []) this.#commitPath.thread.addWriter(w);
    for (const l of parts.ingestListeners ?? []) this.ingest.addListener(l);
    this.#addHealthChecks(parts.healthChecks ?? {});
    this.#lifecycle.add(...(parts.services ?? []));
  }

  #addHealthChecks(checks: Readonly<Record<string, () => string | undefined>>): void {
    for (const [name, check] of Object.entries(checks)) this.health.register(name, check);
  }

  /** The devices the config file declares, bound (or changed) before the broker accepts anyone. */
  async #applyConfigDevices(): Promise<void> {
    const { clock, log } = this;
    for (const d of this.config.devices) {
      let outcome: string;
      try {
        outcome = await this.registry.upsert(
          { id: d.id, subjectId: d.subject, password: readSecretFile(d.passwordFile), model: d.model },
          clock.now(),
        );
      } catch (err) {
        if (!(err instanceof GatewayError && err.code === "SUBJECT_ERASED")) throw err;
        // one device declared for an erased patient must not keep the ward's gateway down; nor may it stay
        // bound to whoever it was bound to before the file changed: it is removed, and nothing it sends is kept
        await this.registry.remove(d.id, clock.now(), { via: "config" });
        log.error({ deviceId: d.id }, "device from config is bound to an erased subject: not bound");
        continue;
      }
      if (outcome !== "unchanged") log.info({ deviceId: d.id, outcome }, "device from config");
    }
  }

  /**
   * A binding changed without word on the control socket (a CLI on another host's copy, a direct database
   * edit) still ends its sessions within one sweep; the commit check refuses their frames before.
   */
  #startSessionSweep(): void {
    const sweep = () => {
      if (this.#stopped) return;
      try {
        this.mqtt.revalidateSessions();
      } catch (err) {
        // the registry unreadable (a database gone or locked): sessions stay as they are until it is back
        this.log.warn({ err: errorText(err) }, "session sweep could not read the device registry");
      }
      this.#sessionSweep = this.clock.setTimeout(sweep, SESSION_SWEEP_MS);
    };
    this.#sessionSweep = this.clock.setTimeout(sweep, SESSION_SWEEP_MS);
  }

  /**
   * Registers a writer that runs inside every group commit, in the commit thread (e.g. the Merkle log
   * appender; see batcher/commit/commit-writer.ts). Writers run in registration order; a writer that fails to
   * load fails every later commit.
   */
  addCommitWriter(spec: CommitWriterSpec): void {
    this.#commitPath.thread.addWriter(spec);
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
    this.devices.onChanged(listener);
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
    const services = this.#lifecycle.status();
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
    await this.#lifecycle.stop();
    await this.storageWatermark.stop();
    await this.#committer.close();
    // let the PUBACK writes queued by the last commit reach the sockets before clients are closed
    await new Promise((resolve) => setImmediate(resolve));
    await this.mqtt.stop().catch((err) => this.log.warn({ err }, "mqtt stop"));
    await this.#admin.stop().catch(() => {});
    await this.#control.stop().catch((err) => this.log.warn({ err }, "control socket stop"));
    await this.#commitPath.thread.close().catch((err) => this.log.warn({ err }, "commit thread close"));
    try {
      this.db.close();
    } finally {
      this.#lock.release();
    }
    this.log.info("gateway stopped");
  }
}
