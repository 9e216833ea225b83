#!/usr/bin/env node
/**
 * `npm run bench:alerts`: end-to-end alert latency under load. A gateway runs as a child process
 * (`vitalog run`, default storage settings: synchronous=full, group commit); 50 simulated devices publish
 * SenML (QoS 1) at 5,000 readings/s in total; a probe device publishes a systolic BP of 60 mmHg (HIGH alarm,
 * no persistence delay) then 120 (clears; clearHoldSec 0 so it resolves at once), and a nurse-station
 * consumer subscribed to vitalog/alerts/events timestamps the raise/resolve messages. Latency = PUBLISH
 * leaving the probe → alert message arriving at the subscriber, same process clock. JSON on stdout.
 *
 *   node dist/bench/alerts.js [--seconds 20] [--devices 50] [--rate 5000]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import mqtt, { type MqttClient } from "mqtt";
import { readyPorts } from "../test/helpers/child-gateway.js";
import { unitProcess } from "./unit-env.js";

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../src/main.js");
const RECORDS_PER_PACK = 4;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    samples: s.length,
    p50_ms: r(pct(s, 50)),
    p99_ms: r(pct(s, 99)),
    max_ms: r(s.at(-1) ?? Number.NaN),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "20" },
      devices: { type: "string", default: "50" },
      rate: { type: "string", default: "5000" },
      warmup: { type: "string", default: "3" },
    },
  });
  const seconds = Number(values.seconds);
  const deviceCount = Number(values.devices);
  const rate = Number(values.rate);
  const dir = mkdtempSync(join(tmpdir(), "vitalog-bench-alerts-"));
  const secret = (name: string, content: string) => {
    const f = join(dir, name);
    writeFileSync(f, `${content}\n`, { mode: 0o600 });
    return f;
  };
  const devices = Array.from({ length: deviceCount }, (_, i) => `load-${String(i).padStart(3, "0")}`);
  const lines = [
    `gateway: { id: bench-gw, stateDir: ${dir}/state }`,
    // port 0: the gateway names the port it bound in its "ready" line
    "mqtt: { host: 127.0.0.1, port: 0 }",
    "admin: { port: 0 }",
    "log: { level: info }",
    // 100 readings/s per load device: over the default budget, so their model is allowed it
    "ingest:",
    "  limits:",
    "    models:",
    "      bench-load: { readingsPerSec: 1000, readingsBurst: 2000, messagesPerSec: 1000, messagesBurst: 2000 }",
    "devices:",
    ...devices.map(
      (id) =>
        `  - { id: ${id}, subject: pt-${id}, passwordFile: ${secret(`${id}.pw`, `pw-${id}`)}, model: bench-load }`,
    ),
    // the probe sends two frames per ~20 ms round, over the default 25 messages/s: at the default budget its
    // frames would wait in admission, and the bench would measure that wait instead of the alert path
    `  - { id: probe, subject: pt-probe, passwordFile: ${secret("probe.pw", "pw-probe")}, model: bench-load }`,
    "rules:",
    "  alarms: { clearHoldSec: 0, latchingPriorities: [] }",
    "  technical: { silentDevice: { enabled: false } }",
    "alerts:",
    `  consumers: [{ id: bench-screen, passwordFile: ${secret("screen.pw", "pw-screen")} }]`,
  ];
  const configFile = join(dir, "vitalog.yaml");
  writeFileSync(configFile, lines.join("\n"));

  const unit = unitProcess();
  const child = spawn(process.execPath, [...unit.nodeArgs, MAIN, "run", "--config", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...unit.env },
  });
  let out = "";
  let stdout = "";
  let isReady = false;
  const port = await new Promise<number>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`gateway not ready:\n${out}`)), 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (isReady) return;
      stdout += d.toString();
      const ports = readyPorts(stdout.slice(0, stdout.lastIndexOf("\n") + 1));
      if (!ports) return;
      isReady = true;
      clearTimeout(timer);
      res(ports.mqttPort);
    });
    child.stderr!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.once("exit", (code) => rej(new Error(`gateway exited ${code}:\n${out}`)));
  });
  const url = `mqtt://127.0.0.1:${port}`;
  const connect = (id: string, password: string) =>
    mqtt.connectAsync(url, { clientId: id, username: id, password, reconnectPeriod: 0, protocolVersion: 4 });

  const screen = await connect("bench-screen", "pw-screen");
  let waiting: { transition: string; t0: number; resolve: (ms: number) => void } | null = null;
  screen.on("message", (_topic, payload) => {
    const t1 = performance.now();
    if (!waiting) return;
    const m = JSON.parse(payload.toString()) as { device_id: string; transition: string };
    if (m.device_id === "probe" && m.transition === waiting.transition) {
      const w = waiting;
      waiting = null;
      w.resolve(t1 - w.t0);
    }
  });
  await screen.subscribeAsync("vitalog/alerts/events", { qos: 1 });

  // load: each device sends packs of 4 readings, paced to `rate` readings/s in total
  const clients: MqttClient[] = [];
  let acked = 0;
  let running = true;
  const packsPerSecPerDevice = rate / RECORDS_PER_PACK / deviceCount;
  const timers: NodeJS.Timeout[] = [];
  for (const [i, id] of devices.entries()) {
    const c = await connect(id, `pw-${id}`);
    clients.push(c);
    const pack = JSON.stringify([
      { bn: `urn:dev:bench:${id}:`, n: "hr", u: "beat/min", v: 72 },
      { n: "spo2", u: "/", v: 0.97 },
      { n: "rr", u: "1/min", v: 14 },
      { n: "temp", u: "Cel", v: 36.8 },
    ]);
    const periodMs = 1000 / packsPerSecPerDevice;
    const start = performance.now() + (periodMs * i) / deviceCount;
    let n = 0;
    // drift-free pacing: send every pack whose slot has come
    const tick = () => {
      if (!running) return;
      const due = Math.floor((performance.now() - start) / periodMs) + 1;
      for (; n < due; n++)
        c.publish(`vitalog/dev/${id}/senml`, pack, { qos: 1 }, (err) => {
          if (!err) acked += RECORDS_PER_PACK;
        });
    };
    timers.push(setInterval(tick, Math.max(1, Math.floor(periodMs / 2))));
  }

  const probe = await connect("probe", "pw-probe");
  // the probe waits for its previous PUBACK before the next frame, as a real device at 1 Hz has it: aedes
  // processes one client's packets in order, so a frame sent before the previous one was committed would
  // also measure that commit (head-of-line in the transport, not the alert path)
  let lastAck: Promise<unknown> = Promise.resolve();
  const send = async (value: number, transition: string): Promise<number> => {
    await lastAck;
    return new Promise<number>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`no ${transition} within 5 s`)), 5000);
      waiting = {
        transition,
        t0: performance.now(),
        resolve: (ms) => {
          clearTimeout(timer);
          res(ms);
        },
      };
      const body = JSON.stringify({ readings: [{ kind: "bp_systolic", value, unit: "mm[Hg]" }] });
      lastAck = probe.publishAsync("vitalog/dev/probe/json", body, { qos: 1 });
    });
  };

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const raise: number[] = [];
  const resolveMs: number[] = [];
  const warmupEnd = performance.now() + Number(values.warmup) * 1000;
  while (performance.now() < warmupEnd) {
    await send(60, "raise");
    await send(120, "resolve");
    await sleep(20);
  }
  const ackedAtStart = acked;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    raise.push(await send(60, "raise"));
    resolveMs.push(await send(120, "resolve"));
    await sleep(10 + Math.random() * 20);
  }
  const measuredSec = (performance.now() - t0) / 1000;
  const readingsPerSec = (acked - ackedAtStart) / measuredSec;
  running = false;
  for (const t of timers) clearInterval(t);
  // the alert of the last frame can arrive before its PUBACK: let that PUBACK come before closing
  await lastAck.catch(() => {});
  await Promise.all([...clients, probe, screen].map((c) => c.endAsync(true).catch(() => {})));
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  rmSync(dir, { recursive: true, force: true });

  process.stdout.write(
    `${JSON.stringify(
      {
        bench: "alerts",
        node: process.version,
        devices: deviceCount,
        target_readings_per_s: rate,
        acked_readings_per_s: Math.round(readingsPerSec),
        measured_seconds: Math.round(measuredSec * 10) / 10,
        storage: "synchronous=full (default), group commit",
        path: "probe PUBLISH (QoS 1) -> gateway ingest -> rules -> MQTT sink -> subscriber (QoS 1)",
        all: summary([...raise, ...resolveMs]),
        raise: summary(raise),
        resolve: summary(resolveMs),
        target_p99_ms: 10,
      },
      null,
      2,
    )}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
