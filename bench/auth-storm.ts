#!/usr/bin/env node
/**
 * `npm run bench:auth`: fair and silent MQTT authentication, measured on a gateway in a child process
 * (`vitalog run` as the systemd unit runs it, default config), attacked from many loopback addresses
 * (Linux routes all of 127.0.0.0/8 to loopback).
 *
 * - `timing`: refusal latency of unknown ids and of known ids with a wrong password, interleaved, each
 *   attempt from a fresh address so no throttle applies: medians and their ratio (target: within 20 %).
 * - `storm_*`: 700 wrong-password CONNECTs (48 at a time) while a well-behaved device connects again and
 *   again; its CONNECT→CONNACK latency (target ≤ 2 s):
 *   - `storm_own_id`: the storm guesses the device's own id, from 64 other addresses;
 *   - `storm_own_address`: the storm comes from the device's own address, with as many ids;
 *   - `storm_other_id_cold`: the storm guesses another id, and the devices measured were provisioned by
 *     the CLI while the gateway ran, so it has never verified their passwords (a full scrypt each);
 *   - `storm_own_id_cold`: the storm guesses the id of a device never verified since start, which retries
 *     every 500 ms like a device would: it waits for the backed-off id's slot for clean addresses, which
 *     the storm's addresses take first, one each.
 *
 *   node dist/bench/auth-storm.js [--storm 700] [--timing 60]
 *
 * Output: one JSON object on stdout (also .bench/auth-storm.json).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { withFreshPort } from "../test/helpers/ports.js";
import { ConnectStorm, connectOnce } from "../test/security/connect-storm.js";
import { unitProcess } from "./unit-env.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const MAIN = resolve(HERE, "../src/main.js");

const { values } = parseArgs({
  options: {
    storm: { type: "string", default: "700" },
    timing: { type: "string", default: "60" },
  },
});
const STORM = Number(values.storm);
const TIMING = Number(values.timing);
const CONCURRENCY = 48;

const round = (x: number) => Math.round(x * 10) / 10;
function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) =>
    s.length === 0 ? null : round(s[Math.min(s.length - 1, Math.floor(p * s.length))]!);
  return { n: s.length, p50_ms: at(0.5), p90_ms: at(0.9), max_ms: s.length ? round(s.at(-1)!) : null };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "vitalog-bench-auth-"));
  const state = join(dir, "state");
  mkdirSync(state, { mode: 0o700 });
  const secret = (id: string) => {
    const f = join(dir, `${id}.pw`);
    writeFileSync(f, `pw-${id}\n`, { mode: 0o600 });
    return f;
  };
  const known = Array.from({ length: Math.ceil(TIMING / 4) }, (_, i) => `known-${i}`);
  const devices = ["wear-good", "wear-target", ...known];
  const configFile = join(dir, "vitalog.yaml");
  const unit = unitProcess();
  /**
   * Starts the gateway on these ports (it logs at warn, so without a "ready" line: the ports are chosen
   * here, and a start that meets a taken port is retried with fresh ones); resolves once /healthz answers.
   */
  const startGateway = async (port: number, adminPort: number): Promise<ChildProcess> => {
    writeFileSync(
      configFile,
      [
        `gateway: { id: bench-gw, stateDir: ${state} }`,
        `mqtt: { host: 127.0.0.1, port: ${port} }`,
        `admin: { port: ${adminPort} }`,
        "log: { level: warn }",
        "devices:",
        ...devices.map((id) => `  - { id: ${id}, subject: pt-${id}, passwordFile: ${secret(id)} }`),
      ].join("\n"),
    );
    const gw = spawn(process.execPath, [...unit.nodeArgs, MAIN, "run", "--config", configFile], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...unit.env },
    });
    let stderr = "";
    gw.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    try {
      await new Promise<void>((res, rej) => {
        const timer = setTimeout(() => rej(new Error("gateway not ready in 30 s")), 30_000);
        const poll = setInterval(() => {
          fetch(`http://127.0.0.1:${adminPort}/healthz`)
            .then(() => {
              clearInterval(poll);
              clearTimeout(timer);
              res();
            })
            .catch(() => {});
        }, 100);
        gw.once("exit", (code) => {
          clearInterval(poll);
          clearTimeout(timer);
          rej(new Error(`gateway exited ${code}: ${stderr}`));
        });
      });
      return gw;
    } catch (err) {
      if (gw.exitCode === null && gw.signalCode === null) gw.kill("SIGKILL");
      throw err;
    }
  };
  const { gw, port, adminPort } = await withFreshPort((port) =>
    withFreshPort(async (adminPort) => ({ gw: await startGateway(port, adminPort), port, adminPort })),
  );
  try {
    /** A device provisioned by the CLI (another process): the gateway has never verified its password. */
    const provisionCold = (id: string): string => {
      const out = execFileSync(
        process.execPath,
        [MAIN, "devices", "add", "--config", configFile, "--id", id, "--subject", `pt-${id}`],
        { encoding: "utf8" },
      );
      return (JSON.parse(out) as { mqtt: { password: string } }).mqtt.password;
    };

    // timing: one attempt per address (127.0.1.0/24 and up), so neither the address nor the id is backed off
    let nextAddress = 0;
    const freshAddress = () => {
      const n = nextAddress++;
      return `127.0.${1 + (n >> 8)}.${n & 255 || 1}`;
    };
    const unknownMs: number[] = [];
    const knownMs: number[] = [];
    for (let i = 0; i < TIMING; i++) {
      const u = await connectOnce(port, {
        localAddress: freshAddress(),
        clientId: `unknown-${i}`,
        password: "guess",
      });
      const k = await connectOnce(port, {
        localAddress: freshAddress(),
        clientId: known[i % known.length]!,
        password: "guess",
      });
      if (u.code === 4) unknownMs.push(u.ms);
      if (k.code === 4) knownMs.push(k.ms);
    }
    const unknown = stats(unknownMs);
    const knownStats = stats(knownMs);

    /** Connects `id` repeatedly while `storm` runs; each latency, with retries (every 500 ms) included. */
    const measureDuring = async (
      storm: ConnectStorm,
      attempt: () => { localAddress: string; clientId: string; password: string },
      once = false,
    ) => {
      const latencies: number[] = [];
      let refusedUntilAccepted = 0;
      await storm.after(STORM / 5);
      while (storm.isRunning) {
        const t0 = performance.now();
        let r = await connectOnce(port, attempt());
        while (r.code !== 0 && performance.now() - t0 < 30_000) {
          refusedUntilAccepted++;
          await new Promise((res) => setTimeout(res, 500));
          r = await connectOnce(port, attempt());
        }
        latencies.push(performance.now() - t0);
        if (once) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      await storm.done;
      return {
        storm_ms: Math.round(storm.elapsedMs),
        good_device: stats(latencies),
        refused_before_accepted: refusedUntilAccepted,
        storm: Object.fromEntries(storm.outcomes),
      };
    };
    const addressOf = (first: number, i: number) => `127.0.0.${first + (i % 64)}`;

    const stormOwnId = await measureDuring(
      new ConnectStorm(port, {
        total: STORM,
        concurrency: CONCURRENCY,
        attempt: (i) => ({ localAddress: addressOf(10, i), clientId: "wear-good", password: `guess-${i}` }),
      }),
      () => ({ localAddress: "127.0.0.2", clientId: "wear-good", password: "pw-wear-good" }),
    );
    const stormOwnAddress = await measureDuring(
      new ConnectStorm(port, {
        total: STORM,
        concurrency: CONCURRENCY,
        attempt: (i) => ({
          localAddress: "127.0.0.3",
          clientId: i % 2 === 0 ? known[i % known.length]! : `ghost-${i}`,
          password: `guess-${i}`,
        }),
      }),
      () => ({ localAddress: "127.0.0.3", clientId: "wear-good", password: "pw-wear-good" }),
    );
    const cold = Array.from({ length: 5 }, (_, i) => `wear-cold-${i}`).map((id) => ({
      id,
      password: provisionCold(id),
    }));
    const coldLatencies: number[] = [];
    const otherIdStorm = new ConnectStorm(port, {
      total: STORM,
      concurrency: CONCURRENCY,
      attempt: (i) => ({ localAddress: addressOf(80, i), clientId: "wear-target", password: `guess-${i}` }),
    });
    await otherIdStorm.after(STORM / 5);
    for (const [i, c] of cold.entries()) {
      if (!otherIdStorm.isRunning) break;
      const r = await connectOnce(port, {
        localAddress: `127.0.0.${150 + i}`,
        clientId: c.id,
        password: c.password,
      });
      if (r.code === 0) coldLatencies.push(r.ms);
    }
    await otherIdStorm.done;
    const coldTarget = { id: "wear-cold-target", password: provisionCold("wear-cold-target") };
    const stormOwnIdCold = await measureDuring(
      new ConnectStorm(port, {
        total: STORM,
        concurrency: CONCURRENCY,
        attempt: (i) => ({
          localAddress: addressOf(160, i),
          clientId: coldTarget.id,
          password: `guess-${i}`,
        }),
      }),
      () => ({ localAddress: "127.0.0.5", clientId: coldTarget.id, password: coldTarget.password }),
      true,
    );

    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const refusals = Object.fromEntries(
      [...metrics.matchAll(/^vitalog_mqtt_refusals_total\{reason="([a-z0-9_]+)"\} (\d+)/gm)].map((m) => [
        m[1]!,
        Number(m[2]),
      ]),
    );
    const ratio =
      unknown.p50_ms !== null && knownStats.p50_ms !== null
        ? Math.round((unknown.p50_ms / knownStats.p50_ms) * 1000) / 1000
        : null;
    const result = {
      bench: "auth-storm",
      node: process.version,
      storm_attempts: STORM,
      storm_concurrency: CONCURRENCY,
      timing: {
        unknown_id: unknown,
        known_id_wrong_password: knownStats,
        median_ratio_unknown_over_known: ratio,
        within_20_percent: ratio !== null && Math.abs(ratio - 1) <= 0.2,
      },
      storm_own_id: stormOwnId,
      storm_own_address: stormOwnAddress,
      storm_other_id_cold: {
        storm_ms: Math.round(otherIdStorm.elapsedMs),
        good_devices: stats(coldLatencies),
        storm: Object.fromEntries(otherIdStorm.outcomes),
      },
      storm_own_id_cold: stormOwnIdCold,
      refusals,
    };
    const json = JSON.stringify(result, null, 2);
    process.stdout.write(`${json}\n`);
    mkdirSync(".bench", { recursive: true });
    writeFileSync(".bench/auth-storm.json", `${json}\n`);
  } finally {
    if (gw.exitCode === null && gw.signalCode === null) {
      gw.kill("SIGTERM");
      await new Promise((r) => gw.once("exit", r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
