/**
 * The serial transport: one `serialport` per configured port, cut into frames by the definition's declarative
 * framing, decoded by its pure decoder. Fail soft per device: a bad frame is reported to the sink and the port
 * stays open; a port that disappears (USB unplugged, pty closed) is reopened with backoff until it returns.
 */
import { SerialPort } from "serialport";
import type { Clock } from "../../clock.js";
import { Backoff, type BackoffOptions } from "../backoff.js";
import {
  type ConnectionState,
  type DeviceDefinition,
  type Driver,
  type DriverContext,
  FrameSplitter,
  type SerialProtocol,
  type SplitEvent,
  safeDecode,
} from "../sdk.js";

/** One port to drive. `deviceKey` reported to the sink is the path. */
export interface SerialPortSpec {
  path: string;
  definition: DeviceDefinition;
  /** Default: the definition's. */
  baudRate?: number | undefined;
  /** Write the definition's acknowledgement after commit. Default true. */
  ack?: boolean | undefined;
  /** Silence after which a partial frame is given up and rescanned (`FrameSplitter.flush`). Default 200. */
  frameTimeoutMs?: number | undefined;
}

/** The part of serialport's `SerialPort` the driver uses (injectable for tests). */
export interface SerialPortLike {
  readonly isOpen: boolean;
  open(cb: (err: Error | null) => void): void;
  close(cb?: (err: Error | null) => void): void;
  write(data: Uint8Array): boolean;
  on(event: "data", fn: (chunk: Buffer) => void): this;
  on(event: "close" | "error", fn: (err?: Error | null) => void): this;
  removeAllListeners(): this;
}

export type OpenPort = (path: string, baudRate: number) => SerialPortLike;

const openSerialPort: OpenPort = (path, baudRate) => new SerialPort({ path, baudRate, autoOpen: false });

/** Health of one port, for `vitalog status`. */
export interface SerialPortHealth {
  path: string;
  definition: string;
  state: ConnectionState;
  openedAtMs: number | null;
  lastFrameAtMs: number | null;
  frames: number;
  rejected: number;
  reopens: number;
  lastError: string | null;
}

export class SerialDriver implements Driver {
  readonly transport = "serial";
  readonly #ctx: DriverContext;
  readonly #sessions: PortSession[];

  constructor(
    ctx: DriverContext,
    options: { ports: readonly SerialPortSpec[]; reopen: BackoffOptions; openPort?: OpenPort | undefined },
  ) {
    this.#ctx = ctx;
    const open = options.openPort ?? openSerialPort;
    this.#sessions = options.ports.map((p) => new PortSession(ctx, p, options.reopen, open));
  }

  /** Starts opening every port; resolves at once (an absent port is retried, it never fails the start). */
  async start(): Promise<void> {
    for (const s of this.#sessions) s.start();
    this.#ctx.log.info({ ports: this.#sessions.length }, "serial driver started");
  }

  async stop(): Promise<void> {
    await Promise.all(this.#sessions.map((s) => s.stop()));
  }

  health(): SerialPortHealth[] {
    return this.#sessions.map((s) => s.health());
  }
}

class PortSession {
  readonly #ctx: DriverContext;
  readonly #spec: SerialPortSpec;
  readonly #protocol: SerialProtocol;
  readonly #open: OpenPort;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  #port: SerialPortLike | null = null;
  #splitter: FrameSplitter | null = null;
  #timer: unknown = null;
  #gapTimer: unknown = null;
  #stopped = true;
  #refusedReported = false;
  readonly #h: SerialPortHealth;

  constructor(ctx: DriverContext, spec: SerialPortSpec, reopen: BackoffOptions, open: OpenPort) {
    if (!spec.definition.serial)
      throw new TypeError(`definition ${spec.definition.model} is not a serial one`);
    this.#ctx = ctx;
    this.#spec = spec;
    this.#protocol = spec.definition.serial;
    this.#open = open;
    this.#clock = ctx.clock;
    this.#backoff = new Backoff(reopen);
    this.#h = {
      path: spec.path,
      definition: `${spec.definition.vendor}/${spec.definition.model}`,
      state: "disconnected",
      openedAtMs: null,
      lastFrameAtMs: null,
      frames: 0,
      rejected: 0,
      reopens: 0,
      lastError: null,
    };
  }

  start(): void {
    this.#stopped = false;
    this.#attempt();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    if (this.#gapTimer !== null) this.#clock.clearTimeout(this.#gapTimer);
    this.#timer = null;
    this.#gapTimer = null;
    const port = this.#port;
    this.#port = null;
    if (port) {
      port.removeAllListeners();
      port.on("error", () => {});
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    }
    this.#h.state = "disconnected";
  }

  health(): SerialPortHealth {
    return { ...this.#h };
  }

  #state(state: ConnectionState, extra: { retryInMs?: number; reason?: string } = {}): void {
    this.#h.state = state;
    this.#ctx.sink.connection({ deviceKey: this.#spec.path, state, atMs: this.#clock.now(), ...extra });
  }

  #attempt(): void {
    this.#timer = null;
    if (this.#stopped) return;
    if (!this.#ctx.isAuthorised(this.#spec.path, this.#spec.definition)) {
      // provisioning may come later (CLI): keep checking, but report the refusal once
      if (!this.#refusedReported) this.#state("refused", { reason: "device_not_provisioned" });
      this.#refusedReported = true;
      this.#retry("device_not_provisioned", false);
      return;
    }
    this.#refusedReported = false;
    this.#state("connecting");
    const port = this.#open(this.#spec.path, this.#spec.baudRate ?? this.#protocol.baudRate);
    this.#port = port;
    port.on("error", (err) => {
      this.#h.lastError = err?.message ?? "error";
      this.#ctx.log.warn({ path: this.#spec.path, err: this.#h.lastError }, "serial port error");
    });
    port.open((err) => {
      if (this.#stopped || this.#port !== port) return;
      if (err) {
        this.#port = null;
        port.removeAllListeners();
        this.#h.lastError = err.message;
        this.#retry("open_failed");
        return;
      }
      // a fresh splitter per open: half a frame from before an unplug must not prefix the next one
      this.#splitter = new FrameSplitter(this.#protocol.framing);
      this.#backoff.reset();
      this.#h.openedAtMs = this.#clock.now();
      port.on("data", (chunk) => this.#onData(port, chunk));
      port.on("close", (closeErr) => this.#onClose(port, closeErr));
      this.#state("connected");
      this.#ctx.log.info({ path: this.#spec.path }, "serial port open");
    });
  }

  #onClose(port: SerialPortLike, err?: Error | null): void {
    if (this.#stopped || this.#port !== port) return;
    this.#port = null;
    port.removeAllListeners();
    port.on("error", () => {});
    this.#h.reopens++;
    this.#h.lastError = err?.message ?? "closed";
    this.#ctx.log.warn({ path: this.#spec.path, err: this.#h.lastError }, "serial port lost");
    this.#state("disconnected", { reason: "port_closed" });
    this.#retry("port_closed");
  }

  #retry(reason: string, report = true): void {
    if (this.#stopped) return;
    const delay = this.#backoff.next();
    if (report) this.#state("backoff", { retryInMs: delay, reason });
    this.#timer = this.#clock.setTimeout(() => this.#attempt(), delay);
  }

  #onData(port: SerialPortLike, chunk: Uint8Array): void {
    const splitter = this.#splitter;
    if (!splitter) return;
    if (this.#gapTimer !== null) this.#clock.clearTimeout(this.#gapTimer);
    this.#gapTimer = null;
    this.#deliver(port, splitter.pushDetailed(chunk));
    if (splitter.pending > 0) {
      this.#gapTimer = this.#clock.setTimeout(() => {
        this.#gapTimer = null;
        if (this.#port === port && this.#splitter === splitter) this.#deliver(port, splitter.flush());
      }, this.#spec.frameTimeoutMs ?? 200);
    }
  }

  #deliver(port: SerialPortLike, events: readonly SplitEvent[]): void {
    const key = this.#spec.path;
    const binding = this.#spec.definition.model;
    for (const e of events) {
      const receivedAtMs = this.#clock.now();
      if (!e.ok) {
        // corrupt octets: counted, never acknowledged (the device re-sends)
        this.#h.rejected++;
        this.#ctx.sink.reject({
          deviceKey: key,
          binding,
          receivedAtMs,
          reason: e.reason,
          detail: `${e.raw.length} octets dropped`,
          raw: e.raw,
        });
        continue;
      }
      const frame = e.frame;
      const done = this.#ackAfterCommit(port, frame);
      const outcome = safeDecode(this.#protocol.decode, frame, { nowMs: receivedAtMs });
      if (outcome.ok) {
        this.#h.frames++;
        this.#h.lastFrameAtMs = receivedAtMs;
        this.#ctx.sink.frame({
          deviceKey: key,
          binding,
          receivedAtMs,
          result: outcome.result,
          raw: frame,
          done,
        });
      } else {
        this.#h.rejected++;
        if (outcome.isBug) this.#ctx.log.error({ path: key, detail: outcome.detail }, "decoder bug");
        this.#ctx.sink.reject({
          deviceKey: key,
          binding,
          receivedAtMs,
          reason: outcome.reason,
          detail: outcome.detail,
          raw: frame,
          done,
        });
      }
    }
  }

  /** The `done` callback that writes the device-level ack once the frame (or its refusal) is durable. */
  #ackAfterCommit(port: SerialPortLike, frame: Uint8Array): ((err?: Error) => void) | undefined {
    const ack = this.#spec.ack === false ? undefined : this.#protocol.ack;
    if (!ack) return undefined;
    return (err) => {
      if (err || this.#port !== port || !port.isOpen) return; // not durable or link gone: the device re-sends
      const bytes = ack(frame);
      if (bytes && bytes.length > 0) port.write(bytes);
    };
  }
}
