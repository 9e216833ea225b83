/**
 * The daemon's local control socket: how a `vitalog` command run beside a running daemon reaches it
 * (revocation, the NEWS2 view; every later command that must act on the live process uses the same path).
 *
 * A Unix domain socket at `<stateDir>/control.sock`, 0600 from the moment it can be reached: only the
 * daemon's user (and root) can connect, so filesystem permission is the authentication, as for the database
 * and the keys beside it; nothing listens on the network. Linux checks write permission on the socket file
 * at connect (unix(7)). listen() creates the file with the umask's mode, so the socket is bound inside a
 * fresh 0700 directory, narrowed to 0600 there, then renamed into place (rename(2) is atomic, and replaces a
 * file a dead daemon left).
 *
 * Protocol: one JSON object per line each way. Request `{"op": "<name>", ...args}`; reply
 * `{"ok": true, ...}` or `{"ok": false, "error": "<code>", "detail": "<text>"}`. A connection may send
 * several requests; replies come in order. Bounded: a request line of at most 64 KiB (`line_too_long`, then
 * the connection is closed), at most 16 connections (a further one is closed at once), 10 s without a byte
 * either way closes one. Handlers never receive anything but a parsed object and may not throw past the
 * server (a throw is a `handler_failed` reply); they MUST settle.
 *
 * One daemon per state directory is guaranteed by the instance lock its owner holds before `start`
 * (instance-lock.ts); on its own, `start` still refuses when a live server answers on the path (ALREADY_RUNNING).
 *
 * Hand-written over node:net: a line protocol of a few dozen lines needs no library.
 */

import { chmodSync, mkdtempSync, renameSync, rmSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import type { Clock } from "../clock.js";
import { type ControlHandler, ControlRefusal } from "../core/ports.js";
import { GatewayError } from "../errors.js";

/** File name of the control socket in the state directory. */
export const CONTROL_SOCKET_NAME = "control.sock";
/** Longest request line, newline excluded. */
export const MAX_LINE_BYTES = 64 * 1024;
/** Connections served at once; a further one is closed without a reply. */
export const MAX_CONTROL_CONNECTIONS = 16;
/** Time without a byte either way after which a connection is closed. */
export const CONTROL_IDLE_MS = 10_000;
/** Requests of one connection waiting for their replies before the connection is no longer read. */
const MAX_PENDING_REQUESTS = 64;
/** Longest reply a command accepts (a reply is the daemon's, but a command's memory is bounded too). */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;
/** sun_path is 108 bytes on Linux, terminating NUL included (unix(7)). */
const MAX_SOCKET_PATH_BYTES = 107;
/**
 * Prefix of the private directory the socket is bound in before it is renamed into place: `<stateDir>/.c-XXXXXX/s`
 * is shorter than `<stateDir>/control.sock`, so checking the final path checks both.
 */
const BIND_DIR_PREFIX = ".c-";

export type ControlReply =
  | { ok: true; [key: string]: unknown }
  | { ok: false; error: string; detail: string };
/** The control socket's path for a state directory. */
export function controlSocketPath(stateDir: string): string {
  return join(stateDir, CONTROL_SOCKET_NAME);
}

/** Why the control socket cannot live in `stateDir`, or undefined when it can (a config check). */
export function controlSocketPathProblem(stateDir: string): string | undefined {
  const path = controlSocketPath(stateDir);
  if (Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES) return undefined;
  return `the control socket ${path} would be longer than ${MAX_SOCKET_PATH_BYTES} bytes (a Unix socket limit): use a shorter state directory`;
}

/**
 * The daemon's side: ops registered with `handle` before or after `start`, one handler per op. Its owner MUST
 * hold the instance lock of the state directory across `start`…`stop` (the file it replaces at start is then
 * certainly a dead daemon's).
 */
export class ControlServer {
  readonly #stateDir: string;
  readonly #path: string;
  readonly #clock: Clock;
  readonly #handlers = new Map<string, ControlHandler>();
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;

  constructor(stateDir: string, deps: { clock: Clock }) {
    this.#stateDir = stateDir;
    this.#path = controlSocketPath(stateDir);
    this.#clock = deps.clock;
  }

  get path(): string {
    return this.#path;
  }

  /** Registers the handler of `op` (one per op). */
  handle(op: string, handler: ControlHandler): void {
    if (this.#handlers.has(op)) throw new TypeError(`control op ${op} registered twice`);
    this.#handlers.set(op, handler);
  }

  /** Listens; throws ALREADY_RUNNING when a live server answers on the path. The state directory must exist. */
  async start(): Promise<void> {
    const problem = controlSocketPathProblem(this.#stateDir);
    // the config check reports it with every other problem; reaching here is a caller's bug
    if (problem !== undefined) throw new RangeError(problem);
    if (await isAnswering(this.#path)) {
      throw new GatewayError(
        "ALREADY_RUNNING",
        `another gateway is running on this state directory (it answers on ${this.#path})`,
      );
    }
    const server = createServer((socket) => this.#accept(socket));
    server.maxConnections = MAX_CONTROL_CONNECTIONS;
    const bindDir = mkdtempSync(join(this.#stateDir, BIND_DIR_PREFIX));
    try {
      const bound = join(bindDir, "s");
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(bound, () => {
          server.off("error", reject);
          resolve();
        });
      });
      try {
        // unreachable to others until renamed: its directory is 0700 whatever the umask (mkdtemp)
        chmodSync(bound, 0o600);
        renameSync(bound, this.#path);
      } catch (err) {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        throw err;
      }
    } finally {
      rmSync(bindDir, { recursive: true, force: true });
    }
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // the server was bound under another name: closing it does not remove the renamed file
    removeStale(this.#path);
  }

  #accept(socket: Socket): void {
    const clock = this.#clock;
    this.#sockets.add(socket);
    let idle: unknown;
    const touch = () => {
      clock.clearTimeout(idle);
      idle = clock.setTimeout(() => socket.destroy(), CONTROL_IDLE_MS);
    };
    socket.on("close", () => {
      clock.clearTimeout(idle);
      this.#sockets.delete(socket);
    });
    socket.on("error", () => {});
    touch();
    let buffered = "";
    let ended = false;
    // one request at a time per connection: each is handled, and answered, after the one before; a client
    // that sends faster than it reads is no longer read (its replies wait in its socket, not in our memory)
    let queue = Promise.resolve();
    let pending = 0;
    const write = async (text: string) => {
      if (socket.destroyed) return;
      const flushed = socket.write(`${text}\n`);
      touch();
      if (!flushed) await drainedOrClosed(socket);
    };
    const tooLong = () => {
      ended = true;
      buffered = "";
      socket.pause();
      const line = JSON.stringify(
        refusal("line_too_long", `a request line is limited to ${MAX_LINE_BYTES} bytes`),
      );
      queue = queue.then(() => {
        if (!socket.destroyed) socket.end(`${line}\n`, () => socket.destroy());
      });
    };
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      if (ended) return;
      touch();
      buffered += chunk;
      let nl = buffered.indexOf("\n");
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (Buffer.byteLength(line) > MAX_LINE_BYTES) return tooLong();
        pending++;
        queue = queue.then(async () => {
          await write(await this.#reply(line));
          pending--;
          if (pending === 0 && !ended) socket.resume();
        });
        nl = buffered.indexOf("\n");
      }
      if (Buffer.byteLength(buffered) > MAX_LINE_BYTES) tooLong();
      else if (pending > MAX_PENDING_REQUESTS) socket.pause();
    });
  }

  /** The reply line to one request line; never rejects. */
  async #reply(line: string): Promise<string> {
    const reply = await this.#dispatch(line);
    try {
      return JSON.stringify(reply);
    } catch {
      return JSON.stringify(refusal("handler_failed", "the reply cannot be written as JSON"));
    }
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

function drainedOrClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.once("drain", done);
    socket.once("close", done);
  });
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
 * daemon listens there (no socket, or a stale one); rejects with CONTROL_FAILED as soon as the connection
 * ends without a reply (or with a broken one), and with CONTROL_TIMEOUT after `timeoutMs`.
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
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      outcome();
    };
    const timer = setTimeout(
      () =>
        settle(() =>
          reject(
            new GatewayError("CONTROL_TIMEOUT", `the gateway did not answer ${op} within ${timeoutMs} ms`),
          ),
        ),
      timeoutMs,
    );
    socket.setEncoding("utf8");
    socket.once("connect", () => {
      connected = true;
      socket.write(`${JSON.stringify({ ...args, op })}\n`);
    });
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf("\n");
      if (nl < 0) {
        if (buffered.length > MAX_REPLY_BYTES) {
          settle(() =>
            reject(
              new GatewayError("CONTROL_FAILED", `the gateway's reply is over ${MAX_REPLY_BYTES} bytes`),
            ),
          );
        }
        return;
      }
      settle(() => {
        try {
          resolve(JSON.parse(buffered.slice(0, nl)) as ControlReply);
        } catch (cause) {
          reject(new GatewayError("CONTROL_FAILED", "the gateway's control reply is not JSON", { cause }));
        }
      });
    });
    socket.once("error", (err: NodeJS.ErrnoException) =>
      settle(() => {
        if (!connected && (err.code === "ENOENT" || err.code === "ECONNREFUSED")) resolve(undefined);
        else reject(new GatewayError("CONTROL_FAILED", `control socket: ${err.message}`, { cause: err }));
      }),
    );
    // a server over its connection cap, or one that died mid-request, closes without a word
    socket.once("close", () =>
      settle(() =>
        reject(
          new GatewayError(
            "CONTROL_FAILED",
            `the gateway closed the control connection without answering ${op}`,
          ),
        ),
      ),
    );
  });
}
