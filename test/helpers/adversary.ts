/**
 * Shared parts of the adversarial suite (test/adversarial/): the well-behaved bystander device whose
 * integrity every test asserts, a raw MQTT 3.1.1 connection for packets mqtt.js will not send (DUP
 * re-sends, missing PUBREL, QoS 0 at wire speed), the abusive payload shapes, and measurements of the
 * database and of loopback HTTP.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { statfsSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import mqttPacket, { type Packet } from "mqtt-packet";

/** Anything that runs SQL reads: the gateway's own connection or a read-only better-sqlite3 handle. */
export interface SqlReader {
  prepare(sql: string): { all(...args: unknown[]): unknown[]; get(...args: unknown[]): unknown };
}

/** Device times (ms) of a device's stored readings, one entry per row. */
export function storedDeviceTimes(db: SqlReader, deviceId: string): number[] {
  const rows = db
    .prepare("SELECT device_time_ms AS t FROM readings WHERE device_id = ?")
    .all(deviceId) as Array<{
    t: number | null;
  }>;
  return rows.map((r) => r.t ?? Number.NaN);
}

/** Logical size of the database (pages in use or free, the WAL's committed pages included). */
export function databaseBytes(db: SqlReader): number {
  const count = (db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count;
  const size = (db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size;
  return count * size;
}

/** Bytes per table and index (SQLite's dbstat), largest first: where a growth went. */
export function bytesByTable(db: SqlReader): Array<{ name: string; bytes: number }> {
  return db
    .prepare("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC")
    .all() as Array<{ name: string; bytes: number }>;
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

/**
 * A well-behaved device: one QoS 1 plain-JSON heart-rate reading with a distinct device time every
 * `intervalMs` (within the default budget of 25 messages/s), like a wearable sampling at a fixed rate. It
 * records every acknowledgement and every connection loss it did not cause itself; `assertIntact` is the
 * suite's shared invariant: every publish acknowledged, stored exactly once, never disconnected.
 */
export class Bystander {
  readonly id: string;
  readonly client: MqttClient;
  /** Device time (ms) → when it was published (performance.now()), while unacknowledged. */
  readonly #pending = new Map<number, number>();
  readonly #acked: number[] = [];
  readonly #latenciesMs: number[] = [];
  readonly #errors: string[] = [];
  #sent = 0;
  #closes = 0;
  #isClosingOnPurpose = false;
  #timer: NodeJS.Timeout | undefined;
  #lastTimeMs = 0;
  #n = 0;

  private constructor(id: string, client: MqttClient) {
    this.id = id;
    this.client = client;
    client.on("close", () => {
      if (!this.#isClosingOnPurpose) this.#closes++;
    });
    client.on("error", (err) => this.#errors.push(err.message));
  }

  /** Connects the device (MQTT 3.1.1, no automatic reconnect: a drop must be seen, not papered over). */
  static async connect(
    url: string,
    id: string,
    password: string,
    extra: IClientOptions = {},
  ): Promise<Bystander> {
    const client = await mqtt.connectAsync(url, {
      clientId: id,
      username: id,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...extra,
    });
    return new Bystander(id, client);
  }

  /** Starts publishing one reading every `intervalMs`. */
  start(intervalMs = 50): this {
    this.#timer ??= setInterval(() => {
      this.#n++;
      void this.publish("heart_rate", 60 + (this.#n % 30), "/min");
    }, intervalMs);
    // a failed test must not keep the process alive through this timer
    this.#timer.unref();
    return this;
  }

  /** Publishes one tracked reading now; resolves on its PUBACK (never, if none comes). */
  publish(kind: string, value: number, unit: string): Promise<void> {
    const time = Math.max(this.#lastTimeMs + 1, Date.now());
    this.#lastTimeMs = time;
    const body = JSON.stringify({ readings: [{ kind, value, unit, time }] });
    this.#sent++;
    this.#pending.set(time, performance.now());
    return new Promise((resolve) => {
      this.client.publish(`vitalog/dev/${this.id}/json`, body, { qos: 1 }, (err) => {
        if (err) {
          this.#errors.push(err.message);
          return;
        }
        const sentAt = this.#pending.get(time);
        if (sentAt === undefined) return;
        this.#pending.delete(time);
        this.#acked.push(time);
        this.#latenciesMs.push(performance.now() - sentAt);
        resolve();
      });
    });
  }

  get sent(): number {
    return this.#sent;
  }

  get ackedCount(): number {
    return this.#acked.length;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Device times published at or after `sinceMs` (epoch) and not acknowledged. */
  pendingSince(sinceMs: number): number[] {
    return [...this.#pending.keys()].filter((t) => t >= sinceMs);
  }

  /** Device times acknowledged that were published at or after `sinceMs` (epoch). */
  ackedSince(sinceMs: number): number[] {
    return this.#acked.filter((t) => t >= sinceMs);
  }

  /**
   * The device's own network drop and reconnect: what was not acknowledged stays in mqtt.js's outgoing
   * store and is re-sent (with DUP) on the new connection, as [MQTT 3.1.1 §4.4] requires of a client.
   */
  async reconnect(timeoutMs = 20_000): Promise<void> {
    this.#isClosingOnPurpose = true;
    const closed = new Promise<void>((resolve) => this.client.once("close", () => resolve()));
    this.client.stream.destroy();
    await closed;
    // mqtt.js emits "connect" once every stored message was re-sent and answered
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.id}: no reconnect in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.client.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.client.reconnect({
      incomingStore: this.client.incomingStore,
      outgoingStore: this.client.outgoingStore,
    });
    await connected;
    this.#isClosingOnPurpose = false;
  }

  /** Stops publishing and waits (bounded) for the acknowledgements still due. */
  async stop(timeoutMs = 20_000): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const deadline = Date.now() + timeoutMs;
    while (this.#pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /** Stops and disconnects. */
  async end(): Promise<void> {
    await this.stop(0);
    this.#isClosingOnPurpose = true;
    await this.client.endAsync(true).catch(() => {});
  }

  /**
   * The invariant: never disconnected by the gateway, every publish acknowledged, every acknowledged reading
   * stored exactly once and nothing else stored. `stored` are the device times of its rows in `readings`.
   */
  assertIntact(stored: readonly number[], minSent = 10): void {
    assert.equal(
      this.#closes,
      0,
      `${this.id}: disconnected ${this.#closes} time(s) (${this.#errors.join("; ")})`,
    );
    assert.ok(this.#sent >= minSent, `${this.id}: only ${this.#sent} publishes, too few to mean anything`);
    assert.equal(
      this.#pending.size,
      0,
      `${this.id}: ${this.#pending.size} of ${this.#sent} publishes never acknowledged`,
    );
    const counts = new Map<number, number>();
    for (const t of stored) counts.set(t, (counts.get(t) ?? 0) + 1);
    const acked = new Set(this.#acked);
    const missing = this.#acked.filter((t) => !counts.has(t));
    const duplicated = [...counts].filter(([, n]) => n > 1).map(([t]) => t);
    const unexpected = [...counts.keys()].filter((t) => !acked.has(t));
    assert.deepEqual(
      {
        missing: missing.slice(0, 10),
        duplicated: duplicated.slice(0, 10),
        unexpected: unexpected.slice(0, 10),
      },
      { missing: [], duplicated: [], unexpected: [] },
      `${this.id}: ${missing.length} acknowledged readings missing, ${duplicated.length} stored twice, ${unexpected.length} stored without acknowledgement`,
    );
  }

  /** One line for the test's diagnostics: counts and acknowledgement latency. */
  summary(): string {
    const s = [...this.#latenciesMs].sort((a, b) => a - b);
    return `${this.id}: sent ${this.#sent}, acked ${this.#acked.length}, PUBACK p50 ${percentile(s, 0.5).toFixed(1)} ms p99 ${percentile(s, 0.99).toFixed(1)} ms max ${(s.at(-1) ?? Number.NaN).toFixed(1)} ms`;
  }
}

/** A raw MQTT 3.1.1 connection whose every packet the test writes and reads itself. */
export interface RawMqtt {
  socket: Socket;
  packets: Packet[];
  send(packet: Record<string, unknown>): boolean;
  /** Resolves once `count` packets of `cmd` have arrived (counting from the start). */
  waitForPackets(cmd: string, count: number, timeoutMs?: number): Promise<void>;
  count(cmd: string): number;
  readonly isClosed: boolean;
}

export async function rawMqtt(
  port: number,
  id: string,
  password: string,
  opts: { clean?: boolean } = {},
): Promise<RawMqtt> {
  const socket = netConnect(port, "127.0.0.1");
  socket.setNoDelay(true);
  socket.on("error", () => {});
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: Packet[] = [];
  let isClosed = false;
  socket.on("close", () => {
    isClosed = true;
  });
  parser.on("packet", (p) => packets.push(p));
  socket.on("data", (d) => parser.parse(d));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  const send = (p: Record<string, unknown>) => socket.write(mqttPacket.generate(p as unknown as Packet));
  const count = (cmd: string) => packets.filter((p) => p.cmd === cmd).length;
  const waitForPackets = async (cmd: string, n: number, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (count(cmd) < n) {
      if (Date.now() > deadline)
        throw new Error(`${id}: ${count(cmd)} of ${n} ${cmd} packets in ${timeoutMs} ms`);
      if (isClosed) throw new Error(`${id}: connection closed waiting for ${cmd} (${count(cmd)} of ${n})`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  send({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: 4,
    clean: opts.clean ?? true,
    clientId: id,
    keepalive: 60,
    username: id,
    password: Buffer.from(password),
  });
  await waitForPackets("connack", 1);
  const connack = packets.find((p) => p.cmd === "connack") as { returnCode?: number } | undefined;
  if (connack?.returnCode !== 0) throw new Error(`${id}: CONNACK return code ${connack?.returnCode}`);
  return {
    socket,
    packets,
    send,
    waitForPackets,
    count,
    get isClosed() {
      return isClosed;
    },
  };
}

/** `depth` nested JSON arrays (or objects `{"a":…}`) around `core`: iteration, so any depth is buildable. */
export function nested(depth: number, core = "1", shape: "array" | "object" = "array"): string {
  return shape === "array"
    ? "[".repeat(depth) + core + "]".repeat(depth)
    : '{"a":'.repeat(depth) + core + "}".repeat(depth);
}

/** The plain-JSON payload that once killed the process: `kind` an array nested `depth` deep. */
export function deepKindPayload(depth = 5000): string {
  return `{"readings":[{"kind":${nested(depth, "")},"value":1,"unit":"/min"}]}`;
}

/**
 * A plain-JSON pack of ~8,000 entries that are not readings, just under `maxBytes` (16 KiB default): far
 * more records than a pack may hold.
 */
export function rejectionFloodPack(maxBytes = 16_384): string {
  const head = '{"readings":[0';
  const tail = "]}";
  const entries = Math.floor((maxBytes - head.length - tail.length) / 2);
  return head + ",0".repeat(entries) + tail;
}

/**
 * A SenML pack of `count` valid heart-rate readings in about 9 bytes each (the base name, unit and value
 * carry over; no time, so each is a new reading at receipt): 1,800 fit in 16 KiB.
 */
export function validFloodPack(deviceId: string, count = 1800): string {
  return `[{"bn":"urn:dev:flood:${deviceId}:hr","bu":"beat/min","v":72}${',{"v":72}'.repeat(count - 1)}]`;
}

/** A SenML pack of `count` records that each name no known vital: one refusal per record. */
export function unknownVitalPack(count: number): string {
  return `[{"bn":"urn:dev:x:","n":"zz","v":1}${',{"n":"zz","v":1}'.repeat(count - 1)}]`;
}

/** GET over loopback HTTP: status and body. */
export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

/** Mounts a tmpfs of `bytes` at `dir` (root only: CI runs as root). */
export function mountTmpfs(dir: string, bytes: number): void {
  // mode 0700: the gateway refuses a state directory others could write to
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes},mode=0700`, "tmpfs", dir]);
}

/** Unmounts `dir`, lazily when something still holds it open; never throws. */
export function unmount(dir: string): void {
  try {
    execFileSync("umount", [dir], { stdio: "ignore" });
  } catch {
    try {
      execFileSync("umount", ["-l", dir], { stdio: "ignore" });
    } catch {}
  }
}

/** Whether `dir` is a mount point. */
export function isMounted(dir: string): boolean {
  try {
    execFileSync("mountpoint", ["-q", dir]);
    return true;
  } catch {
    return false;
  }
}

/** Free bytes for unprivileged writers on the file system holding `dir` (what the watermark reads). */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** `promise`, or a rejection naming `what` after `timeoutMs`: a missing acknowledgement fails, not hangs. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A misbehaving device that keeps `window` QoS 1 PUBLISHes of `body()` in flight, sending the next as soon
 * as one is acknowledged (an upload loop with no pause), until stopped.
 */
export class Flooder {
  readonly client: MqttClient;
  readonly topic: string;
  sent = 0;
  acked = 0;
  closes = 0;
  #isRunning = true;
  #isClosingOnPurpose = false;

  constructor(client: MqttClient, topic: string, body: () => string | Buffer, window = 4) {
    this.client = client;
    this.topic = topic;
    client.on("close", () => {
      if (!this.#isClosingOnPurpose) this.closes++;
    });
    client.on("error", () => {});
    const next = () => {
      if (!this.#isRunning) return;
      this.sent++;
      client.publish(topic, body(), { qos: 1 }, (err) => {
        if (err) return;
        this.acked++;
        next();
      });
    };
    for (let i = 0; i < window; i++) next();
  }

  /** Sends nothing more (what is in flight stays in flight). */
  stop(): void {
    this.#isRunning = false;
  }

  async end(): Promise<void> {
    this.stop();
    this.#isClosingOnPurpose = true;
    await this.client.endAsync(true).catch(() => {});
  }
}

/**
 * `ingest` overrides for a gateway running inside the test process: the process's RSS then includes the
 * test's own clients, receivers and buffers, so the gateway's memory bound is lifted out of reach (memory
 * back-pressure is tested on a child-process gateway, whose RSS is its own).
 */
export const IN_PROCESS_INGEST = { maxRssBytes: 4 * 1024 * 1024 * 1024 } as const;
