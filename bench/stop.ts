#!/usr/bin/env node
/**
 * `npm run bench:stop`: how long a graceful stop takes with MQTT clients connected. Each round runs a
 * gateway as a child process (`vitalog run`), connects N alert subscribers (nurse stations subscribed to
 * vitalog/alerts/# at QoS 1) and one device publishing SenML, makes the gateway raise an alert so the
 * subscribers hold live QoS 1 sessions, then sends SIGTERM and times signal → process exit (the time
 * systemd's `systemctl stop` waits). JSON on stdout; the median over the rounds is the figure to quote.
 *
 *   node dist/bench/stop.js [--rounds 7] [--subscribers 5]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import mqtt, { type MqttClient } from "mqtt";

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../src/main.js");

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "7" }, subscribers: { type: "string", default: "5" } },
});
const rounds = Number(values.rounds);
const subscribers = Number(values.subscribers);

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.once("exit", (code) => res({ code, stdout, stderr }));
  });
}

/** One round: a fresh state dir, a gateway, N subscribers and a device; returns SIGTERM → exit in ms. */
async function round(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "vitalog-bench-stop-"));
  try {
    const pw = join(dir, "station.pw");
    writeFileSync(pw, "station-secret\n", { mode: 0o600 });
    const config = join(dir, "vitalog.yaml");
    writeFileSync(
      config,
      [
        "gateway: { id: stop-gw, origin: bench.vitalog.invalid/gw/stop-gw, stateDir: state }",
        "mqtt: { port: 0 }",
        "admin: { port: 0 }",
        "log: { level: info }",
        "alerts:",
        "  consumers:",
        `    - { id: station, passwordFile: ${pw}, canAcknowledge: true }`,
      ].join("\n"),
    );
    const added = await cli(["devices", "add", "--config", config, "--id", "wear-1", "--subject", "pt-1"]);
    if (added.code !== 0) throw new Error(`devices add failed: ${added.stderr}`);
    const password = (JSON.parse(added.stdout) as { mqtt: { password: string } }).mqtt.password;
    const child = spawn(process.execPath, [MAIN, "run", "--config", config], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const port = await new Promise<number>((res, rej) => {
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /"mqttPort":(\d+).*"msg":"ready"/.exec(out);
        if (m) res(Number(m[1]));
      });
      child.stderr.on("data", (d: Buffer) => {
        out += d.toString();
      });
      child.once("exit", (code) => rej(new Error(`gateway exited with ${code}: ${out}`)));
    });
    const url = `mqtt://127.0.0.1:${port}`;
    const opts = { protocolVersion: 4 as const, reconnectPeriod: 0 };
    const clients: MqttClient[] = [];
    const alerted: Promise<void>[] = [];
    for (let i = 0; i < subscribers; i++) {
      const c = await mqtt.connectAsync(url, {
        ...opts,
        clientId: `station/${i}`,
        username: "station",
        password: "station-secret",
      });
      c.on("error", () => {});
      await c.subscribeAsync("vitalog/alerts/#", { qos: 1 });
      alerted.push(new Promise((res) => c.once("message", () => res())));
      clients.push(c);
    }
    const device = await mqtt.connectAsync(url, {
      ...opts,
      clientId: "wear-1",
      username: "wear-1",
      password,
    });
    device.on("error", () => {});
    clients.push(device);
    // a systolic pressure of 60 mmHg raises a HIGH alarm at once: every subscriber receives it
    await device.publishAsync(
      "vitalog/dev/wear-1/json",
      JSON.stringify({ readings: [{ kind: "bp_systolic", value: 60, unit: "mm[Hg]" }] }),
      { qos: 1 },
    );
    const received = await Promise.race([
      Promise.all(alerted).then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
    ]);
    if (!received) throw new Error(`no alert reached the subscribers within 5 s: ${out.slice(-2000)}`);
    const exited = new Promise<void>((res) => child.once("exit", () => res()));
    const t0 = performance.now();
    child.kill("SIGTERM");
    await exited;
    const ms = performance.now() - t0;
    for (const c of clients) c.end(true);
    return ms;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const samples: number[] = [];
for (let i = 0; i < rounds; i++) samples.push(await round());
const sorted = [...samples].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)]!;
process.stdout.write(
  `${JSON.stringify({
    bench: "stop",
    rounds,
    subscribers,
    stop_ms_median: Math.round(median),
    stop_ms_max: Math.round(sorted.at(-1)!),
    stop_ms: samples.map((s) => Math.round(s)),
  })}\n`,
);
