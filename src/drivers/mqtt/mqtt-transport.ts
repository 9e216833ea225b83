import { readFileSync } from "node:fs";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, TLSSocket } from "node:tls";
import {
  Aedes,
  type AuthenticateError,
  type Client,
  type ConnectPacket,
  type PublishPacket,
  type Subscription,
} from "aedes";
import type { Clock } from "../../clock.js";
import type { Config } from "../../config.js";
import type { MqttPrincipal, PrincipalResolver } from "../../core/ports.js";
import { DEVICE_ID_PATTERN } from "../../identifiers.js";
import type { Logger } from "../../log.js";
import type { Metrics } from "../../metrics.js";
import type { Admission } from "../admission.js";
import type { DeviceRegistry } from "../device-registry.js";
import type { Source } from "../ingest.js";
import type { MqttDeviceDefinition } from "../mqtt-definition.js";
import type { DecodeResult } from "../profiles/decode-result.js";
import { RefusalLog } from "../refusal-log.js";
import { isCataloguedReason, type RejectionReason } from "../rejection-reasons.js";
import { type Driver, type DriverSink, safeDecode } from "../sdk.js";
import { AuthThrottle } from "./auth-throttle.js";
import { brokerRefusalReason, CountedRefusal } from "./broker-refusals.js";
import { FairQueue } from "./fair-queue.js";
import { defaultMaxPacketBytes, PacketGuard, type PacketLimits } from "./packet-guard.js";
import { PendingConnections, sourceKey } from "./pending-connections.js";
import { ReadGate } from "./read-gate.js";
import { tlsHandshakeRefusal } from "./tls-refusals.js";

/** Where a device may listen for explanations of its refused payloads. */
export const REJECTED_SUFFIX = "rejected";

/**
 * What the driver reads of ingest besides the sink: the commit backlog (back-pressure) and the count of frames
 * it did not admit (held back over the device's budget, never stored).
 */
export interface MqttIngestBacklog {
  readonly pendingWeight: number;
  countNotAdmitted(source: Source, reason: string): void;
}

/** Most authentications (scrypt, ~16 MiB each) running at once; more wait in a queue, in turn per source address. */
const MAX_CONCURRENT_AUTH = 4;
/**
 * How long a stop waits for the broker to close its clients before it cuts their connections: a graceful stop
 * has nothing left to deliver by then (held frames were withheld, the last commit flushed), and systemd's stop
 * should take seconds, not whatever the slowest client allows.
 */
const STOP_GRACE_MS = 500;
/** Most authentications waiting; beyond it connections are refused as busy (a reconnect storm or an attack). */
const MAX_QUEUED_AUTH = 512;

interface DeviceSession {
  deviceId: string;
  subjectId: string;
  /** The device's model at authentication (selects its admission budget). */
  model: string | null;
  /** The stored password hash the session authenticated against: a new one ends the session. */
  credential: string | undefined;
  /** Readings and refusals of this connection waiting for their group commit. */
  pendingWeight: number;
  /** Whether "connected" was reported to the sink and "disconnected" not yet. */
  isReported: boolean;
  /** Frames over the device's budget, in arrival order, waiting for it to admit them (the socket is not read meanwhile). */
  held: HeldFrame[];
  heldTimer: NodeJS.Timeout | null;
}

interface HeldFrame {
  readings: number;
  run: () => void;
  withhold: (reason: RejectionReason) => void;
}

/**
 * Frames of one connection held at most (one socket read's worth of small PUBLISHes fits): beyond, the
 * gateway is not reading the socket anyway, so more can only come from a read already done.
 */
const MAX_HELD_FRAMES = 1024;
/**
 * Most seconds of a device's budget held at once. Beyond, frames are not held but withheld (the device
 * keeps them and re-sends after reconnecting): the socket is read again within this time, so a device
 * that went away is noticed (its end of stream is only seen when the socket is read).
 */
const MAX_HOLD_SEC = 2;

/** aedes keeps received QoS 2 packets until PUBREL in its persistence (not in its type declarations). */
interface AedesWithPersistence {
  persistence: { incomingGetPacket(client: Client, packet: PublishPacket): Promise<unknown> };
}

const EMPTY_PAYLOAD = Buffer.alloc(0);

/** Readings in flight from which a client counts as heavy while memory is over its bound. */
const MEMORY_HEAVY_READINGS = 256;

/** A refusal reason given by a caller: a bounded snake_case wire string. */
const REASON_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/** Gate reasons (read-gate.ts). */
const GATE_RATE = "rate";
const GATE_QUEUE = "queue";

/**
 * The embedded MQTT broker (aedes) as the driver of MQTT devices (the `Driver` contract of ../sdk.ts):
 * authenticates devices against the registry, lets each publish only under its own topics, decodes each
 * payload with the definition its topic names (mqtt-definition.ts: SenML and plain JSON built in, vendor
 * formats from packages), hands frames to the `DriverSink` and sends the QoS 1 PUBACK only after the sink's
 * `done` (the frame's group commit).
 *
 * Devices connect to the driver, so it never retries on their behalf: a lost connection is reported
 * "disconnected" and the device reconnects with its own back-off. A connection refused before authentication
 * (bad password, throttled, malformed …) is counted in `vitalog_mqtt_refusals_total` by reason, not reported to
 * the sink: a storm of them must cost neither the log nor the database.
 */
export class MqttTransport implements Driver {
  readonly transport = "mqtt";
  readonly #cfg: Config["mqtt"];
  readonly #registry: DeviceRegistry;
  readonly #backlog: MqttIngestBacklog;
  readonly #sink: DriverSink;
  /** Definitions by the topic level they decode. */
  readonly #byTopic: ReadonlyMap<string, MqttDeviceDefinition>;
  readonly #log: Logger;
  readonly #refusals;
  readonly #revoked;
  /** When an unreadable registry was last logged (at most once a minute). */
  #registryWarnedAtMs = Number.NEGATIVE_INFINITY;
  readonly #connected;
  #broker: Aedes | undefined;
  readonly #servers: Server[] = [];
  #plainServer: Server | undefined;
  #tlsServer: Server | undefined;
  readonly #sessions = new WeakMap<Client, DeviceSession>();
  /** Authenticated device connections by device id, until their socket closes (closeDeviceSessions). */
  readonly #liveSessions = new Map<string, Set<Client>>();
  readonly #principals = new WeakMap<Client, MqttPrincipal>();
  #resolver: PrincipalResolver | undefined;
  readonly #authQueue = new FairQueue({ concurrency: MAX_CONCURRENT_AUTH, maxWaiting: MAX_QUEUED_AUTH });
  readonly #throttle: AuthThrottle;
  /** Connections that have not authenticated yet, capped in total and per source address. */
  readonly #pending: PendingConnections<Socket>;
  /** Every accepted connection until it closes (ended at stop, so the listeners can close). */
  readonly #sockets = new Set<Socket>();
  readonly #packetLimits: PacketLimits;
  readonly #guards = new WeakMap<Client, PacketGuard>();
  readonly #admission: Admission;
  readonly #clock: Clock;
  readonly #refusalLog: RefusalLog;
  readonly #maxPending: number;
  readonly #gates = new WeakMap<Client, ReadGate>();
  /** Clients held back because the commit queue is over its bound. */
  readonly #queueGated = new Set<Client>();
  /** Sessions with held frames (so a shutdown can withhold them at once). */
  readonly #holding = new Map<DeviceSession, Client>();
  #drainTimer: NodeJS.Timeout | undefined;
  readonly #maxRssBytes: number;
  #rss = 0;
  #rssReadAt = Number.NEGATIVE_INFINITY;
  /**
   * QoS 2 PUBLISHes being ingested, per client id and packet id, with whether they were accepted: a DUP
   * re-send that arrives before aedes has stored the first one waits for it instead of being ingested again.
   */
  readonly #qos2InFlight = new Map<string, Map<number, Promise<boolean>>>();
  /** The source of the frame being handed to the sink, for the length of that synchronous call. */
  #inHand: Source | undefined;
  readonly #withheld;
  readonly #delayed;
  readonly #backpressure;
  readonly #internalErrors;

  constructor(deps: {
    config: Config["mqtt"];
    registry: DeviceRegistry;
    /** Where frames go: the one ingest path of every driver (ingest-sink.ts). */
    sink: DriverSink;
    backlog: MqttIngestBacklog;
    /** The payload formats, one per topic level (a duplicate topic is a TypeError: config checks it first). */
    definitions: readonly MqttDeviceDefinition[];
    admission: Admission;
    clock: Clock;
    /** Commit-queue bound (readings and refusals) beyond which the heaviest senders are no longer read. */
    maxPendingReadings: number;
    /** Process RSS beyond which the heaviest senders are no longer read. */
    maxRssBytes: number;

    log: Logger;
    metrics: Metrics;
  }) {
    this.#cfg = deps.config;
    this.#registry = deps.registry;
    this.#sink = deps.sink;
    this.#backlog = deps.backlog;
    const byTopic = new Map<string, MqttDeviceDefinition>();
    for (const d of deps.definitions) {
      if (byTopic.has(d.match.topic)) throw new TypeError(`two MQTT definitions for topic ${d.match.topic}`);
      byTopic.set(d.match.topic, d);
    }
    this.#byTopic = byTopic;
    this.#admission = deps.admission;
    this.#clock = deps.clock;
    this.#refusalLog = new RefusalLog({ log: deps.log, clock: deps.clock });
    this.#maxPending = deps.maxPendingReadings;
    this.#maxRssBytes = deps.maxRssBytes;

    this.#log = deps.log;
    this.#throttle = new AuthThrottle(
      { freeFailures: deps.config.authFreeFailures, backoffMaxMs: deps.config.authBackoffMaxMs },
      deps.clock,
    );
    this.#pending = new PendingConnections<Socket>(
      { maxTotal: deps.config.maxUnauthenticated, maxPerAddress: deps.config.maxUnauthenticatedPerAddress },
      (socket, reason) => {
        this.#refuse(reason, { remote: socket.remoteAddress });
        socket.destroy();
      },
      () => deps.clock.now(),
    );
    this.#packetLimits = {
      maxConnectBytes: deps.config.maxConnectBytes,
      maxPacketBytes: deps.config.maxPacketBytes ?? defaultMaxPacketBytes(deps.config.maxPayloadBytes),
      packetTimeoutMs: deps.config.packetTimeoutMs,
    };
    this.#withheld = deps.metrics.counter(
      "vitalog_mqtt_ack_withheld_total",
      "PUBLISHes neither acknowledged nor stored (the device keeps QoS 1/2 data; QoS 0 is dropped), per reason and QoS",
    );
    this.#backpressure = deps.metrics.counter(
      "vitalog_mqtt_backpressure_total",
      "Times a client's socket stopped being read because the commit queue was over its bound",
    );
    this.#delayed = deps.metrics.counter(
      "vitalog_mqtt_frames_held_total",
      "PUBLISHes held unacknowledged (their socket not read) until the device was within its budget, per reason",
    );
    this.#internalErrors = deps.metrics.counter(
      "vitalog_mqtt_publish_errors_total",
      "PUBLISHes whose handling threw: refused without acknowledgement, the connection kept",
    );
    this.#revoked = deps.metrics.counter(
      "vitalog_mqtt_sessions_revoked_total",
      "Live device sessions closed because the device was removed, re-bound or given a new password, by reason",
    );
    this.#refusals = deps.metrics.counter(
      "vitalog_mqtt_refusals_total",
      "MQTT connections and packets refused, per reason",
    );
    this.#connected = deps.metrics.gauge("vitalog_mqtt_clients", "Connected MQTT clients");
  }

  /** The embedded broker, for other modules that publish (alerts) once started. */
  get broker(): Aedes {
    if (!this.#broker) throw new TypeError("MQTT transport not started");
    return this.#broker;
  }

  /** Installs the resolver of non-device principals (alert consumers); call before `start`. */
  setPrincipalResolver(resolver: PrincipalResolver): void {
    this.#resolver = resolver;
  }

  /** Bound TCP port of the plain listener (useful with port 0); 0 when there is none (`mqtt.plain: false`). */
  get port(): number {
    return (this.#plainServer?.address() as AddressInfo | null | undefined)?.port ?? 0;
  }

  /** Bound TCP port of the TLS listener, when there is one. */
  get tlsPort(): number | undefined {
    return (this.#tlsServer?.address() as AddressInfo | null | undefined)?.port;
  }

  async start(): Promise<void> {
    const broker = await Aedes.createBroker({
      maxClientsIdLength: 64,
      // QoS 2 packets awaiting PUBREL per connection (aedes' default is 1,000)
      maxInflightInbound: 64,
      // a client that has not sent its CONNECT by then is closed (connect_timeout)
      connectTimeout: this.#cfg.connectTimeoutMs,
      preConnect: (client, packet, done) => {
        this.#pending.markConnected(client.conn as Socket);
        this.#dropWill(client, packet);
        done(null, true);
      },
      authenticate: (client, username, password, done) =>
        this.#authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.#authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => this.#authorizeSubscribe(client, sub, done),
    });
    this.#broker = broker;
    broker.on("client", () => this.#connected(broker.connectedClients));
    broker.on("clientDisconnect", () => this.#connected(broker.connectedClients));
    broker.on("clientError", (client, err) => {
      this.#log.debug({ clientId: client.id, err: err.message }, "client error");
      this.#countBrokerRefusal(client, err);
    });
    broker.on("connectionError", (client, err) => {
      this.#log.debug({ err: err.message }, "connection error");
      this.#countBrokerRefusal(client, err);
    });

    const accept = (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
      // counted (and the oldest waiting connection over a cap closed) before the broker reads a byte
      this.#pending.add(socket, sourceKey(socket.remoteAddress));
      const client = broker.handle(socket) as unknown as Client;
      const gate = ReadGate.install(client);
      this.#gates.set(client, gate);
      const guard = PacketGuard.install(client, {
        limits: this.#packetLimits,
        clock: this.#clock,
        isReadHeld: () => gate.isClosed || PacketGuard.isBrokerNotReading(client),
        onRefuse: (reason) => {
          this.#refuse(reason, { clientId: client.id, remote: socket.remoteAddress });
          socket.destroy();
        },
      });
      this.#guards.set(client, guard);
      socket.once("close", () => {
        this.#pending.delete(socket);
        guard.stop();
      });
    };
    broker.on("clientDisconnect", (client) => this.#forgetClient(client));
    broker.on("unsubscribe", (filters, client) => this.#principals.get(client)?.onUnsubscribe?.(filters));
    broker.on("clientError", (client) => this.#forgetClient(client));
    if (this.#cfg.plain) {
      const plain = createServer({ noDelay: true }, accept);
      await listen(plain, this.#cfg.port, this.#cfg.host);
      this.#servers.push(plain);
      this.#plainServer = plain;
      this.#log.info({ host: this.#cfg.host, port: this.port }, "mqtt listening");
    }
    const tls = this.#cfg.tls;
    if (tls) {
      const secure = createTlsServer(
        {
          cert: readFileSync(tls.certFile),
          key: readFileSync(tls.keyFile),
          ...(tls.caFile ? { ca: readFileSync(tls.caFile) } : {}),
          requestCert: tls.requireClientCert,
          rejectUnauthorized: tls.requireClientCert,
          minVersion: "TLSv1.2",
          // a TLS handshake is as unauthenticated as a missing CONNECT, and gets the same deadline
          handshakeTimeout: this.#cfg.connectTimeoutMs,
        },
        accept,
      );
      // a handshake that ends without a connection (untrusted or missing certificate, deadline, not TLS) is a
      // refusal before authentication like the others: counted by a bounded reason, never left open
      secure.on("tlsClientError", (err, socket) => {
        this.#refuse(tlsHandshakeRefusal(err, socket), {
          remote: socket.remoteAddress,
          detail: socket.authorizationError
            ? String(socket.authorizationError)
            : (err as { code?: unknown }).code,
        });
        socket.destroy();
      });
      await listen(secure, tls.port, tls.host);
      this.#servers.push(secure);
      this.#tlsServer = secure;
      this.#log.info({ host: tls.host, port: this.tlsPort }, "mqtts listening");
    }
  }

  /** Stops accepting connections, then closes every client. Call after the last commit was flushed. */
  async stop(): Promise<void> {
    if (this.#drainTimer) clearInterval(this.#drainTimer);
    this.#drainTimer = undefined;
    // nothing held is acknowledged at shutdown: the devices keep it and re-send after the restart
    for (const [session, client] of [...this.#holding]) {
      if (session.heldTimer) clearTimeout(session.heldTimer);
      session.heldTimer = null;
      for (const h of session.held.splice(0)) h.withhold("shutting_down");
      this.#holding.delete(session);
      this.#gates.get(client)?.open(GATE_RATE);
    }
    // a listener's close completes only once every connection it accepted has ended: stop accepting, close
    // the broker's clients, end whatever is left (a connection still in its TLS handshake), then wait
    const listenersClosed = Promise.all(
      this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    );
    const broker = this.#broker;
    if (broker) {
      // the broker closes its clients one by one and may wait on a client that does not read (a stalled nurse
      // station): a stop is bounded, so past the grace period whatever is left is cut off below
      let graceTimer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => broker.close(() => resolve())),
        new Promise<void>((resolve) => {
          graceTimer = setTimeout(resolve, STOP_GRACE_MS);
        }),
      ]);
      clearTimeout(graceTimer);
    }
    for (const socket of this.#sockets) socket.destroy();
    await listenersClosed;
  }

  #refuse(reason: RejectionReason, fields: Record<string, unknown>): void {
    this.#refusals({ reason });
    // a storm of refused connections costs the journal one line a minute per reason; the client's
    // details go to debug
    this.#refusalLog.note(null, `mqtt_${reason}`, JSON.stringify(fields), 1, this.#clock.now());
  }

  /** Counts a refusal aedes decided itself (reported as a client or connection error). */
  #countBrokerRefusal(client: Client, err: Error): void {
    const reason = brokerRefusalReason(err, this.#guards.get(client)?.isParseError(err) === true);
    if (reason) this.#refuse(reason, { clientId: client.id, remote: remoteOf(client) });
  }

  /**
   * Authentication, fair and silent: a device presenting the password it last proved is recognised at once
   * (no scrypt, no throttle; DeviceRegistry.isRecentlyVerified). Every other attempt is subject to the
   * failure backoff per source address and per client id (auth-throttle.ts), then waits its turn, per source
   * address, for one of a few scrypt verifications; an unknown id costs the same verification as a known
   * one, and both are refused with the same CONNACK code.
   */
  #authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const remote = remoteOf(client);
    const fail = (reason: RejectionReason, returnCode: 2 | 3 | 4 | 5) => {
      this.#refuse(reason, { clientId: client.id, remote });
      done(new CountedRefusal(reason, returnCode), false);
    };
    const succeed = () => {
      this.#pending.delete(client.conn as Socket);
      this.#trackSession(client);
      const session = this.#sessions.get(client);
      if (session) this.#report(session, "connected");
      done(null, true);
    };
    if (username === undefined || password === undefined) {
      fail("credentials_missing", 4);
      return;
    }
    // every username is a device or consumer id: another shape is no one's, whatever the password (and is
    // never kept as a throttle key)
    if (!DEVICE_ID_PATTERN.test(username)) {
      fail("username_invalid", 4);
      return;
    }
    // before any password is looked at: a certificate names one identity, and nothing else is tried with it
    const certificateRefusal = this.#certificateRefusal(client, username);
    if (certificateRefusal !== undefined) {
      fail(certificateRefusal, 5);
      return;
    }
    const resolver = this.#resolver;
    const isConsumer = resolver?.owns(username) === true;
    // a consumer may run several clients: "<id>/<anything>" ("/" is never in a device id)
    const isConsumerClient = isConsumer && client.id.startsWith(`${username}/`);
    if (client.id !== username && !isConsumerClient) {
      fail("client_id_mismatch", 2);
      return;
    }
    const secret = password.toString("utf8");
    const recent = isConsumer ? undefined : this.#registry.recentlyVerifiedCredential(username, secret);
    if (recent !== undefined) {
      if (this.#openSession(client, username, recent)) succeed();
      else fail("unknown_device", 4);
      return;
    }
    const source = sourceKey(remote);
    if (!this.#throttle.mayVerify(source, username, false)) {
      fail("auth_throttled", 3);
      return;
    }
    const isQueued = this.#authQueue.submit(source, (release) => {
      // gone while waiting (closed, or pushed out over a cap): nothing to verify for
      if ((client as unknown as { closed?: boolean }).closed || (client.conn as Socket).destroyed) {
        release();
        return;
      }
      // the throttle may have closed while this attempt waited
      if (!this.#throttle.mayVerify(source, username, true)) {
        release();
        fail("auth_throttled", 3);
        return;
      }
      const refused = (reason: RejectionReason) => {
        this.#throttle.recordFailure(source, username);
        fail(reason, 4);
      };
      if (resolver && isConsumer) {
        // an alert consumer (nurse station), not a device
        resolver
          .authenticate(username, secret)
          .then((principal) => {
            if (!principal) return refused("bad_password");
            this.#principals.set(client, principal);
            this.#log.info({ principal: principal.id }, "consumer connected");
            succeed();
          })
          .finally(release);
        return;
      }
      this.#registry
        .verifiedCredential(username, secret)
        .then((credential) => {
          if (credential !== undefined && this.#openSession(client, username, credential)) succeed();
          else refused(this.#registry.get(username) ? "bad_password" : "unknown_device");
        })
        .catch((err: unknown) => {
          this.#log.error({ err }, "authentication failed unexpectedly");
          fail("auth_error", 3);
        })
        .finally(release);
    });
    if (!isQueued) fail("auth_busy", 3);
  }

  /**
   * Closes every live session of `deviceId` (of every device when omitted) whose registration no longer
   * holds: the device was removed, bound to another subject or model, or given a new password. Returns how
   * many it closed, each counted by reason. Frames it held are withheld as at any disconnect; frames
   * already on their way to the commit are refused there (`binding_changed`) when the binding changed.
   */
  revalidateSessions(deviceId?: string): number {
    const ids = deviceId === undefined ? [...this.#liveSessions.keys()] : [deviceId];
    let closed = 0;
    for (const id of ids) {
      const live = this.#liveSessions.get(id);
      if (!live) continue;
      const now = this.#registry.registration(id);
      for (const client of [...live]) {
        const session = this.#sessions.get(client);
        const reason = session && revocationReason(session, now);
        if (reason === undefined) continue;
        live.delete(client);
        this.#revoked({ reason });
        this.#log.info({ deviceId: id, reason }, "device session revoked");
        this.#endSession(client);
        closed++;
      }
    }
    return closed;
  }

  /** Forgets a device connection's session (withholding what it held, as at any disconnect) and closes it. */
  #endSession(client: Client): void {
    this.#forgetClient(client);
    this.#sessions.delete(client);
    client.close();
  }

  /**
   * Closes at once every live connection authenticated as `deviceId`, whatever the registry says now (the
   * caller has decided; {@link revalidateSessions} decides from the registry itself). Its session is
   * forgotten first, so nothing the broker has not yet handed over is ingested under it, and the frames it
   * holds are withheld (no PUBACK: the device keeps them and re-sends them), as at any disconnect. Each close
   * is counted in `vitalog_mqtt_refusals_total` with `reason` (a bounded snake_case wire string, such as
   * `device_revoked`) and logged. Returns how many connections it closed.
   */
  closeDeviceSessions(deviceId: string, reason: string): number {
    if (!REASON_PATTERN.test(reason) || !isCataloguedReason(reason))
      throw new TypeError(`reason must be a catalogued wire string (rejection-reasons.ts): ${reason}`);
    const clients = this.#liveSessions.get(deviceId);
    if (!clients) return 0;
    this.#liveSessions.delete(deviceId);
    let closed = 0;
    for (const client of clients) {
      this.#refuse(reason, { deviceId, remote: remoteOf(client) });
      this.#log.info({ deviceId, reason }, "device session closed");
      this.#endSession(client);
      closed++;
    }
    return closed;
  }

  /** Remembers an authenticated device connection under its device id until its socket closes. */
  #trackSession(client: Client): void {
    const session = this.#sessions.get(client);
    const conn = client.conn as Socket;
    if (!session || conn.closed) return;
    let clients = this.#liveSessions.get(session.deviceId);
    if (!clients) {
      clients = new Set();
      this.#liveSessions.set(session.deviceId, clients);
    }
    const live = clients;
    live.add(client);
    conn.once("close", () => {
      live.delete(client);
      if (live.size === 0 && this.#liveSessions.get(session.deviceId) === live)
        this.#liveSessions.delete(session.deviceId);
    });
  }

  /**
   * With `mqtt.tls.requireClientCert`, a client on the TLS listener is who its certificate says: the
   * certificate (verified against `mqtt.tls.caFile` in the handshake, which ends any connection whose
   * certificate is missing or untrusted: see tls-refusals.ts) must carry exactly one subject CN, equal to the
   * MQTT username, byte for byte: the device id, or an alert consumer's id. Subject alternative names are not
   * consulted. The plain listener carries no certificate and is not concerned (config refuses it beyond
   * loopback when certificates are required).
   */
  #certificateRefusal(client: Client, username: string): RejectionReason | undefined {
    const conn = client.conn;
    if (!this.#cfg.tls?.requireClientCert || !(conn instanceof TLSSocket)) return undefined;
    // Node gives a repeated attribute as an array: a certificate with two CNs names no one
    const cn: unknown = conn.getPeerCertificate().subject?.CN;
    return cn === username ? undefined : "certificate_identity_mismatch";
  }

  /**
   * The gateway never stores a Will message ([MQTT 3.1.1 §3.1.2.5] would): no client may subscribe to a
   * topic a device's will could name, a will on the device's own data topic would be a reading it never
   * sent, ingested when its connection drops, and a consumer's would be a command issued after it left.
   * The CONNECT goes on without it (firmware that always sets a will still connects); counted `will_dropped`.
   */
  #dropWill(client: Client, packet: ConnectPacket): void {
    if (!packet.will) return;
    delete packet.will;
    this.#refuse("will_dropped", { clientId: packet.clientId, remote: remoteOf(client) });
  }

  /** Binds an authenticated connection to its device's current registration; false when it has none. */
  #openSession(client: Client, deviceId: string, credential: string): boolean {
    const device = this.#registry.get(deviceId);
    // rotated while the password was being verified: proved against a hash the device no longer has
    if (!device || this.#registry.credentialOf(deviceId) !== credential) return false;
    this.#sessions.set(client, {
      deviceId: device.id,
      subjectId: device.subjectId,
      model: device.model,
      credential,
      pendingWeight: 0,
      isReported: false,
      held: [],
      heldTimer: null,
    });
    return true;
  }

  #authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    done: (error?: Error | null) => void,
  ): void {
    if (client === null) {
      done();
      return;
    } // the gateway's own publishes (alerts)
    // aedes must hear back exactly once, whatever happens below
    let answered = false;
    const once = (error?: Error | null) => {
      if (answered) return;
      answered = true;
      done(error);
    };
    try {
      this.#publish(client, packet, once);
    } catch (err) {
      // a device's bytes must never take the gateway down: whatever escaped is a counted refusal
      this.#internalErrors();
      this.#log.error({ clientId: client.id, err }, "publish handling failed");
      if (!answered) this.#withhold(packet, "internal_error", once);
    }
  }

  #publish(client: Client, packet: PublishPacket, done: (error?: Error | null) => void): void {
    const principal = this.#principals.get(client);
    if (principal) {
      const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
      if (!packet.retain && principal.onPublish(packet.topic, payload)) done();
      else {
        this.#refuse("topic_not_allowed", { principal: principal.id, topic: packet.topic });
        done(new Error(`topic ${packet.topic} not allowed for ${principal.id}`));
      }
      return;
    }
    const session = this.#sessions.get(client);
    if (!session) {
      this.#refuse("not_authenticated", { clientId: client.id });
      done(new Error("not authenticated"));
      return;
    }
    const definition = this.#definitionOf(packet.topic, session.deviceId);
    if (!definition) {
      // [MQTT 3.1.1] no negative PUBACK exists: refusing the publish closes the connection
      this.#refuse("topic_not_allowed", { deviceId: session.deviceId, topic: packet.topic });
      done(new Error(`topic ${packet.topic} not allowed for ${session.deviceId}`));
      return;
    }
    // a device's data topic is an input, never state for later subscribers
    packet.retain = false;
    if (packet.qos === 2) {
      this.#publishQos2(client, session, definition, packet, done);
      return;
    }
    this.#ingestPublish(client, session, definition, packet, done);
  }

  /**
   * [MQTT 3.1.1 §4.3.3] QoS 2 is exactly once: a PUBLISH re-sent (DUP) before PUBREL must not be
   * delivered again. aedes keeps received QoS 2 packets until PUBREL, but asks us before it looks;
   * a re-send that arrives while the first is still being committed waits for its outcome.
   */
  #publishQos2(
    client: Client,
    session: DeviceSession,
    definition: MqttDeviceDefinition,
    packet: PublishPacket,
    done: (error?: Error | null) => void,
  ): void {
    const id = packet.messageId ?? 0;
    // aedes keeps a QoS 2 packet until PUBREL only to spot re-sends by its id: the payload it need not keep
    // (device topics have no subscribers), so a device withholding PUBREL parks no data in the gateway
    const answer = (error?: Error | null) => {
      packet.payload = EMPTY_PAYLOAD;
      done(error);
    };
    let byId = this.#qos2InFlight.get(client.id);
    const first = byId?.get(id);
    if (first) {
      void first.then((accepted) =>
        accepted ? answer() : this.#withhold(packet, "qos2_original_refused", answer),
      );
      return;
    }
    if (!byId) {
      byId = new Map();
      this.#qos2InFlight.set(client.id, byId);
    }
    const registry = byId;
    let settle!: (accepted: boolean) => void;
    registry.set(
      id,
      new Promise<boolean>((resolve) => {
        settle = resolve;
      }),
    );
    const finish = (accepted: boolean) => {
      settle(accepted);
      // aedes stores the packet (microtasks of its persistence) right after we answer; from then on
      // its own duplicate check sees it
      setImmediate(() => {
        registry.delete(id);
        if (registry.size === 0 && this.#qos2InFlight.get(client.id) === registry)
          this.#qos2InFlight.delete(client.id);
      });
    };
    (this.broker as unknown as AedesWithPersistence).persistence.incomingGetPacket(client, packet).then(
      () => {
        finish(true);
        answer(); // already received: aedes answers PUBREC again, nothing is ingested
      },
      () => {
        // asynchronous: the top-level guard in #authorizePublish no longer covers what runs here
        let answered = false;
        try {
          this.#ingestPublish(client, session, definition, packet, (error) => {
            answered = true;
            finish(!error && packet.qos === 2);
            answer(error);
          });
        } catch (err) {
          this.#internalErrors();
          this.#log.error({ clientId: client.id, err }, "publish handling failed");
          if (!answered) {
            finish(false);
            this.#withhold(packet, "internal_error", answer);
          }
        }
      },
    );
  }

  #ingestPublish(
    client: Client,
    session: DeviceSession,
    definition: MqttDeviceDefinition,
    packet: PublishPacket,
    done: (error?: Error | null) => void,
  ): void {
    const source = this.#source(session);
    const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
    const receivedAtMs = this.#clock.now();
    // decoded before admission: a frame costs what it carries (bounded by the payload limit)
    let result: DecodeResult | undefined;
    let refusal: { reason: string; detail: string } | undefined;
    if (payload.length > this.#cfg.maxPayloadBytes) {
      refusal = {
        reason: "payload_too_large" satisfies RejectionReason,
        detail: `payload of ${payload.length} bytes exceeds ${this.#cfg.maxPayloadBytes}`,
      };
    } else {
      const outcome = safeDecode(definition.mqtt.decode, payload, { nowMs: receivedAtMs });
      if (outcome.ok) result = outcome.result;
      else {
        if (outcome.isBug)
          this.#log.error(
            { deviceId: session.deviceId, topic: definition.match.topic, detail: outcome.detail },
            "decoder bug",
          );
        refusal = { reason: outcome.reason, detail: outcome.detail };
      }
    }
    const readings = result?.readings.length ?? 0;
    const frame: DecodedFrame = { topic: definition.match.topic, receivedAtMs, payload, result, refusal };
    const run = () => this.#store(client, session, packet, frame, done);
    const withhold = (reason: RejectionReason) => {
      // a budget refusal is the device's; a frame left unanswered because its connection ended
      // (disconnected, shutting_down) or its handling failed is counted as withheld only
      if (reason.startsWith("rate_limited_")) this.#backlog.countNotAdmitted(source, reason);
      this.#withhold(packet, reason, done);
    };
    this.#admit(client, session, packet.qos, readings, run, withhold);
  }

  /**
   * Admission against the device's budget (admission.ts). Within it, the frame goes on at once. Over it, a
   * QoS 1/2 frame is held, unacknowledged, and the socket is not read until the budget admits it (the
   * device keeps what it has not sent, TCP slows it down, acknowledgements follow at the budget's pace); a
   * QoS 0 frame is dropped. A withheld acknowledgement would strand an MQTT 3.1.1 device's data until its
   * next reconnect, so holding is the refusal: it ends the moment the device is within budget again.
   */
  #admit(
    client: Client,
    session: DeviceSession,
    qos: number,
    readings: number,
    run: () => void,
    withhold: (reason: RejectionReason) => void,
  ): void {
    if (session.held.length === 0) {
      const admitted = this.#admission.take(session.deviceId, session.model, readings);
      if (admitted.ok) {
        run();
        return;
      }
      // QoS 0 is never held; nor is a frame the budget would keep waiting longer than the hold bound
      if (qos === 0 || admitted.waitMs > MAX_HOLD_SEC * 1000) {
        withhold(admitted.reason);
        this.#holdBack(client, session, admitted.waitMs);
        return;
      }
      this.#delayed({ reason: admitted.reason });
      session.held.push({ readings, run, withhold });
      this.#holdBack(client, session, admitted.waitMs);
      return;
    }
    if (qos === 0) {
      withhold("rate_limited_messages");
      return;
    }
    const limit = this.#admission.limitOf(session.deviceId, session.model);
    let heldReadings = readings;
    for (const h of session.held) heldReadings += h.readings;
    if (
      session.held.length >= MAX_HELD_FRAMES ||
      (session.held.length + 1) / limit.messagesPerSec > MAX_HOLD_SEC ||
      heldReadings / limit.readingsPerSec > MAX_HOLD_SEC
    ) {
      withhold(
        heldReadings / limit.readingsPerSec > MAX_HOLD_SEC
          ? "rate_limited_readings"
          : "rate_limited_messages",
      );
      return;
    }
    this.#delayed({ reason: "rate_limited_messages" });
    session.held.push({ readings, run, withhold });
  }

  /** Stops reading the client's socket and lets held frames go as the budget admits them. */
  #holdBack(client: Client, session: DeviceSession, waitMs: number): void {
    this.#gates.get(client)?.close(GATE_RATE);
    this.#holding.set(session, client);
    if (session.heldTimer) return;
    // at most a second unread, then the budget is looked at again: a device that went away is noticed
    session.heldTimer = setTimeout(() => this.#release(client, session), Math.min(Math.max(waitMs, 1), 1000));
  }

  #release(client: Client, session: DeviceSession): void {
    session.heldTimer = null;
    while (session.held.length > 0) {
      const next = session.held[0]!;
      const admitted = this.#admission.take(session.deviceId, session.model, next.readings);
      if (!admitted.ok) {
        this.#holdBack(client, session, admitted.waitMs);
        return;
      }
      session.held.shift();
      try {
        next.run();
      } catch (err) {
        this.#internalErrors();
        this.#log.error({ deviceId: session.deviceId, err }, "publish handling failed");
        next.withhold("internal_error");
      }
    }
    this.#holding.delete(session);
    this.#gates.get(client)?.open(GATE_RATE);
  }

  /** Hands an admitted frame to the sink; its acknowledgement waits for the sink's `done` (the commit). */
  #store(
    client: Client,
    session: DeviceSession,
    packet: PublishPacket,
    frame: DecodedFrame,
    done: (error?: Error | null) => void,
  ): void {
    // A refused payload is still acknowledged once its refusal is durable: re-sending a poison message forever
    // helps nobody. The device learns why on <prefix>/<id>/rejected (the sink's refusal listener). A reading
    // that is not stored (storage under its watermark, a failed commit) is not acknowledged: the device keeps it.
    const { result, topic, receivedAtMs, payload } = frame;
    const weight = result ? Math.max(1, result.readings.length + (result.rejected?.length ?? 0)) : 1;
    const ack = this.#ackAfterCommit(session, packet, weight, done);
    const deviceKey = session.deviceId;
    if (result && result.readings.length > 0 && !this.#isStillBound(session)) {
      // re-bound, re-keyed or removed since the session opened: its readings must not reach the rules under
      // a binding that no longer holds. The frame is refused (acknowledged: a re-send would be stamped anew)
      // and the session closed once the acknowledgement is written.
      const detail = "the device was removed, re-bound or given a new password after this session opened";
      this.#handOver(session, () =>
        this.#sink.reject({
          deviceKey,
          binding: topic,
          receivedAtMs,
          reason: "binding_changed" satisfies RejectionReason,
          detail,
          done: (err) => {
            ack(err);
            setImmediate(() => this.revalidateSessions(session.deviceId));
          },
        }),
      );
      return;
    }
    if (!result) {
      const r = frame.refusal ?? { reason: "payload_invalid", detail: "payload could not be decoded" };
      this.#handOver(session, () =>
        this.#sink.reject({ deviceKey, binding: topic, receivedAtMs, ...r, raw: payload, done: ack }),
      );
      return;
    }
    this.#handOver(session, () =>
      this.#sink.frame({ deviceKey, binding: topic, receivedAtMs, result, raw: payload, done: ack }),
    );
    this.#queueCheck(client, session);
  }

  /**
   * The acknowledgement of a frame handed to the sink, counted in the session's pending weight until the sink's
   * `done`. Built here, apart from `#store`: a closure shares its scope's context with every other closure of
   * that scope, so an `ack` made beside the sink call would keep the decoded frame (a refused pack's hundreds of
   * refusals and their details) alive until the group commit, long enough to reach the old generation of the
   * heap under a refused-pack flood.
   */
  #ackAfterCommit(
    session: DeviceSession,
    packet: PublishPacket,
    weight: number,
    done: (error?: Error | null) => void,
  ): (err?: Error) => void {
    session.pendingWeight += weight;
    return (err) => {
      session.pendingWeight = Math.max(0, session.pendingWeight - weight);
      this.#drainCheck();
      if (err) this.#withhold(packet, withheldReason(err), done);
      else done(null);
    };
  }

  /**
   * Whether the session's registration still holds: read for every frame that carries readings (one indexed
   * SELECT), so a change made behind the control socket's back stops the session's readings before the
   * rules see them; the commit re-checks the binding once more inside its transaction.
   */
  #isStillBound(session: DeviceSession): boolean {
    let now: ReturnType<DeviceRegistry["registration"]>;
    try {
      now = this.#registry.registration(session.deviceId);
    } catch (err) {
      // an unreadable registry (the database gone or locked) must not stop the rules: alerts never wait for
      // storage. The commit re-checks the binding before anything is stored.
      const nowMs = this.#clock.now();
      if (nowMs - this.#registryWarnedAtMs >= 60_000) {
        this.#registryWarnedAtMs = nowMs;
        this.#log.warn(
          { deviceId: session.deviceId, err },
          "device registry unreadable: bindings not re-checked",
        );
      }
      return true;
    }
    return revocationReason(session, now) === undefined;
  }

  /**
   * Makes one sink call with the session's source in hand (`sourceInHand`): the device is authenticated, and its
   * binding was checked against the registry in this same tick when the frame carries readings (a frame
   * without any is refused, or status only, and is recorded under the session like any refusal).
   */
  #handOver(session: DeviceSession, call: () => void): void {
    this.#inHand = this.#source(session);
    try {
      call();
    } finally {
      this.#inHand = undefined;
    }
  }

  /** The source of the frame the driver is handing to the sink right now, if it is `deviceId`'s. */
  sourceInHand(deviceId: string): Source | undefined {
    return this.#inHand?.deviceId === deviceId ? this.#inHand : undefined;
  }

  #source(session: DeviceSession): Source {
    return { deviceId: session.deviceId, subjectId: session.subjectId, transport: "mqtt" };
  }

  /**
   * Neither acknowledges nor stores: for QoS 1 and 2 aedes is told the packet is QoS 0, so it sends no
   * PUBACK/PUBREC and keeps the connection; the device keeps the message and re-sends it (with DUP) when
   * it reconnects. QoS 0 data is dropped. Counted per reason.
   */
  #withhold(packet: PublishPacket, reason: RejectionReason, done: (error?: Error | null) => void): void {
    this.#withheld({ reason, qos: String(packet.qos) });
    (packet as { qos: number }).qos = 0;
    done(null);
  }

  /**
   * Back-pressure: over the commit-queue bound, the clients with more than their share in flight are no
   * longer read (their TCP windows fill); everyone is read again once the queue is down to half.
   */
  #queueCheck(client: Client, session: DeviceSession): void {
    const pending = this.#backlog.pendingWeight;
    const isMemoryHigh = this.#isMemoryHigh();
    if (pending <= this.#maxPending && !isMemoryHigh) return;
    // over the queue bound, the clients above their share of it are held back; over the memory bound only
    // the clearly heavy ones (twice the average in flight, and at least a few hundred readings): a device
    // with a reading or two in flight is never what fills memory
    const perClient = Math.max(1, this.broker.connectedClients);
    const isOverShare =
      pending > this.#maxPending
        ? session.pendingWeight > this.#maxPending / perClient || pending > 2 * this.#maxPending
        : session.pendingWeight >= Math.max(MEMORY_HEAVY_READINGS, (2 * pending) / perClient);
    if (!isOverShare) return;
    const gate = this.#gates.get(client);
    if (!gate || this.#queueGated.has(client)) return;
    gate.close(GATE_QUEUE);
    this.#queueGated.add(client);
    this.#backpressure();
    // the queue may drain through commits no MQTT client waits for (events, BLE, serial): look again soon
    this.#drainTimer ??= setInterval(() => this.#drainCheck(), 50);
  }

  #drainCheck(): void {
    // not on RSS: an idle process's RSS need not fall (the allocator keeps pages), and a gate that waits
    // for it would starve its client for good
    if (this.#queueGated.size === 0 || this.#backlog.pendingWeight > this.#maxPending / 2) return;
    for (const c of this.#queueGated) this.#gates.get(c)?.open(GATE_QUEUE);
    this.#queueGated.clear();
    if (this.#drainTimer) clearInterval(this.#drainTimer);
    this.#drainTimer = undefined;
  }

  /** Whether the process's RSS is over the bound (read at most every 100 ms: it is a syscall). */
  #isMemoryHigh(): boolean {
    const now = performance.now();
    if (now - this.#rssReadAt > 100) {
      this.#rss = process.memoryUsage.rss();
      this.#rssReadAt = now;
    }
    return this.#rss > this.#maxRssBytes;
  }

  #forgetClient(client: Client): void {
    this.#queueGated.delete(client);
    this.#principals.get(client)?.onClose?.();
    const session = this.#sessions.get(client);
    if (!session) return;
    this.#report(session, "disconnected");
    if (session.heldTimer) clearTimeout(session.heldTimer);
    session.heldTimer = null;
    this.#holding.delete(session);
    // the connection is gone: nothing held is acknowledged, the device re-sends it
    for (const h of session.held.splice(0)) h.withhold("disconnected");
  }

  #authorizeSubscribe(
    client: Client,
    sub: Subscription,
    done: (error: Error | null, sub?: Subscription | null) => void,
  ) {
    if (this.#principals.get(client)?.maySubscribe(sub.topic)) {
      done(null, sub);
      return;
    }
    const session = this.#sessions.get(client);
    if (session && sub.topic === `${this.#cfg.topicPrefix}/${session.deviceId}/${REJECTED_SUFFIX}`) {
      done(null, sub);
      return;
    }
    this.#refuse("subscribe_not_allowed", { clientId: client.id, topic: sub.topic });
    // a null subscription makes aedes answer SUBACK 0x80 (failure) without dropping the client
    done(null, null);
  }

  #definitionOf(topic: string, deviceId: string): MqttDeviceDefinition | undefined {
    const prefix = `${this.#cfg.topicPrefix}/${deviceId}/`;
    if (!topic.startsWith(prefix)) return undefined;
    return this.#byTopic.get(topic.slice(prefix.length));
  }

  /** Reports a device session's connection to the sink, once each way; nothing once the broker is closing. */
  #report(session: DeviceSession, state: "connected" | "disconnected"): void {
    if (session.isReported === (state === "connected") || this.#broker?.closed !== false) return;
    session.isReported = state === "connected";
    this.#sink.connection({ deviceKey: session.deviceId, state, atMs: this.#clock.now() });
  }

  /**
   * Tells a device why (part of) its input was refused, on `<prefix>/<device id>/rejected` (QoS 0, not
   * retained): the first refusal's reason and the details of all, bounded. The composition hands this to the
   * sink as its refusal listener.
   */
  tellRefused(deviceId: string, refusals: readonly { reason: string; detail: string }[]): void {
    if (refusals.length === 0 || this.#broker?.closed !== false) return;
    this.#broker.publish(
      {
        cmd: "publish",
        topic: `${this.#cfg.topicPrefix}/${deviceId}/${REJECTED_SUFFIX}`,
        payload: Buffer.from(
          JSON.stringify({ reason: refusals[0]!.reason, detail: boundedDetail(refusals) }),
        ),
        qos: 0,
        retain: false,
        dup: false,
      },
      () => {},
    );
  }
}

/** A PUBLISH as decoded, waiting for admission. */
interface DecodedFrame {
  topic: string;
  receivedAtMs: number;
  payload: Buffer;
  result: DecodeResult | undefined;
  refusal: { reason: string; detail: string } | undefined;
}

/** What the device is told on its rejected topic: the refusal details, bounded. */
function boundedDetail(rejected: readonly { detail: string }[]): string {
  const head = rejected
    .slice(0, 8)
    .map((r) => r.detail)
    .join("; ");
  return rejected.length > 8 ? `${head}; … ${rejected.length - 8} more` : head;
}

/** The counted reason of a withheld acknowledgement. */
function withheldReason(err: Error): RejectionReason {
  const code = (err as { code?: unknown }).code;
  if (code === "STORAGE_LOW") return "storage_low";
  if (code === "INGEST_THROTTLED") return "rate_limited_readings";
  if (code === "STORE_CLOSED") return "shutting_down";
  return "commit_failed";
}

/** The peer address of a client's connection, when it still has one. */
function remoteOf(client: Client): string | undefined {
  return (client.conn as { remoteAddress?: string } | undefined)?.remoteAddress;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Why a session's registration no longer holds (a `vitalog_mqtt_sessions_revoked_total` reason), or undefined. */
function revocationReason(
  session: DeviceSession,
  now: { subjectId: string; model: string | null; credential: string } | undefined,
): "device_removed" | "device_rebound" | "credential_changed" | undefined {
  if (now === undefined) return "device_removed";
  if (now.subjectId !== session.subjectId || now.model !== session.model) return "device_rebound";
  if (now.credential !== session.credential) return "credential_changed";
  return undefined;
}
