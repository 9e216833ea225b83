/**
 * Raw MQTT 3.1.1 connections for the pre-authentication and authentication-storm tests and the
 * `bench:auth` benchmark: each from a chosen loopback address (Linux routes the whole 127.0.0.0/8 to the
 * loopback interface, so a test can be many hosts), written byte by byte with mqtt-packet so nothing in
 * a client library retries, pads or waits on the test's behalf.
 */
import { connect as netConnect, type Socket } from "node:net";
import mqttPacket from "mqtt-packet";

/** A TCP connection to the gateway from `localAddress`, resolved once connected. */
export function rawSocket(port: number, localAddress = "127.0.0.1"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port, localAddress });
    socket.once("connect", () => {
      socket.off("error", reject);
      // the gateway ending the connection is what most tests wait for: not an error of the test
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** Resolves when the socket has closed (at once if it already has). */
export function closed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  // a socket nobody reads never sees the end of the stream: read (and drop) what the gateway sent
  if (socket.listenerCount("data") === 0) socket.resume();
  return new Promise((resolve) => socket.once("close", () => resolve()));
}

/** The bytes of an MQTT 3.1.1 CONNECT. */
export function connectPacket(opts: {
  clientId: string;
  username?: string;
  password?: string;
  keepalive?: number;
  protocolVersion?: 4 | 5;
}): Buffer {
  return mqttPacket.generate({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: opts.protocolVersion ?? 4,
    clean: true,
    clientId: opts.clientId,
    keepalive: opts.keepalive ?? 30,
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: Buffer.from(opts.password) } : {}),
  });
}

/** [MQTT 3.1.1 §2.2.3] the remaining-length bytes of `length`. */
export function remainingLength(length: number): Buffer {
  const bytes: number[] = [];
  let x = length;
  do {
    let b = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) b |= 0x80;
    bytes.push(b);
  } while (x > 0);
  return Buffer.from(bytes);
}

export interface ConnectOutcome {
  /** The CONNACK return code, or "closed" when the connection ended without one. */
  code: number | "closed";
  /** From the TCP connect to the CONNACK (or the close). */
  ms: number;
}

/**
 * One CONNECT over a fresh connection from `localAddress`: resolves with the CONNACK return code and the
 * time it took; the connection is then closed (or, with `keepOpen`, handed back when accepted).
 */
export async function connectOnce(
  port: number,
  opts: { localAddress?: string; clientId: string; username?: string; password?: string; keepalive?: number },
  keepOpen = false,
): Promise<ConnectOutcome & { socket?: Socket }> {
  const t0 = performance.now();
  let socket: Socket;
  try {
    socket = await rawSocket(port, opts.localAddress);
  } catch {
    return { code: "closed", ms: performance.now() - t0 };
  }
  const parser = mqttPacket.parser();
  const outcome = await new Promise<ConnectOutcome>((resolve) => {
    parser.on("packet", (p) => {
      if (p.cmd === "connack") resolve({ code: p.returnCode ?? 0, ms: performance.now() - t0 });
    });
    parser.on("error", () => resolve({ code: "closed", ms: performance.now() - t0 }));
    socket.on("data", (d: Buffer) => parser.parse(d));
    socket.once("close", () => resolve({ code: "closed", ms: performance.now() - t0 }));
    socket.write(connectPacket({ username: opts.clientId, ...opts }));
  });
  if (keepOpen && outcome.code === 0) return { ...outcome, socket };
  socket.destroy();
  return outcome;
}

/**
 * `total` CONNECT attempts, `concurrency` at a time, each described by `attempt(i)`; counts the outcomes.
 * `done` resolves when every attempt has finished.
 */
export class ConnectStorm {
  readonly outcomes = new Map<number | "closed", number>();
  readonly done: Promise<void>;
  #finished = 0;
  #isRunning = true;
  #isStopping = false;
  readonly #startedAt = performance.now();
  #endedAt: number | undefined;

  constructor(
    port: number,
    opts: {
      total: number;
      concurrency: number;
      attempt: (i: number) => { localAddress: string; clientId: string; password: string };
    },
  ) {
    let next = 0;
    const worker = async () => {
      while (next < opts.total && !this.#isStopping) {
        const i = next++;
        const { code } = await connectOnce(port, opts.attempt(i));
        this.outcomes.set(code, (this.outcomes.get(code) ?? 0) + 1);
        this.#finished++;
      }
    };
    this.done = Promise.all(Array.from({ length: opts.concurrency }, worker)).then(() => {
      this.#isRunning = false;
      this.#endedAt = performance.now();
    });
  }

  /** Starts no further attempts; `done` resolves once those under way have finished. */
  stop(): Promise<void> {
    this.#isStopping = true;
    return this.done;
  }

  get isRunning(): boolean {
    return this.#isRunning;
  }

  /** How long it has run (or ran). */
  get elapsedMs(): number {
    return (this.#endedAt ?? performance.now()) - this.#startedAt;
  }

  /** Attempts finished so far. */
  get finished(): number {
    return this.#finished;
  }

  /** Resolves once at least `n` attempts have finished. */
  async after(n: number): Promise<void> {
    while (this.#finished < n && this.#isRunning) await new Promise((r) => setTimeout(r, 5));
  }
}
