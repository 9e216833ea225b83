import { readFileSync } from "node:fs";
import { type AddressInfo, createServer, type Server } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from "aedes";
import type { Config } from "../../config.js";
import type { Logger } from "../../log.js";
import type { Metrics } from "../../metrics.js";
import type { DeviceRegistry } from "../device-registry.js";
import type { Ingest, Source } from "../ingest.js";
import { type DecodedPayload, decodePlainJson, decodeSenml, PayloadError } from "./payload.js";

/** Topic layout under the configured prefix (default "vitalog/dev"). Wire strings: add, never rename. */
export const TOPIC_FORMATS = { senml: "senml", json: "json" } as const;
/** Where a device may listen for explanations of its refused payloads. */
export const REJECTED_SUFFIX = "rejected";

/** Most authentications (scrypt, ~16 MiB each) running at once; more wait in a queue. */
const MAX_CONCURRENT_AUTH = 4;
/** Most authentications waiting; beyond it connections are refused as busy (a reconnect storm or an attack). */
const MAX_QUEUED_AUTH = 512;

interface DeviceSession {
  deviceId: string;
  subjectId: string;
}

/**
 * A non-device MQTT client (nurse-station screen, integration engine, the CLI) authenticated by another
 * module through a {@link PrincipalResolver}. Devices never get one: a device cannot subscribe to alerts.
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
}

/** Authenticates non-device clients; consulted before the device registry for the usernames it owns. */
export interface PrincipalResolver {
  owns(username: string): boolean;
  /** Resolves the principal when the password matches, else null. MUST NOT reject. */
  authenticate(username: string, password: string): Promise<MqttPrincipal | null>;
}

/**
 * The embedded MQTT broker (aedes) as the transport for MQTT wearables: authenticates devices
 * against the registry, lets each publish only under its own topic, decodes SenML or plain JSON,
 * hands frames to ingest and sends the QoS 1 PUBACK only after the frame's group commit.
 */
export class MqttTransport {
  readonly #cfg: Config["mqtt"];
  readonly #registry: DeviceRegistry;
  readonly #ingest: Ingest;
  readonly #log: Logger;
  readonly #refusals;
  readonly #connected;
  #broker: Aedes | undefined;
  readonly #servers: Server[] = [];
  readonly #sessions = new WeakMap<Client, DeviceSession>();
  readonly #principals = new WeakMap<Client, MqttPrincipal>();
  #resolver: PrincipalResolver | undefined;
  #authInFlight = 0;
  readonly #authQueue: Array<() => void> = [];

  constructor(deps: {
    config: Config["mqtt"];
    registry: DeviceRegistry;
    ingest: Ingest;
    log: Logger;
    metrics: Metrics;
  }) {
    this.#cfg = deps.config;
    this.#registry = deps.registry;
    this.#ingest = deps.ingest;
    this.#log = deps.log;
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

  /** Bound TCP port of the plain listener (useful with port 0). */
  get port(): number {
    return (this.#servers[0]?.address() as AddressInfo | null)?.port ?? 0;
  }

  get tlsPort(): number | undefined {
    return (this.#servers[1]?.address() as AddressInfo | null)?.port;
  }

  async start(): Promise<void> {
    const broker = await Aedes.createBroker({
      maxClientsIdLength: 64,
      authenticate: (client, username, password, done) =>
        this.#authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.#authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => this.#authorizeSubscribe(client, sub, done),
    });
    this.#broker = broker;
    broker.on("client", () => this.#connected(broker.connectedClients));
    broker.on("clientDisconnect", () => this.#connected(broker.connectedClients));
    broker.on("clientError", (client, err) =>
      this.#log.debug({ clientId: client.id, err: err.message }, "client error"),
    );
    broker.on("connectionError", (_client, err) => this.#log.debug({ err: err.message }, "connection error"));

    const plain = createServer({ noDelay: true }, broker.handle);
    await listen(plain, this.#cfg.port, this.#cfg.host);
    this.#servers.push(plain);
    this.#log.info({ host: this.#cfg.host, port: this.port }, "mqtt listening");
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
        },
        broker.handle,
      );
      await listen(secure, tls.port, tls.host);
      this.#servers.push(secure);
      this.#log.info({ host: tls.host, port: this.tlsPort }, "mqtts listening");
    }
  }

  /** Stops accepting connections, then closes every client. Call after the last commit was flushed. */
  async stop(): Promise<void> {
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    const broker = this.#broker;
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
  }

  #refuse(reason: string, fields: Record<string, unknown>): void {
    this.#refusals({ reason });
    this.#log.warn({ ...fields, reason }, "mqtt refused");
  }

  #authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const fail = (reason: string, returnCode: 2 | 3 | 4 | 5) => {
      this.#refuse(reason, {
        clientId: client.id,
        remote: client.conn && (client.conn as { remoteAddress?: string }).remoteAddress,
      });
      const err = Object.assign(new Error(reason), { returnCode }) as AuthenticateError;
      done(err, false);
    };
    if (username === undefined || password === undefined) {
      fail("credentials_missing", 4);
      return;
    }
    // a consumer may run several clients: "<id>/<anything>" ("/" is never in a device id)
    const isConsumerClient = client.id.startsWith(`${username}/`) && this.#resolver?.owns(username) === true;
    if (client.id !== username && !isConsumerClient) {
      fail("client_id_mismatch", 2);
      return;
    }
    if (this.#authQueue.length >= MAX_QUEUED_AUTH) {
      fail("auth_busy", 3);
      return;
    }
    const run = () => {
      this.#authInFlight++;
      const resolver = this.#resolver;
      if (resolver?.owns(username)) {
        // an alert consumer (nurse station), not a device
        resolver
          .authenticate(username, password.toString("utf8"))
          .then((principal) => {
            if (!principal) return fail("bad_password", 4);
            this.#principals.set(client, principal);
            this.#log.info({ principal: principal.id }, "consumer connected");
            done(null, true);
          })
          .finally(() => {
            this.#authInFlight--;
            this.#authQueue.shift()?.();
          });
        return;
      }
      this.#registry
        .verify(username, password.toString("utf8"))
        .then((ok) => {
          const device = ok ? this.#registry.get(username) : undefined;
          if (!device) {
            fail(this.#registry.get(username) ? "bad_password" : "unknown_device", 4);
            return;
          }
          this.#sessions.set(client, { deviceId: device.id, subjectId: device.subjectId });
          this.#log.info({ deviceId: device.id }, "device connected");
          done(null, true);
        })
        .catch((err: unknown) => {
          this.#log.error({ err }, "authentication failed unexpectedly");
          fail("auth_error", 3);
        })
        .finally(() => {
          this.#authInFlight--;
          this.#authQueue.shift()?.();
        });
    };
    if (this.#authInFlight < MAX_CONCURRENT_AUTH) run();
    else this.#authQueue.push(run);
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
    const format = this.#formatOf(packet.topic, session.deviceId);
    if (!format) {
      // [MQTT 3.1.1] no negative PUBACK exists: refusing the publish closes the connection
      this.#refuse("topic_not_allowed", { deviceId: session.deviceId, topic: packet.topic });
      done(new Error(`topic ${packet.topic} not allowed for ${session.deviceId}`));
      return;
    }
    const source: Source = { deviceId: session.deviceId, subjectId: session.subjectId, transport: "mqtt" };
    const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
    // A refused payload is still acknowledged once its refusal is durable: re-sending a poison message forever
    // helps nobody. The device learns why on <prefix>/<id>/rejected.
    const ack = (err?: Error) => done(err ?? null);
    if (payload.length > this.#cfg.maxPayloadBytes) {
      const detail = `payload of ${payload.length} bytes exceeds ${this.#cfg.maxPayloadBytes}`;
      this.#notify(session.deviceId, "payload_too_large", detail);
      this.#ingest.reject(source, { reason: "payload_too_large", detail }, payload, ack);
      return;
    }
    let decoded: DecodedPayload;
    try {
      const text = payload.toString("utf8");
      decoded = format === TOPIC_FORMATS.senml ? decodeSenml(text) : decodePlainJson(text);
    } catch (e) {
      if (!(e instanceof PayloadError)) throw e;
      this.#notify(session.deviceId, e.reason, e.message);
      this.#ingest.reject(source, { reason: e.reason, detail: e.message }, payload, ack);
      return;
    }
    const result = this.#ingest.submit(source, decoded, payload, ack);
    if (result.rejected.length > 0) {
      this.#notify(
        session.deviceId,
        result.rejected[0]!.reason,
        result.rejected.map((r) => r.detail).join("; "),
      );
    }
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

  #formatOf(topic: string, deviceId: string): string | undefined {
    const prefix = `${this.#cfg.topicPrefix}/${deviceId}/`;
    if (!topic.startsWith(prefix)) return undefined;
    const rest = topic.slice(prefix.length);
    return rest === TOPIC_FORMATS.senml || rest === TOPIC_FORMATS.json ? rest : undefined;
  }

  #notify(deviceId: string, reason: string, detail: string): void {
    this.#broker?.publish(
      {
        cmd: "publish",
        topic: `${this.#cfg.topicPrefix}/${deviceId}/${REJECTED_SUFFIX}`,
        payload: Buffer.from(JSON.stringify({ reason, detail })),
        qos: 0,
        retain: false,
        dup: false,
      },
      () => {},
    );
  }
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
