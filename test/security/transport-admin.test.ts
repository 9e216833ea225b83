/**
 * The admin HTTP (/healthz, /metrics, /status): beyond loopback only with a bearer token, and whatever
 * the address, only for requests whose `Host` names loopback, the bound host or an allowed name (DNS
 * rebinding). A real gateway and the real `vitalog` CLI.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AdminServer } from "../../src/admin-server.js";
import { Gateway } from "../../src/app/gateway.js";
import { systemClock } from "../../src/clock.js";
import { loadConfig, parseConfig } from "../../src/config.js";
import { GatewayError } from "../../src/errors.js";
import { Health } from "../../src/health.js";
import { createLogger } from "../../src/log.js";
import { Metrics } from "../../src/metrics.js";
import { MAIN } from "../helpers/child-gateway.js";
import { tempDir, writeSecret } from "../helpers/gateway.js";
import { withFreshPort } from "../helpers/ports.js";

const TOKEN = "4f9c1d7e2b8a6c3f0e5d9a1b7c2e8f4a6d0b3c9e1f7a2d5c8b4e0f6a3d9c1b7e";

/** One GET with a chosen Host header (fetch would not let the test set it). */
function get(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** An HTTP/1.0 request with no Host header at all, over a raw socket. */
function getWithoutHost(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: "127.0.0.1", port });
    let reply = "";
    s.on("data", (d: Buffer) => {
      reply += d.toString();
    });
    s.on("end", () => resolve(reply.split("\r\n")[0] ?? ""));
    s.on("error", reject);
    s.write("GET /metrics HTTP/1.0\r\n\r\n");
  });
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      { encoding: "utf8", timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function problemPaths(raw: unknown, baseDir: string): string[] {
  try {
    parseConfig(raw, baseDir);
    return [];
  } catch (err) {
    assert.ok(err instanceof GatewayError && err.code === "CONFIG_INVALID", String(err));
    return (err.details as { path: string }[]).map((p) => p.path);
  }
}

describe("admin HTTP access (real gateway, real CLI)", () => {
  const dir = tempDir("vitalog-admin-");
  const stateDir = () => mkdtempSync(join(dir, "state-"));
  const tokenFile = writeSecret(dir, "admin.token", TOKEN);
  const gateways: Gateway[] = [];
  after(async () => {
    for (const gw of gateways) await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const base = (extra: Record<string, unknown>) => ({
    gateway: { id: "admin-gw", stateDir: stateDir() },
    mqtt: { port: 0 },
    log: { level: "silent" },
    ...extra,
  });

  describe("config", () => {
    it("refuses an admin host beyond loopback without admin.tokenFile, and vitalog run exits 78 saying so", async () => {
      assert.deepEqual(problemPaths(base({ admin: { host: "0.0.0.0" } }), dir), ["admin.tokenFile"]);
      assert.deepEqual(problemPaths(base({ admin: { host: "::" } }), dir), ["admin.tokenFile"]);
      assert.deepEqual(problemPaths(base({ admin: { host: "gw01.ward7.example" } }), dir), [
        "admin.tokenFile",
      ]);
      // disabled, loopback in every spelling: nothing to protect beyond this host
      for (const host of ["127.0.0.1", "127.0.0.2", "::1", "localhost"]) {
        assert.deepEqual(problemPaths(base({ admin: { host } }), dir), [], host);
      }
      assert.deepEqual(problemPaths(base({ admin: { host: "0.0.0.0", port: 0 } }), dir), []);

      const file = join(dir, "open-admin.yaml");
      writeFileSync(
        file,
        // the default admin port: refused before anything is bound
        `gateway: { id: admin-gw, stateDir: ${stateDir()} }\nmqtt: { port: 0 }\nadmin: { host: 0.0.0.0 }\n`,
      );
      const run = spawnSync(process.execPath, [MAIN, "run", "--config", file], {
        encoding: "utf8",
        timeout: 30_000,
      });
      assert.equal(run.status, 78, run.stderr);
      assert.match(
        run.stderr,
        /admin\.tokenFile: required when admin\.host \(0\.0\.0\.0\) is not a loopback address/,
      );
    });

    it("refuses a token file others may read, or a token too short to be one", () => {
      const open = writeSecret(dir, "open.token", TOKEN);
      chmodSync(open, 0o644);
      assert.deepEqual(problemPaths(base({ admin: { host: "0.0.0.0", tokenFile: open } }), dir), [
        "admin.tokenFile",
      ]);
      const short = writeSecret(dir, "short.token", "letmein");
      assert.deepEqual(problemPaths(base({ admin: { tokenFile: short } }), dir), ["admin.tokenFile"]);
      const spaced = writeSecret(dir, "spaced.token", `${TOKEN.slice(0, 20)} ${TOKEN.slice(20)}`);
      assert.deepEqual(problemPaths(base({ admin: { tokenFile: spaced } }), dir), ["admin.tokenFile"]);
      assert.deepEqual(problemPaths(base({ admin: { host: "0.0.0.0", tokenFile } }), dir), []);
    });

    it("refuses, in the server itself, to listen beyond loopback without a token", async () => {
      const admin = new AdminServer({
        metrics: new Metrics(),
        health: new Health(),
        status: () => ({}),
        log: createLogger("silent"),
      });
      await assert.rejects(
        admin.start(0, "0.0.0.0"),
        (err: unknown) => err instanceof GatewayError && err.code === "CONFIG_INVALID",
      );
      await admin.stop();
    });
  });

  describe("Host check on the default loopback listener", () => {
    let gw: Gateway;
    let port: number;
    const refusals = (reason: string) => gw.metrics.value("vitalog_admin_refusals_total", { reason });

    before(async () => {
      // the admin HTTP cannot be asked for port 0 (that is "off"): a fresh port, retried if taken
      gw = await withFreshPort((adminPort) =>
        Gateway.start(
          parseConfig(base({ admin: { port: adminPort, allowedHosts: ["gw01.ward7.example"] } }), dir),
          {
            log: createLogger("silent"),
            clock: systemClock,
          },
        ),
      );
      gateways.push(gw);
      port = gw.adminPort;
    });

    it("answers requests naming loopback, with or without a port, and the allowed names", async () => {
      for (const host of [
        `127.0.0.1:${port}`,
        "localhost",
        `LOCALHOST.:${port}`,
        `[::1]:${port}`,
        "gw01.ward7.example",
      ]) {
        const res = await get(port, "/healthz", { host });
        assert.equal(res.status, 200, host);
      }
    });

    it("answers 421 to a page whose DNS name was re-bound to the gateway, and counts it", async () => {
      const before = refusals("host_not_allowed");
      for (const host of [
        `evil.example:${port}`,
        "127.0.0.1.evil.example",
        "gw01.ward7.example.evil",
        "0.0.0.0",
      ]) {
        const res = await get(port, "/status", { host });
        assert.equal(res.status, 421, host);
        assert.doesNotMatch(res.body, /admin-gw/, "nothing of the status leaks");
      }
      assert.equal(refusals("host_not_allowed"), before + 4);
    });

    it("answers 421 to a request without any Host", async () => {
      const before = refusals("host_not_allowed");
      assert.match(await getWithoutHost(port), /^HTTP\/1\.[01] 421/);
      assert.equal(refusals("host_not_allowed"), before + 1);
    });
  });

  describe("bound beyond loopback with a token", () => {
    let gw: Gateway;
    let port: number;
    let configFile: string;
    const refusals = (reason: string) => gw.metrics.value("vitalog_admin_refusals_total", { reason });

    before(async () => {
      configFile = join(dir, "token-admin.yaml");
      const state = stateDir();
      // the CLI reads the admin port from this file: a fresh port written before the start, retried if taken
      gw = await withFreshPort((adminPort) => {
        writeFileSync(
          configFile,
          [
            `gateway: { id: admin-gw, stateDir: ${state} }`,
            "mqtt: { port: 0 }",
            `admin: { host: 0.0.0.0, port: ${adminPort}, tokenFile: ${tokenFile} }`,
            "log: { level: silent }",
            "",
          ].join("\n"),
        );
        return Gateway.start(loadConfig(configFile), { log: createLogger("silent"), clock: systemClock });
      });
      port = gw.adminPort;
      gateways.push(gw);
    });

    it("answers 401 without the token or with another, counted, and serves with it", async () => {
      const missing = refusals("token_missing");
      const invalid = refusals("token_invalid");
      const none = await get(port, "/metrics", { host: "localhost" });
      assert.equal(none.status, 401);
      assert.equal(none.headers["www-authenticate"], 'Bearer realm="vitalog"');
      const wrong = await get(port, "/metrics", {
        host: "localhost",
        authorization: `Bearer ${TOKEN.slice(0, -1)}0`,
      });
      assert.equal(wrong.status, 401);
      assert.match(String(wrong.headers["www-authenticate"]), /error="invalid_token"/);
      const basic = await get(port, "/metrics", {
        host: "localhost",
        authorization: `Basic ${btoa(`x:${TOKEN}`)}`,
      });
      assert.equal(basic.status, 401);
      assert.equal(refusals("token_missing"), missing + 2, "no token, and a scheme that is not Bearer");
      assert.equal(refusals("token_invalid"), invalid + 1);
      const ok = await get(port, "/metrics", { host: "localhost", authorization: `bearer ${TOKEN}` });
      assert.equal(ok.status, 200);
      assert.match(ok.body, /vitalog_admin_refusals_total\{reason="token_invalid"\} 1/);
    });

    it("still checks Host before the token", async () => {
      const res = await get(port, "/metrics", { host: "evil.example", authorization: `Bearer ${TOKEN}` });
      assert.equal(res.status, 421);
    });

    it("lets vitalog status read the daemon with the token from the config", async () => {
      const r = await runCli(["status", "--config", configFile]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).gateway, "admin-gw");
    });

    it("makes vitalog status exit 78 when its token is not the daemon's", async () => {
      const otherToken = writeSecret(dir, "other.token", TOKEN.replace(/4/g, "5"));
      const other = join(dir, "other-token.yaml");
      writeFileSync(
        other,
        `gateway: { id: admin-gw, stateDir: ${stateDir()} }\nmqtt: { port: 0 }\nadmin: { host: 0.0.0.0, port: ${port}, tokenFile: ${otherToken} }\n`,
      );
      const r = await runCli(["status", "--config", other]);
      assert.equal(r.code, 78, r.stderr);
      assert.match(r.stderr, /refused the admin token/);
    });
  });
});
