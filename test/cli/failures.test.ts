/**
 * Every failure of a command is one line on stderr, `vitalog: CODE: message`, with CODE from the catalog
 * (src/errors.ts) and the exit code the catalog gives it; never a stack trace. And the systemd unit does not
 * restart into a failure that only the operator can fix.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { failureOf } from "../../src/cli/failure.js";
import { ERROR_CODES, type ErrorCode } from "../../src/errors.js";
import { MAIN, waitExit } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";
import { unitValue } from "../security/unit-systemd.js";

const vitalog = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", timeout: 30_000 });

/** Asserts a failure is exactly one `vitalog: CODE: …` line, without a stack frame, exiting CODE's exit code. */
function assertOneLineFailure(r: { status: number | null; stderr: string }, code: ErrorCode): void {
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^vitalog: ${code}: \\S`));
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack frame");
  assert.equal(r.status, ERROR_CODES[code].exitCode);
}

/** Listens on a loopback port chosen by the OS and returns it (the server keeps it busy). */
function occupy(): Promise<{ server: Server; port: number }> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once("error", rej);
    server.listen(0, "127.0.0.1", () => res({ server, port: (server.address() as { port: number }).port }));
  });
}

describe("a failing command says one line with its catalog code", () => {
  const dir = tempDir("vitalog-cli-failures-");
  after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, "vitalog.yaml");
  writeFileSync(config, "gateway: { id: fail-gw, stateDir: state }\nmqtt: { port: 0 }\nadmin: { port: 0 }\n");

  it("refuses a malformed device id as a usage error before opening anything", () => {
    const r = vitalog("devices", "add", "--config", config, "--id", "bad id!", "--subject", "pt-1");
    assertOneLineFailure(r, "USAGE");
    assert.match(r.stderr, /--id "bad id!" is not a device id/);
    const s = vitalog("devices", "add", "--config", config, "--id", "wear-1", "--subject", "pt 1");
    assertOneLineFailure(s, "USAGE");
  });

  it("refuses a stray word and keeps a multi-line parser error to one line", () => {
    assertOneLineFailure(vitalog("run", "--config", config, "extra"), "USAGE");
    const r = vitalog("alerts", "--config", config, "--limit", "-1");
    assertOneLineFailure(r, "USAGE");
    assert.match(r.stderr, /--limit=-XYZ/);
  });

  it("names an unknown flag and points at --help", () => {
    const r = vitalog("readings", "--config", config, "--bogus");
    assertOneLineFailure(r, "USAGE");
    assert.match(r.stderr, /--bogus.*vitalog readings --help/);
  });

  it("exits ADDRESS_IN_USE (a config-class exit) when the MQTT port is taken, and stops", async () => {
    const { server, port } = await occupy();
    try {
      const busy = join(dir, "busy.yaml");
      writeFileSync(
        busy,
        `gateway: { id: busy-gw, stateDir: busy-state }\nmqtt: { port: ${port} }\nadmin: { port: 0 }\nlog: { level: silent }\n`,
      );
      const child = spawn(process.execPath, [MAIN, "run", "--config", busy], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      const exit = await waitExit(child);
      assertOneLineFailure({ status: exit.code, stderr }, "ADDRESS_IN_USE");
      assert.match(stderr, new RegExp(`:${port} is already in use`));
    } finally {
      server.close();
    }
  });

  it("says plainly that no gateway is running when status finds none", async () => {
    const { server, port } = await occupy();
    // a port that was free a moment ago and is closed again: nothing listens on it
    await new Promise<void>((res) => server.close(() => res()));
    const idle = join(dir, "idle.yaml");
    writeFileSync(
      idle,
      `gateway: { id: idle-gw, stateDir: idle-state }\nmqtt: { port: 0 }\nadmin: { port: ${port} }\n`,
    );
    const r = vitalog("status", "--config", idle);
    assertOneLineFailure(r, "GATEWAY_NOT_RUNNING");
    assert.match(r.stderr, /no gateway is running/);
  });

  it("prints the stack only when VITALOG_LOG_LEVEL=debug asks for it", () => {
    const env = { ...process.env, VITALOG_LOG_LEVEL: "debug" };
    const r = spawnSync(process.execPath, [MAIN, "readings", "--config", join(dir, "missing.yaml")], {
      encoding: "utf8",
      env,
    });
    assert.equal(r.status, 78);
    assert.match(r.stderr, /^vitalog: CONFIG_INVALID: /);
    assert.match(r.stderr, /"msg":"command failed"/);
  });
});

describe("failureOf: any thrown value as one catalog line", () => {
  it("names a file the system refuses as FILE_UNUSABLE with its path", () => {
    let thrown: unknown;
    try {
      writeFileSync(join(tmpdir(), "vitalog-no-such-dir", "proof.json"), "");
    } catch (err) {
      thrown = err;
    }
    const f = failureOf(thrown);
    assert.equal(f.code, "FILE_UNUSABLE");
    assert.equal(f.exitCode, ERROR_CODES.FILE_UNUSABLE.exitCode);
    assert.match(f.message, /vitalog-no-such-dir\/proof\.json: no such file or directory \(open\)$/);
  });

  it("keeps an unexpected error to its first line, without its stack", () => {
    const f = failureOf(new RangeError("index out of range\nsecond line"));
    assert.deepEqual(f, {
      code: "INTERNAL_ERROR",
      message: "RangeError: index out of range",
      exitCode: ERROR_CODES.INTERNAL_ERROR.exitCode,
    });
  });
});

describe("the systemd unit does not restart into an operator's mistake", () => {
  it("prevents a restart on every exit code of a config-class or usage error", () => {
    const prevented = new Set(unitValue("RestartPreventExitStatus").split(/\s+/).map(Number));
    const mustStop = Object.entries(ERROR_CODES).filter(
      ([code, e]) => e.exitCode === 78 || e.exitCode === 64 || code === "ADDRESS_IN_USE",
    );
    assert.ok(mustStop.some(([code]) => code === "ADDRESS_IN_USE"));
    for (const [code, e] of mustStop)
      assert.ok(prevented.has(e.exitCode), `${code} (exit ${e.exitCode}) restarts`);
  });
});
