#!/usr/bin/env node
/**
 * `npm run bench:abuse`: what one misbehaving device costs everyone else, next to an unabused baseline in
 * the same run. A gateway runs as a child process (`vitalog run`, default ingest limits, log on, fsync on
 * every commit). A well-behaved bystander publishes QoS 1 readings at 5 Hz and, every 500 ms, a systolic BP
 * that raises then resolves a HIGH alarm, timed at a nurse-station subscriber. Each phase adds one abuser
 * (bench/abuser.ts, its own process) and reports the bystander's PUBACK p50/p99 and alert latency p99,
 * gateway RSS, database growth per minute, failed commits and whether the gateway survived.
 *
 *   node dist/bench/abuse.js [--seconds 20] [--shapes reject-flood,qos0-firehose,big-packs,deep]
 *                            [--load-rate 5000] [--soak-minutes 0]
 *
 * `--load-rate` runs a phase of 50 devices at that many readings/s (one SenML record per QoS 1 message;
 * their model `bench-load` is allowed 200 readings/s each) for the RSS budget; `--soak-minutes N` keeps
 * that load N minutes and fits the RSS slope (MB/min) over the second half.
 *
 * The gateway runs with the systemd unit's environment and node flags (bench/unit-env.ts).
 *
 * Output: one JSON object on stdout (also .bench/abuse.json).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import mqtt, { type MqttClient } from "mqtt";
import { readyPorts } from "../test/helpers/child-gateway.js";
import { withFreshPort } from "../test/helpers/ports.js";
import { unitProcess } from "./unit-env.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const MAIN = resolve(HERE, "../src/main.js");
const ABUSER = resolve(HERE, "abuser.js");

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    shapes: { type: "string", default: "reject-flood,qos0-firehose,big-packs,deep" },
    "load-rate": { type: "string", default: "5000" },
    "soak-minutes": { type: "string", default: "0" },
  },
});
const seconds = Number(values.seconds);
const LOAD_DEVICES = 50;

function pct(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 100) / 100;
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "vitalog-bench-abuse-"));
  const state = join(dir, "state");
  const secret = (name: string, content: string) => {
    const f = join(dir, name);
    writeFileSync(f, `${content}\n`, { mode: 0o600 });
    return f;
  };
  const loadIds = Array.from({ length: LOAD_DEVICES }, (_, i) => `load-${String(i).padStart(3, "0")}`);
  const device = (id: string, model?: string) =>
    `  - { id: ${id}, subject: pt-${id}, passwordFile: ${secret(`${id}.pw`, `pw-${id}`)}${model ? `, model: ${model}` : ""} }`;
  // MQTT on port 0, named in the "ready" line; the admin HTTP (port 0 = off) on a fresh port, retried if taken
  const lines = (adminPort: number) => [
    `gateway: { id: bench-gw, stateDir: ${state} }`,
    "mqtt: { host: 127.0.0.1, port: 0 }",
    `admin: { port: ${adminPort} }`,
    "log: { level: info }",
    "ingest:",
    "  limits:",
    "    models:",
    "      bench-load: { readingsPerSec: 200, readingsBurst: 400, messagesPerSec: 200, messagesBurst: 400 }",
    "devices:",
    device("bystander"),
    device("abuser"),
    ...loadIds.map((id) => device(id, "bench-load")),
    "rules:",
    "  alarms: { clearHoldSec: 0, latchingPriorities: [] }",
    "  technical: { silentDevice: { enabled: false } }",
    "alerts:",
    `  consumers: [{ id: bench-screen, passwordFile: ${secret("screen.pw", "pw-screen")} }]`,
  ];
  const configFile = join(dir, "vitalog.yaml");
  const credsOf = (ids: string[]) => {
    const f = join(dir, `creds-${ids[0]}.json`);
    writeFileSync(f, JSON.stringify(ids.map((id) => ({ id, password: `pw-${id}` }))));
    return f;
  };

  // as the systemd unit runs it (glibc and V8 memory settings)
  const unit = unitProcess();
  let gwExit: number | null | undefined;
  const startGateway = (adminPort: number) => {
    writeFileSync(configFile, lines(adminPort).join("\n"));
    const gw = spawn(process.execPath, [...unit.nodeArgs, MAIN, "run", "--config", configFile], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...unit.env },
    });
    gwExit = undefined;
    gw.once("exit", (code) => {
      gwExit = code;
    });
    let out = "";
    let stdout = "";
    let isReady = false;
    return new Promise<{ gw: ChildProcess; port: number }>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`gateway not ready:\n${out}`)), 30_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.length > 1_000_000) out = out.slice(-100_000);
      };
      gw.stdout!.on("data", (d: Buffer) => {
        onData(d);
        if (isReady) return;
        stdout += d.toString();
        const ports = readyPorts(stdout.slice(0, stdout.lastIndexOf("\n") + 1));
        if (!ports) return;
        isReady = true;
        clearTimeout(timer);
        res({ gw, port: ports.mqttPort });
      });
      gw.stderr!.on("data", onData);
      gw.once("exit", (code) => rej(new Error(`gateway exited ${code}:\n${out}`)));
    });
  };
  const { gw, port, adminPort } = await withFreshPort(async (adminPort) => ({
    ...(await startGateway(adminPort)),
    adminPort,
  }));
  const mqttUrl = `mqtt://127.0.0.1:${port}`;
  const connect = (id: string, password: string) =>
    mqtt.connectAsync(mqttUrl, {
      clientId: id,
      username: id,
      password,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });

  // the nurse station
  const screen = await connect("bench-screen", "pw-screen");
  let waiting: { transition: string; t0: number; resolve: (ms: number) => void } | null = null;
  screen.on("message", (_topic, payload) => {
    const t1 = performance.now();
    if (!waiting) return;
    const m = JSON.parse(payload.toString()) as { device_id: string; transition: string };
    if (m.device_id === "bystander" && m.transition === waiting.transition) {
      const w = waiting;
      waiting = null;
      w.resolve(t1 - w.t0);
    }
  });
  await screen.subscribeAsync("vitalog/alerts/events", { qos: 1 });

  const bystander: MqttClient = await connect("bystander", "pw-bystander");
  let bystanderDisconnects = 0;
  bystander.on("close", () => bystanderDisconnects++);

  const metric = async (name: string, labels = ""): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    let total = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
        if (labels && !line.includes(labels)) continue;
        total += Number(line.slice(line.lastIndexOf(" ") + 1));
      }
    }
    return total;
  };
  const dbBytes = () => {
    let n = 0;
    for (const f of ["vitalog.db", "vitalog.db-wal"]) {
      try {
        n += statSync(join(state, f)).size;
      } catch {}
    }
    return n;
  };

  /** Bytes of the rejection tables (counts, samples and their indexes), as SQLite's dbstat sees them. */
  const rejectionBytes = () => {
    const db = new Database(join(state, "vitalog.db"), { readonly: true });
    try {
      const row = db
        .prepare(
          "SELECT SUM(pgsize) AS n FROM dbstat WHERE name LIKE 'rejection%' OR name LIKE 'sqlite_autoindex_rejection%'",
        )
        .get() as { n: number | null };
      return row.n ?? 0;
    } finally {
      db.close();
    }
  };

  /** Runs the bystander (and the alert probe) for `ms`, sampling gateway RSS. */
  async function bystanderPhase(ms: number) {
    const pubackMs: number[] = [];
    const alertMs: number[] = [];
    const rss: number[] = [];
    let lost = 0;
    const end = performance.now() + ms;
    let t = Date.now();
    const sampler = setInterval(() => rss.push(rssMb(gw.pid!)), 500);
    const publish = async (body: string) => {
      const t0 = performance.now();
      try {
        await Promise.race([
          bystander.publishAsync("vitalog/dev/bystander/json", body, { qos: 1 }),
          sleep(10_000).then(() => {
            throw new Error("no PUBACK in 10 s");
          }),
        ]);
        pubackMs.push(performance.now() - t0);
      } catch {
        lost++;
      }
    };
    const alert = (value: number, transition: string) =>
      new Promise<void>((res) => {
        const timer = setTimeout(() => {
          waiting = null;
          alertMs.push(Number.POSITIVE_INFINITY);
          res();
        }, 5000);
        waiting = {
          transition,
          t0: performance.now(),
          resolve: (latency) => {
            clearTimeout(timer);
            alertMs.push(latency);
            res();
          },
        };
        void publish(
          JSON.stringify({ readings: [{ kind: "bp_systolic", value, unit: "mm[Hg]", time: t++ }] }),
        );
      });
    let i = 0;
    while (performance.now() < end) {
      if (i++ % 3 === 0) {
        await alert(60, "raise");
        await alert(120, "resolve");
      } else {
        await publish(
          JSON.stringify({ readings: [{ kind: "heart_rate", value: 72, unit: "/min", time: t++ }] }),
        );
        await sleep(200);
      }
    }
    clearInterval(sampler);
    const p = [...pubackMs].sort((a, b) => a - b);
    const a = [...alertMs].sort((a, b) => a - b);
    return {
      bystander_puback_ms: { n: p.length, p50: pct(p, 50), p99: pct(p, 99) },
      bystander_unacknowledged: lost,
      bystander_alert_ms: {
        n: a.length,
        p50: pct(a, 50),
        p99: pct(a, 99),
        missed: a.filter((x) => !Number.isFinite(x)).length,
      },
      rss_mb: { median: median(rss), max: Math.max(...rss.filter(Number.isFinite)) },
    };
  }

  async function withAbuser(shape: string, ids: string[], extra: string[] = []) {
    const child: ChildProcess = spawn(
      process.execPath,
      [ABUSER, "--url", mqttUrl, "--shape", shape, "--credentials", credsOf(ids), ...extra],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let text = "";
    child.stdout!.on("data", (d: Buffer) => {
      text += d.toString();
    });
    await new Promise<void>((res, rej) => {
      const timer = setInterval(() => {
        if (text.includes('"ready"')) {
          clearInterval(timer);
          res();
        }
      }, 20);
      child.once("exit", (code) => {
        clearInterval(timer);
        rej(new Error(`abuser ${shape} exited ${code}`));
      });
    });
    return {
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          await new Promise((r) => child.once("exit", r));
        }
        const line = text.trim().split("\n").at(-1)!;
        return JSON.parse(line) as { sent: number; acked: number; errors: number; disconnects: number };
      },
    };
  }

  async function phase(name: string, shape: string | null, ids: string[], extra: string[] = []) {
    const failedBefore = await metric("vitalog_commits_total", 'outcome="failed"');
    const disconnectsBefore = bystanderDisconnects;
    const abuser = shape ? await withAbuser(shape, ids, extra) : null;
    await sleep(1000); // let the abuse reach its steady state
    const bytes0 = dbBytes();
    const rejections0 = rejectionBytes();
    const t0 = performance.now();
    const by = await bystanderPhase(seconds * 1000);
    const minutes = (performance.now() - t0) / 60_000;
    const growth = (dbBytes() - bytes0) / 1048576 / minutes;
    const rejectionGrowth = (rejectionBytes() - rejections0) / 1048576 / minutes;
    const abuse = abuser ? await abuser.stop() : null;
    const alive = gwExit === undefined;
    const result = {
      phase: name,
      ...by,
      // the whole file (the database and its WAL, which grows to its checkpoint size early on): every
      // phase includes the bystander's own readings and the log's tiles
      db_growth_mb_per_min: Math.round(growth * 100) / 100,
      rejection_tables_growth_mb_per_min: Math.round(rejectionGrowth * 1000) / 1000,
      commits_failed: alive
        ? (await metric("vitalog_commits_total", 'outcome="failed"')) - failedBefore
        : null,
      bystander_disconnects: bystanderDisconnects - disconnectsBefore,
      gateway_alive: alive,
      ...(abuse ? { abuser: abuse } : {}),
    };
    process.stderr.write(`${JSON.stringify(result)}\n`);
    await sleep(2000); // let queues drain between phases
    return result;
  }

  const phases = [];
  const soakMinutes = Number(values["soak-minutes"]);
  try {
    phases.push(await phase("baseline", null, []));
    for (const shape of values.shapes!.split(",").filter(Boolean)) {
      phases.push(await phase(shape, shape, ["abuser"]));
    }
    let soak: unknown = null;
    const loadRate = Number(values["load-rate"]);
    if (loadRate > 0) {
      phases.push(await phase(`load_${loadRate}_per_s`, "load", loadIds, ["--rate", String(loadRate)]));
      if (soakMinutes > 0) {
        const load = await withAbuser("load", loadIds, ["--rate", String(loadRate)]);
        const samples: { min: number; mb: number }[] = [];
        const t0 = performance.now();
        while (performance.now() - t0 < soakMinutes * 60_000 && gwExit === undefined) {
          await sleep(5000);
          samples.push({ min: (performance.now() - t0) / 60_000, mb: rssMb(gw.pid!) });
        }
        const counts = await load.stop();
        const second = samples.filter((s) => s.min >= soakMinutes / 2);
        soak = {
          minutes: soakMinutes,
          rate_readings_per_s: loadRate,
          rss_mb_first: samples[0]?.mb,
          rss_mb_last: samples.at(-1)?.mb,
          rss_mb_max: Math.max(...samples.map((s) => s.mb)),
          rss_slope_mb_per_min_second_half: slope(
            second.map((s) => s.min),
            second.map((s) => s.mb),
          ),
          load: counts,
          samples,
        };
      }
    }
    const result = {
      bench: "abuse",
      node: process.version,
      gateway_process: unit,
      measured_seconds_per_phase: seconds,
      gateway_survived: gwExit === undefined,
      phases,
      ...(soak ? { soak } : {}),
    };
    mkdirSync(".bench", { recursive: true });
    writeFileSync(".bench/abuse.json", `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await Promise.all([bystander, screen].map((c) => c.endAsync(true).catch(() => {})));
    gw.kill("SIGTERM");
    if (gwExit === undefined) await new Promise((r) => gw.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
