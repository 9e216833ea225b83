/**
 * The control socket on a real Unix socket in a temp state directory: what a request gets back for every
 * kind of bad input, its bounds (line length, connections, idleness on the injected clock), the order of
 * replies, the file it leaves (mode, replacement of a dead daemon's file, refusal beside a live one), and
 * what `controlRequest`, the commands' side, makes of a daemon that is absent or hangs up.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { parseConfig } from "../../src/config.js";
import {
  CONTROL_IDLE_MS,
  ControlServer,
  controlRequest,
  MAX_CONTROL_CONNECTIONS,
  MAX_LINE_BYTES,
} from "../../src/control/control-socket.js";
import { ControlRefusal } from "../../src/core/ports.js";
import { GatewayError } from "../../src/errors.js";
import { waitExit } from "../helpers/child-gateway.js";
import { tempDir, writeSecret } from "../helpers/gateway.js";

/** A raw client: writes bytes as given, and reads reply lines one by one. */
class LineClient {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  #buffered = "";
  #lines: string[] = [];
  #waiting: ((line: string | undefined) => void) | undefined;
  #isClosed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding("utf8");
    socket.on("error", () => {});
    socket.on("data", (chunk: string) => {
      this.#buffered += chunk;
      let nl = this.#buffered.indexOf("\n");
      while (nl >= 0) {
        this.#push(this.#buffered.slice(0, nl));
        this.#buffered = this.#buffered.slice(nl + 1);
        nl = this.#buffered.indexOf("\n");
      }
    });
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.#isClosed = true;
        this.#waiting?.(undefined);
        resolve();
      }),
    );
  }

  static open(path: string): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once("connect", () => resolve(new LineClient(s)));
      s.once("error", reject);
    });
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** The next reply, parsed; undefined when the connection closed first. */
  next(): Promise<Record<string, unknown> | undefined> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(JSON.parse(line));
    if (this.#isClosed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.#waiting = (l) => {
        this.#waiting = undefined;
        resolve(l === undefined ? undefined : JSON.parse(l));
      };
    });
  }

  /** Sends one request and returns its reply. */
  async request(request: unknown): Promise<Record<string, unknown> | undefined> {
    this.send(`${JSON.stringify(request)}\n`);
    return this.next();
  }

  #push(line: string): void {
    if (this.#waiting) this.#waiting(line);
    else this.#lines.push(line);
  }
}

describe("control socket", () => {
  let stateDir: string;
  let clock: ManualClock;
  let server: ControlServer;
  const clients: LineClient[] = [];
  const open = async (): Promise<LineClient> => {
    const c = await LineClient.open(server.path);
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    stateDir = tempDir("vitalog-control-");
    clock = new ManualClock();
    server = new ControlServer(stateDir, { clock });
    server.handle("echo", async (args) => ({ echoed: args }));
    await server.start();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    await server.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("answers an op with its handler's result and ok: true, the op itself not passed on", async () => {
    const reply = await controlRequest(stateDir, "echo", { device_id: "wear-001" });
    assert.deepEqual(reply, { ok: true, echoed: { device_id: "wear-001" } });
  });

  it("answers a line that is not JSON with bad_request, and keeps serving the connection", async () => {
    const c = await open();
    c.send("{op: echo\n");
    assert.deepEqual(await c.next(), {
      ok: false,
      error: "bad_request",
      detail: "a request is one JSON object per line",
    });
    assert.deepEqual(await c.request({ op: "echo" }), { ok: true, echoed: {} });
  });

  it("answers JSON that is not an object (array, string, number, null) with bad_request", async () => {
    const c = await open();
    for (const value of [["echo"], "echo", 42, null]) {
      const reply = await c.request(value);
      assert.equal(reply?.error, "bad_request", JSON.stringify(value));
    }
  });

  it("answers an unknown op, a missing op and an op that is not a string with unknown_op", async () => {
    const c = await open();
    assert.deepEqual(await c.request({ op: "reboot" }), {
      ok: false,
      error: "unknown_op",
      detail: "no control op reboot",
    });
    assert.equal((await c.request({ device_id: "x" }))?.error, "unknown_op");
    assert.equal((await c.request({ op: ["echo"] }))?.error, "unknown_op");
    // an inherited property name is no handler either
    assert.equal((await c.request({ op: "constructor" }))?.error, "unknown_op");
  });

  it("answers a handler that throws with handler_failed and its message, and keeps serving", async () => {
    server.handle("broken", async () => {
      throw new Error("registry unavailable");
    });
    const c = await open();
    assert.deepEqual(await c.request({ op: "broken" }), {
      ok: false,
      error: "handler_failed",
      detail: "registry unavailable",
    });
    assert.deepEqual(await c.request({ op: "echo", n: 1 }), { ok: true, echoed: { n: 1 } });
  });

  it("answers a handler that refuses (ControlRefusal) with the refusal's own code and message", async () => {
    server.handle("picky", async () => {
      throw new ControlRefusal("bad_request", "device_id must be a device id");
    });
    assert.deepEqual(await controlRequest(stateDir, "picky"), {
      ok: false,
      error: "bad_request",
      detail: "device_id must be a device id",
    });
  });

  it("answers a handler whose result cannot be written as JSON with handler_failed, and keeps serving", async () => {
    server.handle("bigint", async () => ({ count: 1n }));
    const c = await open();
    assert.equal((await c.request({ op: "bigint" }))?.error, "handler_failed");
    assert.deepEqual(await c.request({ op: "echo" }), { ok: true, echoed: {} });
  });

  /** `{"op":"echo","pad":"xx…"}` of exactly `bytes` bytes. */
  const requestOfBytes = (bytes: number): string => {
    const empty = JSON.stringify({ op: "echo", pad: "" });
    return JSON.stringify({ op: "echo", pad: "x".repeat(bytes - empty.length) });
  };

  it("accepts a request line of exactly 64 KiB", async () => {
    const line = requestOfBytes(MAX_LINE_BYTES);
    assert.equal(Buffer.byteLength(line), MAX_LINE_BYTES);
    const c = await open();
    c.send(`${line}\n`);
    const reply = await c.next();
    assert.deepEqual(reply, { ok: true, echoed: { pad: JSON.parse(line).pad } });
  });

  it("refuses a line one byte over 64 KiB with line_too_long and closes, though its newline came in a later write", async () => {
    const c = await open();
    assert.equal((await c.request({ op: "echo" }))?.ok, true);
    const line = requestOfBytes(MAX_LINE_BYTES + 1);
    c.send(line.slice(0, 1000));
    c.send(line.slice(1000));
    c.send(`\n${JSON.stringify({ op: "echo" })}\n`);
    assert.deepEqual(await c.next(), {
      ok: false,
      error: "line_too_long",
      detail: `a request line is limited to ${MAX_LINE_BYTES} bytes`,
    });
    await c.closed;
    assert.equal(await c.next(), undefined, "nothing after the refusal: the connection ended");
  });

  it("refuses a line that never ends once it passes 64 KiB, without waiting for its newline", async () => {
    const c = await open();
    c.send("x".repeat(MAX_LINE_BYTES + 1));
    assert.equal((await c.next())?.error, "line_too_long");
    await c.closed;
  });

  it("serves 16 connections at once, closes a 17th without a reply, and lets one in when another ends", async () => {
    const held: LineClient[] = [];
    for (let i = 0; i < MAX_CONTROL_CONNECTIONS; i++) {
      const c = await open();
      // answered: the server has taken this connection
      assert.equal((await c.request({ op: "echo", i }))?.ok, true);
      held.push(c);
    }
    await assert.rejects(
      controlRequest(stateDir, "echo", {}, 60_000),
      (err: unknown) => err instanceof GatewayError && err.code === "CONTROL_FAILED",
    );
    for (const c of held)
      assert.equal((await c.request({ op: "echo" }))?.ok, true, "the 16 are still served");
    held[0]!.socket.destroy();
    await held[0]!.closed;
    // the server learns of the close on its own side a moment later
    let reply: unknown;
    for (let attempt = 0; attempt < 100 && reply === undefined; attempt++) {
      reply = await controlRequest(stateDir, "echo", {}, 60_000).catch(() => undefined);
    }
    assert.deepEqual(reply, { ok: true, echoed: {} });
  });

  it("closes a connection after 10 s without a byte on the injected clock, and not before", async () => {
    const c = await open();
    // each round trip is complete on the server's side (its reply written) before the clock moves
    assert.equal((await c.request({ op: "echo" }))?.ok, true);
    clock.advance(CONTROL_IDLE_MS - 1);
    assert.equal((await c.request({ op: "echo" }))?.ok, true, "open 1 ms before its deadline");
    clock.advance(CONTROL_IDLE_MS - 1);
    assert.equal((await c.request({ op: "echo" }))?.ok, true, "the last exchange restarted the 10 s");
    clock.advance(CONTROL_IDLE_MS);
    await c.closed;
    assert.equal(await c.next(), undefined);
  });

  it("answers several requests sent at once on one connection in order, handling one at a time", async () => {
    const handled: string[] = [];
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started: () => void = () => {};
    const slowStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    server.handle("slow", async () => {
      handled.push("slow start");
      started();
      await released;
      handled.push("slow end");
      return { which: "slow" };
    });
    server.handle("fast", async () => {
      handled.push("fast");
      return { which: "fast" };
    });
    const c = await open();
    // one write: the server reads all three lines at once
    c.send(`${JSON.stringify({ op: "slow" })}\n${JSON.stringify({ op: "fast" })}\n{bad\n`);
    await slowStarted;
    // the connection's other requests wait behind the slow one; another connection does not
    assert.equal((await controlRequest(stateDir, "echo"))?.ok, true);
    assert.deepEqual(handled, ["slow start"]);
    release();
    assert.deepEqual(await c.next(), { ok: true, which: "slow" });
    assert.deepEqual(await c.next(), { ok: true, which: "fast" });
    assert.equal((await c.next())?.error, "bad_request");
    assert.deepEqual(handled, ["slow start", "slow end", "fast"]);
  });

  it("refuses to register an op twice", () => {
    assert.throws(() => server.handle("echo", async () => ({})), TypeError);
  });

  it("removes its socket file at stop, and controlRequest then resolves undefined", async () => {
    await server.stop();
    assert.throws(() => lstatSync(server.path), { code: "ENOENT" });
    assert.equal(await controlRequest(stateDir, "echo"), undefined);
  });
});

describe("control socket file", () => {
  let stateDir: string;
  const servers: ControlServer[] = [];
  const newServer = (): ControlServer => {
    const s = new ControlServer(stateDir, { clock: new ManualClock() });
    s.handle("echo", async (args) => ({ echoed: args }));
    servers.push(s);
    return s;
  };
  beforeEach(() => {
    stateDir = tempDir("vitalog-control-file-");
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("is a socket of mode 0600 under umask 000, leaving nothing else in the state directory", async () => {
    const before = process.umask(0);
    try {
      await newServer().start();
    } finally {
      process.umask(before);
    }
    const st = lstatSync(join(stateDir, "control.sock"));
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(stateDir), ["control.sock"]);
  });

  it("replaces a socket file left by a process that was SIGKILLed", async () => {
    const path = join(stateDir, "control.sock");
    // a real process binds the path and dies without closing it
    const child = spawn(
      process.execPath,
      [
        "-e",
        `require("node:net").createServer().listen(${JSON.stringify(path)}, () => process.stdout.write("bound"))`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
    child.kill("SIGKILL");
    await waitExit(child);
    assert.ok(lstatSync(path).isSocket(), "the dead process's socket file is still there");
    assert.equal(await controlRequest(stateDir, "echo"), undefined, "a stale socket is no daemon");
    await newServer().start();
    assert.deepEqual(await controlRequest(stateDir, "echo", { n: 1 }), { ok: true, echoed: { n: 1 } });
  });

  it("refuses to start beside a live server (ALREADY_RUNNING, exit 75), which keeps its socket and keeps serving", async () => {
    await newServer().start();
    const second = new ControlServer(stateDir, { clock: new ManualClock() });
    await assert.rejects(
      second.start(),
      (err: unknown) => err instanceof GatewayError && err.code === "ALREADY_RUNNING" && err.exitCode === 75,
    );
    assert.deepEqual(await controlRequest(stateDir, "echo"), { ok: true, echoed: {} });
    assert.deepEqual(readdirSync(stateDir), ["control.sock"]);
  });

  it("controlRequest resolves undefined when nothing was ever there", async () => {
    assert.equal(await controlRequest(join(stateDir, "never-started"), "echo"), undefined);
    assert.equal(await controlRequest(stateDir, "echo"), undefined);
  });

  it("controlRequest fails at once (CONTROL_FAILED, not its timeout) when the server hangs up without a reply", async () => {
    const path = join(stateDir, "control.sock");
    let requests = 0;
    const rude = createServer((s) => {
      s.once("data", () => {
        requests++;
        s.destroy();
      });
    });
    await new Promise<void>((resolve) => rude.listen(path, resolve));
    try {
      await assert.rejects(
        controlRequest(stateDir, "echo", {}, 30_000),
        (err: unknown) =>
          err instanceof GatewayError &&
          err.code === "CONTROL_FAILED" &&
          /without answering echo/.test(err.message),
      );
      assert.equal(requests, 1, "the request reached the server before it hung up");
    } finally {
      await new Promise((resolve) => rude.close(resolve));
    }
  });

  it("controlRequest rejects a reply that is not JSON with CONTROL_FAILED", async () => {
    const path = join(stateDir, "control.sock");
    const garbled = createServer((s) => s.once("data", () => s.end("<html>\n")));
    await new Promise<void>((resolve) => garbled.listen(path, resolve));
    try {
      await assert.rejects(
        controlRequest(stateDir, "echo"),
        (err: unknown) => err instanceof GatewayError && err.code === "CONTROL_FAILED",
      );
    } finally {
      await new Promise((resolve) => garbled.close(resolve));
    }
  });
});

describe("control socket path in the config pass", () => {
  it("reports a state directory too long for the socket with every other problem, exit 78", () => {
    const dir = tempDir("vitalog-control-config-");
    try {
      const longState = join(dir, "s".repeat(120));
      mkdirSync(longState, { mode: 0o700 });
      const pw = writeSecret(dir, "wear.pw", "pw");
      assert.throws(
        () =>
          parseConfig(
            {
              gateway: { id: "gw", stateDir: longState },
              devices: [
                { id: "wear-1", subject: "pt-1", passwordFile: pw },
                { id: "wear-1", subject: "pt-2", passwordFile: pw },
              ],
            },
            dir,
          ),
        (err: unknown) => {
          assert.ok(err instanceof GatewayError && err.code === "CONFIG_INVALID" && err.exitCode === 78);
          const problems = err.details as { path: string; message: string }[];
          assert.deepEqual(
            problems.map((p) => p.path),
            ["gateway.stateDir", "devices.1.id"],
          );
          assert.match(problems[0]!.message, /control socket .*longer than 107 bytes/);
          return true;
        },
      );
      // at the limit it is fine: <stateDir>/control.sock of exactly 107 bytes
      const fits = join(dir, "f".repeat(107 - Buffer.byteLength(dir) - "/".length - "/control.sock".length));
      assert.equal(Buffer.byteLength(join(fits, "control.sock")), 107);
      assert.doesNotThrow(() => parseConfig({ gateway: { id: "gw", stateDir: fits } }, dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
