/**
 * One gateway per database and per state directory, decided before anything is written: real gateways (in
 * this process, and `vitalog run` child processes) on real SQLite files in temp directories.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Gateway } from "../src/app/gateway.js";
import { systemClock } from "../src/clock.js";
import { type ConfigInput, parseConfig } from "../src/config.js";
import { GatewayError } from "../src/errors.js";
import { InstanceLock } from "../src/instance-lock.js";
import { createLogger } from "../src/log.js";
import { MAIN, spawnGateway, waitExit } from "./helpers/child-gateway.js";
import { tempDir } from "./helpers/gateway.js";

const deps = { log: createLogger("silent"), clock: systemClock };

function configOf(stateDir: string, database?: string): ConfigInput {
  return {
    gateway: { id: "lock-gw", origin: "test.vitalog.invalid/gw/lock-gw", stateDir },
    mqtt: { port: 0 },
    admin: { port: 0 },
    log: { level: "silent" },
    storage: { synchronous: "normal", ...(database ? { path: database } : {}) },
  };
}

const alreadyRunning = (first: { stateDir: string }) => (err: unknown) => {
  assert.ok(err instanceof GatewayError, String(err));
  assert.equal(err.code, "ALREADY_RUNNING");
  assert.equal(err.exitCode, 75);
  assert.ok(err.message.includes(`pid ${process.pid}`), err.message);
  assert.ok(err.message.includes(`state directory ${first.stateDir}`), err.message);
  return true;
};

describe("one gateway per database and per state directory (in this process)", () => {
  const dir = tempDir("vitalog-lock-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses a second gateway on the same database from another state directory, naming the first, before writing anything", async () => {
    const stateA = join(dir, "a");
    const database = join(dir, "shared-db", "vitalog.db");
    const first = await Gateway.start(parseConfig(configOf(stateA, database), dir), deps);
    try {
      const stateB = join(dir, "b");
      await assert.rejects(
        Gateway.start(parseConfig(configOf(stateB, database), dir), deps),
        alreadyRunning({ stateDir: stateA }),
      );
      // its own (released) lock file only: no control socket, no keys, no database of its own
      assert.deepEqual(readdirSync(stateB), ["gateway.lock"]);
      // the first one is untouched and still answers
      assert.ok(first.mqtt.port > 0);
      assert.ok(existsSync(join(stateA, "control.sock")));
    } finally {
      await first.stop();
    }
  });

  it("refuses a second gateway on the same state directory with another database, which it never creates", async () => {
    const state = join(dir, "same-state");
    const first = await Gateway.start(parseConfig(configOf(state), dir), deps);
    try {
      const otherDb = join(dir, "other-db", "vitalog.db");
      await assert.rejects(
        Gateway.start(parseConfig(configOf(state, otherDb), dir), deps),
        alreadyRunning({ stateDir: state }),
      );
      assert.equal(existsSync(otherDb), false);
    } finally {
      await first.stop();
    }
  });

  it("sees the same database through a symbolic link to its directory", async () => {
    const realDir = join(dir, "real-db");
    mkdirSync(realDir, { mode: 0o700 });
    symlinkSync(realDir, join(dir, "linked-db"));
    const first = await Gateway.start(
      parseConfig(configOf(join(dir, "s1"), join(realDir, "v.db")), dir),
      deps,
    );
    try {
      await assert.rejects(
        Gateway.start(parseConfig(configOf(join(dir, "s2"), join(dir, "linked-db", "v.db")), dir), deps),
        alreadyRunning({ stateDir: join(dir, "s1") }),
      );
    } finally {
      await first.stop();
    }
  });

  it("lets the next gateway start once the first has stopped", async () => {
    const database = join(dir, "next-db", "vitalog.db");
    const first = await Gateway.start(parseConfig(configOf(join(dir, "n1"), database), dir), deps);
    await first.stop();
    const second = await Gateway.start(parseConfig(configOf(join(dir, "n1"), database), dir), deps);
    await second.stop();
  });

  it("takes one lock when the database's lock file is the state directory's", () => {
    const state = join(dir, "one-file");
    // <stateDir>/gateway + ".lock" is <stateDir>/gateway.lock
    const lock = InstanceLock.acquire({ stateDir: state, database: join(state, "gateway") }, Date.now());
    try {
      assert.throws(
        () => InstanceLock.acquire({ stateDir: state, database: join(state, "gateway") }, Date.now()),
        alreadyRunning({ stateDir: state }),
      );
    } finally {
      lock.release();
    }
    InstanceLock.acquire({ stateDir: state, database: join(state, "gateway") }, Date.now()).release();
  });

  it("still holds the lock against other processes after a refused attempt in this process closed its own handle", async () => {
    // POSIX drops every fcntl lock a process holds on a file when it closes any descriptor of that file
    const where = { stateDir: join(dir, "quirk-state"), database: join(dir, "quirk-db", "v.db") };
    const lock = InstanceLock.acquire(where, Date.now());
    try {
      assert.throws(() => InstanceLock.acquire(where, Date.now()), alreadyRunning(where));
      const probe = spawn(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          `import { InstanceLock } from ${JSON.stringify(new URL("../src/instance-lock.js", import.meta.url).href)};
           try { InstanceLock.acquire(${JSON.stringify(where)}, Date.now()); process.exit(0); }
           catch (e) { process.exit(e.code === "ALREADY_RUNNING" ? 75 : 1); }`,
        ],
        { stdio: "inherit" },
      );
      assert.equal((await waitExit(probe)).code, 75);
    } finally {
      lock.release();
    }
  });

  it("refuses a lock file that is not a lock database, saying which file", () => {
    const state = join(dir, "garbled");
    mkdirSync(state, { mode: 0o700 });
    writeFileSync(
      join(state, "gateway.lock"),
      "not a database, but long enough to be read as a header".repeat(4),
      {
        mode: 0o600,
      },
    );
    assert.throws(
      () => InstanceLock.acquire({ stateDir: state, database: join(state, "vitalog.db") }, Date.now()),
      (err: unknown) =>
        err instanceof GatewayError &&
        err.code === "STORE_UNAVAILABLE" &&
        err.message.includes(join(state, "gateway.lock")),
    );
  });
});

describe("one gateway per database (vitalog run, child processes)", () => {
  const dir = tempDir("vitalog-lock-run-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  const writeConfig = (name: string, stateDir: string): string => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      [
        `gateway: { id: ${name}, stateDir: ${stateDir} }`,
        "mqtt: { port: 0 }",
        "admin: { port: 0 }",
        "log: { level: info }",
        "storage: { path: shared/vitalog.db, synchronous: normal }",
      ].join("\n"),
    );
    return file;
  };

  it("stops a second `vitalog run` on the database with exit 75, naming the first; after SIGKILL of the first a new one starts", async () => {
    const firstConfig = writeConfig("gw-a", "state-a");
    const first = await spawnGateway(firstConfig);
    let killed = false;
    try {
      const second = spawn(process.execPath, [MAIN, "run", "--config", writeConfig("gw-b", "state-b")], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      second.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      // a second daemon that got as far as "ready" is the failure: stop it rather than wait on it forever
      let stdout = "";
      second.stdout!.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('"msg":"ready"')) second.kill("SIGKILL");
      });
      const exit = await waitExit(second);
      assert.equal(exit.code, 75, `${stdout}\n${stderr}`);
      assert.match(stderr, /ALREADY_RUNNING/);
      assert.ok(stderr.includes(`pid ${first.child.pid}`), stderr);
      assert.ok(stderr.includes(`state directory ${join(dir, "state-a")}`), stderr);

      first.child.kill("SIGKILL");
      assert.equal((await waitExit(first.child)).signal, "SIGKILL");
      killed = true;
      // the kernel dropped the dead process's locks; its control socket file is left behind
      assert.ok(existsSync(join(dir, "state-a", "control.sock")));
      const third = await spawnGateway(firstConfig);
      third.child.kill("SIGTERM");
      assert.equal((await waitExit(third.child)).code, 0, third.output());
    } finally {
      if (!killed) {
        first.child.kill("SIGKILL");
        await waitExit(first.child);
      }
    }
  });
});
