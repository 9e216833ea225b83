import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadConfig, parseConfig } from "../src/config.js";
import { GatewayError } from "../src/errors.js";
import { MAIN } from "./helpers/child-gateway.js";
import { tempDir, writeSecret } from "./helpers/gateway.js";

describe("config", () => {
  const dir = tempDir("vitalog-config-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("applies defaults and resolves paths against the config file's folder", () => {
    const c = parseConfig({ gateway: { id: "gw-1", stateDir: "state" } }, dir);
    assert.equal(c.gateway.stateDir, join(dir, "state"));
    assert.equal(c.storage.path, join(dir, "state", "vitalog.db"));
    assert.equal(c.mqtt.host, "127.0.0.1", "loopback by default");
    assert.equal(c.mqtt.port, 1883);
    assert.equal(c.storage.synchronous, "full");
    assert.ok(Object.isFrozen(c.mqtt), "config is deep-frozen");
  });

  it("lists every problem with its path, not just the first", () => {
    const world = writeSecret(dir, "world.pw", "pw");
    chmodSync(world, 0o644);
    let err: unknown;
    try {
      parseConfig(
        {
          gateway: { id: "bad id!", stateDir: "" },
          mqtt: { port: 70000, bogus: 1 },
          storage: { synchronous: "sometimes" },
          devices: [
            { id: "d1", subject: "p1", passwordFile: "missing.pw" },
            { id: "d1", subject: "p1", password: "inline-secret" },
          ],
        },
        dir,
      );
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof GatewayError && err.code === "CONFIG_INVALID");
    assert.equal(err.exitCode, 78);
    const paths = (err.details as Array<{ path: string }>).map((p) => p.path);
    for (const p of [
      "gateway.id",
      "gateway.stateDir",
      "mqtt.port",
      "mqtt",
      "storage.synchronous",
      "devices.1",
    ]) {
      assert.ok(paths.includes(p), `expected a problem at ${p}, got ${paths.join(", ")}`);
    }
  });

  it("refuses missing and world-readable secret files, all at once", () => {
    const world = writeSecret(dir, "open.pw", "pw");
    chmodSync(world, 0o644);
    assert.throws(
      () =>
        parseConfig(
          {
            gateway: { id: "gw", stateDir: "s" },
            devices: [
              { id: "d1", subject: "p1", passwordFile: "nope.pw" },
              { id: "d2", subject: "p2", passwordFile: world },
            ],
          },
          dir,
        ),
      (e: GatewayError) => {
        const problems = e.details as Array<{ path: string; message: string }>;
        assert.deepEqual(
          problems.map((p) => p.path),
          ["devices.0.passwordFile", "devices.1.passwordFile"],
        );
        assert.match(problems[1]!.message, /world-readable/);
        return true;
      },
    );
  });

  it("reports YAML syntax errors with their line", () => {
    const file = join(dir, "broken.yaml");
    writeFileSync(file, "gateway:\n  id: x\n   stateDir: [\n");
    assert.throws(
      () => loadConfig(file),
      (e: GatewayError) => e.code === "CONFIG_INVALID" && /yaml line/.test(e.message),
    );
  });

  it("makes `vitalog run` exit 78 printing every problem", () => {
    const file = join(dir, "invalid.yaml");
    writeFileSync(
      file,
      "gateway: { id: 'no spaces allowed', stateDir: s }\nmqtt: { port: -1 }\nlog: { level: loud }\n",
    );
    const r = spawnSync(process.execPath, [MAIN, "run", "--config", file], {
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /3 problem\(s\)/);
    assert.match(r.stderr, /gateway\.id/);
    assert.match(r.stderr, /mqtt\.port/);
    assert.match(r.stderr, /log\.level/);
  });
});
