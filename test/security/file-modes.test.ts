/**
 * The gateway's files on a real filesystem: what it creates is private to its user whatever the umask,
 * and it refuses directories others may write (they could swap the database or the keys).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Gateway } from "../../src/app/gateway.js";
import { systemClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { GatewayError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { MAIN, waitExit } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";

const root = tempDir("vitalog-file-modes-");
let n = 0;

/** A config in a fresh directory; `stateDir` (relative) does not exist yet unless the test makes it. */
function config(lines: string[] = [], stateDir = "state"): { dir: string; file: string } {
  const dir = join(root, `case-${n++}`);
  mkdirSync(dir, { mode: 0o700 });
  const file = join(dir, "vitalog.yaml");
  writeFileSync(
    file,
    [
      `gateway: { id: modes-gw, stateDir: ${stateDir} }`,
      "mqtt: { port: 0 }",
      "admin: { port: 0 }",
      "log: { level: info }",
      ...lines,
    ].join("\n"),
  );
  return { dir, file };
}

/** Runs `vitalog ARGS` under `umask 000` (a shell sets it, as a careless service manager would). */
function underUmask000(args: string[], timeoutMs = 15_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
    execFile(
      "bash",
      ["-c", 'umask 000 && exec "$@"', "bash", process.execPath, MAIN, ...args],
      { encoding: "utf8", timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        res({ code: typeof code === "number" ? code : null, stdout, stderr });
      },
    );
  });
}

/** Starts `vitalog run` under umask 000 and resolves once it logs "ready". */
function runUnderUmask000(configFile: string): Promise<ChildProcess> {
  const child = spawn(
    "bash",
    ["-c", 'umask 000 && exec "$@"', "bash", process.execPath, MAIN, "run", "--config", configFile],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  return new Promise((res, rej) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('"msg":"ready"')) res(child);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => rej(new Error(`gateway exited with ${code}:\n${out}`)));
  });
}

/** Every path under `dir` (itself included) with its permission bits, as `relative path → octal mode`. */
function modes(dir: string): Map<string, string> {
  const out = new Map<string, string>([[".", (statSync(dir).mode & 0o7777).toString(8)]]);
  for (const entry of readdirSync(dir, { recursive: true }) as string[]) {
    out.set(entry, (statSync(join(dir, entry)).mode & 0o7777).toString(8));
  }
  return out;
}

/** Asserts every directory under `dir` is 0700 and every file 0600, and that `expected` paths exist. */
function assertPrivate(dir: string, expected: string[]): void {
  const found = modes(dir);
  for (const path of expected) assert.ok(found.has(path), `${path} exists (found ${[...found.keys()]})`);
  for (const [path, mode] of found) {
    const isDir = statSync(join(dir, path)).isDirectory();
    assert.equal(
      mode,
      isDir ? "700" : "600",
      `${path} is ${isDir ? "a directory" : "a file"} of mode ${mode}`,
    );
  }
}

describe("file modes: private whatever the umask, and no directory others may write", () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  it("vitalog run under umask 000 creates the state and keys directories 0700 and the database, WAL, SHM and keys 0600", async () => {
    const { dir, file } = config([], "state/gw");
    const child = await runUnderUmask000(file);
    try {
      // while the gateway runs, its database is open in WAL mode: the -wal and -shm files exist
      assertPrivate(join(dir, "state"), [
        "gw",
        "gw/vitalog.db",
        "gw/vitalog.db-wal",
        "gw/vitalog.db-shm",
        "gw/keys",
        "gw/keys/signing.key",
        "gw/keys/storage.key",
      ]);
    } finally {
      child.kill("SIGTERM");
    }
    assert.deepEqual(await waitExit(child), { code: 0, signal: null });
    assertPrivate(join(dir, "state"), ["gw/vitalog.db", "gw/keys/signing.key"]);
  });

  it("vitalog keys init and devices add under umask 000 create keys and database 0600 in 0700 directories", async () => {
    const { dir, file } = config();
    const init = await underUmask000(["keys", "init", "--config", file]);
    assert.equal(init.code, 0, init.stderr);
    const add = await underUmask000([
      "devices",
      "add",
      "--config",
      file,
      "--id",
      "wear-001",
      "--subject",
      "pt-1",
    ]);
    assert.equal(add.code, 0, add.stderr);
    assertPrivate(join(dir, "state"), ["keys/signing.key", "keys/storage.key", "vitalog.db"]);
  });

  for (const mode of [0o777, 0o770, 0o1777]) {
    it(`vitalog run refuses a state directory of mode ${mode.toString(8)} with exit 78, naming it`, async () => {
      const { dir, file } = config();
      const state = join(dir, "state");
      mkdirSync(state);
      chmodSync(state, mode);
      const r = await underUmask000(["run", "--config", file]);
      assert.equal(r.code, 78, r.stdout + r.stderr);
      assert.match(r.stderr, /CONFIG_INVALID/);
      assert.match(
        r.stderr,
        new RegExp(`gateway\\.stateDir: state directory ${state} has mode ${mode.toString(8)}`),
      );
      assert.match(r.stderr, /writable by its group or others/);
      assert.deepEqual(readdirSync(state), [], "nothing was created in it");
    });
  }

  it("vitalog run refuses a world-writable keys directory with DIRECTORY_INSECURE, exit 78", async () => {
    const { dir, file } = config();
    const keys = join(dir, "state", "keys");
    mkdirSync(keys, { recursive: true, mode: 0o700 });
    chmodSync(keys, 0o777);
    const r = await underUmask000(["run", "--config", file]);
    assert.equal(r.code, 78, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`DIRECTORY_INSECURE: keys directory ${keys} has mode 777`));
    assert.deepEqual(readdirSync(keys), [], "no key was written into it");
  });

  it("Gateway.start refuses a group-writable directory of explicitly configured key files", async () => {
    const { dir, file } = config();
    const keys = join(dir, "shared-keys");
    mkdirSync(keys, { mode: 0o700 });
    chmodSync(keys, 0o770);
    writeFileSync(
      file,
      [
        "gateway: { id: modes-gw, stateDir: state }",
        "mqtt: { port: 0 }",
        "admin: { port: 0 }",
        "log: { level: silent }",
        `tlog: { signingKeyFile: ${keys}/signing.key, storageKeyFile: ${keys}/storage.key }`,
      ].join("\n"),
    );
    await assert.rejects(
      Gateway.start(loadConfig(file), { log: createLogger("silent"), clock: systemClock }),
      (e) =>
        e instanceof GatewayError &&
        e.code === "DIRECTORY_INSECURE" &&
        e.exitCode === 78 &&
        e.message.includes(`keys directory ${keys} has mode 770`),
    );
  });

  it("Gateway.start refuses a world-writable database directory outside the state directory", async () => {
    const { dir, file } = config();
    const shared = join(dir, "shared-db");
    mkdirSync(shared, { mode: 0o700 });
    chmodSync(shared, 0o777);
    writeFileSync(
      file,
      [
        "gateway: { id: modes-gw, stateDir: state }",
        "mqtt: { port: 0 }",
        "admin: { port: 0 }",
        "log: { level: silent }",
        `storage: { path: ${shared}/vitalog.db }`,
      ].join("\n"),
    );
    await assert.rejects(
      Gateway.start(loadConfig(file), { log: createLogger("silent"), clock: systemClock }),
      (e) =>
        e instanceof GatewayError &&
        e.code === "DIRECTORY_INSECURE" &&
        e.exitCode === 78 &&
        e.message.includes(`database directory ${shared} has mode 777`),
    );
    assert.deepEqual(readdirSync(shared), [], "no database was created in it");
  });
});
