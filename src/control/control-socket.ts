/**
 * The daemon's local control socket: how a `vitalog` command run beside a running daemon reaches it
 * (revocation today; every later command that must act on the live process uses the same path).
 *
 * A Unix domain socket at `<stateDir>/control.sock`, created 0600 inside the 0700 state directory: only the
 * daemon's user (and root) can connect, so filesystem permission is the authentication, as for the
 * database and the keys beside it; nothing listens on the network. Linux checks write permission on the
 * socket file at connect (unix(7)).
 *
 * Protocol: one JSON object per line each way. Request `{"op": "<name>", ...args}`; reply
 * `{"ok": true, ...}` or `{"ok": false, "error": "<code>", "detail": "<text>"}`. A connection may send
 * several requests; replies come in order. Bounded: a line of at most 64 KiB, at most 16 connections,
 * 10 s of idleness closes one. Handlers never receive anything but a parsed object and may not throw past
 * the server (a throw is a `handler_failed` reply).
 *
 * A socket file left by a daemon that died is replaced at start; one a live daemon still answers on stops
 * the start (two daemons on one state directory would both write the same log).
 *
 * Hand-written over node:net: a line protocol of a few dozen lines needs no library.
 */
import { chmodSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { GatewayError } from "../errors.js";

/** File name of the control socket in the state directory. */
export const CONTROL_SOCKET_NAME = "control.sock";
/** Longest request or reply line. */
export const MAX_LINE_BYTES = 64 * 1024;
const MAX_CONNECTIONS = 16;
const IDLE_MS = 10_000;
/** sun_path is 108 bytes on Linux, terminating NUL included (unix(7)). */
const MAX_SOCKET_PATH_BYTES = 107;

export type ControlReply =
  | { ok: true; [key: string]: unknown }
  | { ok: false; error: string; detail: string };
export type ControlHandler = (args: Readonly<Record<string, unknown>>) => Promise<Record<string, unknown>>;

/** The control socket's path for a state directory. */
export function controlSocketPath(stateDir: string): string {
  return join(stateDir, CONTROL_SOCKET_NAME);
}

/** A request the daemon refuses with a reason (thrown by a handler: its code and message are the reply). */
export class ControlRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class ControlServer {
  readonly #path: string;
  readonly #handlers = new Map<string, ControlHandler>();
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;

  constructor(stateDir: string) {
    this.#path = controlSocketPath(stateDir);
  }

  get path(): string {
    return this.#path;
  }

  /** Registers the handler of `op` (one per op). */
  handle(op: string, handler: ControlHandler): void {
    if (this.#handlers.has(op)) throw new TypeError(`control op ${op} registered twice`);
    this.#handlers.set(op, handler);
  }

  async start(): Promise<void> {
    if (Buffer.byteLength(this.#path) > MAX_SOCKET_PATH_BYTES) {
      throw new GatewayError(
        "CONFIG_INVALID",
        `control socket path ${this.#path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes (a Unix socket limit): use a shorter gateway.stateDir`,
      );
    }
    if (await isAnswering(this.#path)) {
      throw new GatewayError(
        "ALREADY_RUNNING",
        `another gateway is running on this state directory (it answers on ${this.#path})`,
      );
    }
    removeStale(this.#path);
    const server = createServer((socket) => this.#accept(socket));
    server.maxConnections = MAX_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    // listen() creates the file with the umask's mode: narrow it before anyone can use it (the state
    // directory is 0700, so no one else could reach it in between)
    chmodSync(this.#path, 0o600);
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    removeStale(this.#path);
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("error", () => {});
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    let buffered = "";
    let queue = Promise.resolve();
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      if (Buffer.byteLength(buffered) > MAX_LINE_BYTES && !buffered.includes("\n")) {
        socket.end(
          `${JSON.stringify(refusal("line_too_long", `a request line is limited to ${MAX_LINE_BYTES} bytes`))}\n`,
        );
        socket.destroy();
        return;
      }
      let nl = buffered.indexOf("\n");
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        queue = queue.then(async () => {
          const reply = await this.#dispatch(line);
          if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
        });
        nl = buffered.indexOf("\n");
      }
    });
  }

  async #dispatch(line: string): Promise<ControlReply> {
    let request: unknown;
    try {
      request = JSON.parse(line);
    } catch {
      return refusal("bad_request", "a request is one JSON object per line");
    }
    if (request === null || typeof request !== "object" || Array.isArray(request)) {
      return refusal("bad_request", "a request is one JSON object per line");
    }
    const { op, ...args } = request as Record<string, unknown>;
    const handler = typeof op === "string" ? this.#handlers.get(op) : undefined;
    if (handler === undefined) return refusal("unknown_op", `no control op ${String(op)}`);
    try {
      return { ...(await handler(args)), ok: true };
    } catch (err) {
      if (err instanceof ControlRefusal) return refusal(err.code, err.message);
      return refusal("handler_failed", err instanceof Error ? err.message : String(err));
    }
  }
}

function refusal(error: string, detail: string): ControlReply {
  return { ok: false, error, detail };
}

function removeStale(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/** Whether a process accepts connections on the socket at `path`. */
function isAnswering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * Sends one request to the daemon of `stateDir` and waits for its reply. Resolves `undefined` when no
 * daemon listens there (no socket, or a stale one); rejects on a timeout or a broken reply.
 */
export function controlRequest(
  stateDir: string,
  op: string,
  args: Record<string, unknown> = {},
  timeoutMs = 10_000,
): Promise<ControlReply | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect(controlSocketPath(stateDir));
    let buffered = "";
    let connected = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new GatewayError("CONTROL_TIMEOUT", `the gateway did not answer ${op} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.once("connect", () => {
      connected = true;
      socket.write(`${JSON.stringify({ ...args, op })}\n`);
    });
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      socket.destroy();
      try {
        resolve(JSON.parse(buffered.slice(0, nl)) as ControlReply);
      } catch (cause) {
        reject(new GatewayError("CONTROL_FAILED", "the gateway's control reply is not JSON", { cause }));
      }
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (!connected && (err.code === "ENOENT" || err.code === "ECONNREFUSED")) resolve(undefined);
      else reject(new GatewayError("CONTROL_FAILED", `control socket: ${err.message}`, { cause: err }));
    });
  });
}
