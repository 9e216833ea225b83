/**
 * The ports through which a subsystem reaches what the composition root (app/) gives it. Each is an
 * interface with its contract; the root passes an implementation in the subsystem's `createX(deps)`, and
 * unit tests pass a stand-in. Nothing here knows a subsystem: the types are structural.
 */

/**
 * An audit event: a fact the gateway records about itself (an alert transition, a device binding, a
 * user change …), committed in the tamper-evident log with the readings. `type` is a snake_case wire
 * string, only ever added to; `data` is JSON.
 */
export interface AuditEvent {
  type: string;
  atMs: number;
  subjectId: string | null;
  deviceId: string | null;
  data: Readonly<Record<string, unknown>>;
}

/**
 * Records audit events durably, with the next group commit (into the database and, when it is on, the
 * tamper-evident log).
 *
 * - `record` MUST NOT block or throw: it queues the event and returns. `done` is called once, after the
 *   commit that holds the event (with an error when that commit failed), never before.
 * - Events are committed in the order they were recorded.
 * - `barrier` resolves once everything recorded (and every reading submitted) before the call is
 *   committed, and rejects when that commit failed.
 */
export interface EventRecorder {
  record(event: AuditEvent, done?: (err?: Error) => void): void;
  barrier(): Promise<void>;
}

/**
 * Publishes on the embedded MQTT broker, to the gateway's own subscribers (alert consumers, pages).
 *
 * - `publish` MUST NOT block or wait for any disk, network or ledger: the message is handed to the
 *   in-process broker synchronously. `done`, when given, is called once the broker has handled it (with
 *   the broker's error, if any).
 * - It MAY throw before the broker is up (a caller that must not lose the message retries or keeps it).
 */
export interface LocalPublisher {
  publish(
    topic: string,
    payload: string | Uint8Array,
    options: { qos: 0 | 1; retain: boolean },
    done?: (err?: Error) => void,
  ): void;
}

/**
 * Typed write commands for the database's one writer, the commit thread: each goes, in submission order, into
 * the next group commit's transaction, to the commit writer named `writer`, which applies it after that
 * commit's readings and events.
 *
 * - `submit` MUST NOT block or throw. `done` is called once, after the commit that holds the command (with an
 *   error when it failed), never before.
 * - A command is a structured-cloneable value whose shape the named writer defines.
 */
export interface WriteCommands {
  submit(writer: string, command: unknown, done?: (err?: Error) => void, options?: WriteOptions): void;
}

/** How a write command is committed. */
export interface WriteOptions {
  /**
   * Commit it with a full sync of the log (SQLite `synchronous = FULL`) whatever the configured policy: for
   * what is published once committed (a signed checkpoint) and must survive a power cut.
   */
  readonly fullSync?: boolean;
}

/** A signed checkpoint as the feed hands it on (sizes come from signed checkpoints only). */
export interface CheckpointHead {
  readonly size: number;
  readonly root: Uint8Array;
  /** The signed note exactly as signed (C2SP signed-note). */
  readonly note: string;
  readonly keyId: string;
  readonly signedAtMs: number;
}

/**
 * Signed checkpoints of the tamper-evident log, as they are made.
 *
 * - A listener is told each new checkpoint once, after it is durably stored, in signing order, on the
 *   main thread. It MUST NOT block or throw (a throw is logged and the other listeners are still told).
 * - `latest` is the newest stored checkpoint (undefined before the first one).
 */
export interface CheckpointFeed {
  onCheckpoint(listener: (checkpoint: CheckpointHead) => void): void;
  latest(): CheckpointHead | undefined;
}

/** One device as the directory knows it: who it is bound to. */
export interface DeviceBinding {
  readonly id: string;
  readonly subjectId: string;
  readonly model?: string | null;
}

/**
 * The devices the gateway accepts and the patients (subjects) they are bound to.
 *
 * - `list` and `get` read the current bindings (a change committed by any process is visible at once).
 * - A change listener is told the id of a device whose binding or credential may have changed (a
 *   `vitalog devices` command, a frame refused at commit because its binding no longer holds) and the
 *   user who made the change when known (null otherwise). It re-reads the directory itself. Listeners
 *   MUST NOT throw (a throw is logged and the others are still told).
 */
export interface DeviceDirectory {
  list(): readonly DeviceBinding[];
  get(deviceId: string): DeviceBinding | undefined;
  onChanged(listener: (deviceId: string, by: string | null) => void): void;
}

/**
 * An authenticated non-device MQTT principal (an alert consumer, a ward station). Devices never get one.
 */
export interface MqttPrincipal {
  readonly id: string;
  /** May subscribe to this topic filter (exact match against its own allowed filters). */
  maySubscribe(topicFilter: string): boolean;
  /**
   * Handles one PUBLISH of the principal. Returns false to refuse the topic (the client is disconnected).
   * MUST NOT throw and MUST NOT block (replies are published asynchronously).
   */
  onPublish(topic: string, payload: Buffer): boolean;
  /** Told once the broker has forgotten this principal's connection (it may be told twice). MUST NOT throw. */
  onClose?(): void;
  /** Told the filters this principal unsubscribed from. MUST NOT throw. */
  onUnsubscribe?(topicFilters: readonly string[]): void;
}

/**
 * Resolves the broker's non-device principals (consumers of alerts). The broker asks it first for every
 * username it `owns`; device usernames are never owned.
 */
export interface PrincipalResolver {
  owns(username: string): boolean;
  /** Resolves the principal when the password matches, else null. MUST NOT reject. */
  authenticate(username: string, password: string): Promise<MqttPrincipal | null>;
}

/**
 * A handler of one operation on the daemon's local control socket (used by `vitalog` commands that act on
 * the running daemon). It MUST validate its arguments and reject with a {@link ControlRefusal} naming
 * why; any other rejection is answered as an internal error.
 */
export type ControlHandler = (args: Readonly<Record<string, unknown>>) => Promise<Record<string, unknown>>;

/** A refusal a control handler answers with: `code` is a snake_case wire string. */
export class ControlRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A health check: the problem, in one line of plain text without patient data, or undefined when the part
 * is doing its job. MUST be synchronous and cheap (it runs on every /healthz). A check that throws counts
 * as failing, with its error as the problem.
 */
export type HealthCheck = () => string | undefined;

/**
 * Where a module registers the control operations it answers (the composition root serves them on the
 * daemon's control socket). One handler per op: registering an op twice MUST throw a `TypeError`.
 */
export interface ControlOps {
  handle(op: string, handler: ControlHandler): void;
}
