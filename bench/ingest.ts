/**
 * `npm run bench:ingest`: sustained durable ingest of QoS 1 SenML readings from 50 devices, PUBACK
 * latency and gateway RSS — against a bare aedes broker that only counts, same publishers, same run.
 * The publishers (firmware-sim in --load mode) run in a separate process. Each PUBACK from Vitalog
 * means the reading is committed, so acked/s = readings/s durably stored (checked against the store).
 *
 *   node dist/bench/ingest.js [--seconds 10] [--rounds 3] [--devices 50] [--window 32] [--synchronous full|normal]
 *                             [--tlog on|off|both] [--records 1..4 readings per SenML message]
 *
 * `--tlog both` runs the gateway with the tamper-evident log off and on in every round (order alternating)
 * and reports the on/off throughput ratio per round and its median (the target: ingest drops by no more than
 * 15 % with the log on; README, Benchmarks).
 *
 * Output: one JSON object on stdout (also written to .bench/ingest.json).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { unitProcess } from "./unit-env.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const MAIN = resolve(HERE, "../src/main.js");
const SIM = resolve(HERE, "../firmware-sim/mqtt-wearable.js");
const BARE = resolve(HERE, "bare-broker.js");

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    rounds: { type: "string", default: "3" },
    devices: { type: "string", default: "50" },
    window: { type: "string", default: "32" },
    synchronous: { type: "string", default: "full" },
    tlog: { type: "string", default: "on" },
    records: { type: "string", default: "1" },
  },
});
const seconds = Number(values.seconds);
const devices = Number(values.devices);

interface SimResult {
  acked: number;
  acked_per_s: number;
  puback_latency_ms: { p50: number; p99: number; max: number };
}

function waitLine(child: ChildProcess, match: (line: string) => boolean): Promise<string> {
  return new Promise((res, rej) => {
    let buf = "";
    const timer = setTimeout(() => rej(new Error(`no ready line:\n${buf}`)), 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split("\n")) {
        if (match(line)) {
          clearTimeout(timer);
          res(line);
          return;
        }
      }
    });
    child.once("exit", (c) => rej(new Error(`exited ${c}:\n${buf}`)));
  });
}

/** CPU seconds a process has used so far, from /proc/<pid>/stat (utime and stime, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): { user: number; system: number; total: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const user = Number(fields[11]) / 100;
  const system = Number(fields[12]) / 100;
  return { user, system, total: user + system };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function runSim(
  port: number,
  credFile: string,
  pid: number,
): Promise<{ sim: SimResult; rss: number[]; serverCpuS: number; serverSysS: number; simCpuS: number }> {
  const sim = spawn(
    process.execPath,
    [
      SIM,
      "--url",
      `mqtt://127.0.0.1:${port}`,
      "--credentials",
      credFile,
      "--load",
      "--window",
      values.window!,
      "--records",
      values.records!,
      "--seconds",
      String(seconds),
      "--warmup",
      values.warmup!,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const rss: number[] = [];
  const serverAtStart = cpuSeconds(pid);
  let simCpuS = 0;
  // the load generator's CPU is sampled while it runs (the last sample misses at most its final 0.5 s)
  const sampler = setInterval(() => {
    rss.push(rssMb(pid));
    if (sim.exitCode === null) simCpuS = cpuSeconds(sim.pid!).total;
  }, 500);
  let out = "";
  sim.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  await new Promise((r) => sim.once("exit", r));
  clearInterval(sampler);
  const serverAtEnd = cpuSeconds(pid);
  return {
    sim: JSON.parse(out.trim().split("\n").at(-1)!) as SimResult,
    rss,
    serverCpuS: serverAtEnd.total - serverAtStart.total,
    serverSysS: serverAtEnd.system - serverAtStart.system,
    simCpuS,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function vitalogRound(dir: string, creds: string, tlog: boolean) {
  const state = mkdtempSync(join(dir, "state-"));
  const cfg = join(dir, "vitalog.yaml");
  const list = JSON.parse(readFileSync(creds, "utf8")) as Array<{ device_id: string; password_file: string }>;
  writeFileSync(
    cfg,
    [
      `gateway: { id: bench-gw, stateDir: ${state} }`,
      "mqtt: { port: 0, maxPayloadBytes: 16384 }",
      "admin: { port: 0 }",
      "log: { level: info }",
      `storage: { synchronous: ${values.synchronous} }`,
      `tlog: { enabled: ${tlog} }`,
      // a throughput benchmark: the per-device budgets (bench:abuse measures those) are lifted for its model
      "ingest:",
      "  limits:",
      "    models:",
      "      bench-load: { readingsPerSec: 100000, readingsBurst: 100000, messagesPerSec: 100000, messagesBurst: 100000 }",
      "devices:",
      ...list.map(
        (d) =>
          `  - { id: ${d.device_id}, subject: pt-${d.device_id}, passwordFile: ${d.password_file}, model: bench-load }`,
      ),
    ].join("\n"),
  );
  // e.g. BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the gateway only
  const nodeArgs = (process.env.BENCH_GATEWAY_NODE_ARGS ?? "").split(" ").filter(Boolean);
  // as the systemd unit runs it (glibc and V8 memory settings): RSS is part of what this bench reports
  const unit = unitProcess();
  const gw = spawn(process.execPath, [...unit.nodeArgs, ...nodeArgs, MAIN, "run", "--config", cfg], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...unit.env },
  });
  const ready = await waitLine(gw, (l) => l.includes('"msg":"ready"'));
  const port = JSON.parse(ready).mqttPort as number;
  const { sim, rss, serverCpuS, serverSysS, simCpuS } = await runSim(port, creds, gw.pid!);
  gw.kill("SIGTERM");
  await new Promise((r) => gw.once("exit", r));
  const db = new Database(join(state, "vitalog.db"), { readonly: true });
  const stored = (db.prepare("SELECT COUNT(*) AS n FROM readings").get() as { n: number }).n;
  // with the log on, tlog_reading_ids holds one row per group commit that stored readings
  const commits = tlog
    ? (db.prepare("SELECT COUNT(*) AS n FROM tlog_reading_ids").get() as { n: number }).n
    : null;
  const events = tlog
    ? (db.prepare("SELECT COUNT(*) AS n FROM tlog_records").get() as { n: number }).n
    : null;
  db.close();
  rmSync(state, { recursive: true, force: true });
  return {
    ...sim,
    stored,
    // gateway CPU (all threads, user + system) over the load run (warm-up included) per stored reading
    gateway_cpu_us_per_reading: (serverCpuS * 1e6) / stored,
    ...(commits ? { readings_per_group_commit: stored / commits, log_events: events } : {}),
    gateway_system_cpu_us_per_reading: (serverSysS * 1e6) / stored,
    load_generator_cpu_us_per_reading: (simCpuS * 1e6) / stored,
    rss_mb_max: Math.max(...rss),
    rss_mb_median: median(rss),
  };
}

async function bareRound(creds: string) {
  const broker = spawn(process.execPath, [BARE], { stdio: ["ignore", "pipe", "inherit"] });
  const ready = await waitLine(broker, (l) => l.includes('"msg":"ready"'));
  const port = JSON.parse(ready).port as number;
  const { sim, rss } = await runSim(port, creds, broker.pid!);
  broker.kill("SIGTERM");
  await new Promise((r) => broker.once("exit", r));
  return { ...sim, rss_mb_max: Math.max(...rss) };
}

const dir = mkdtempSync(join(tmpdir(), "vitalog-bench-"));
try {
  const creds = join(dir, "creds.json");
  const list = Array.from({ length: devices }, (_, i) => {
    const id = `bench-${String(i).padStart(3, "0")}`;
    const password = `bench-password-${i}-${Math.random().toString(36).slice(2)}`;
    const password_file = join(dir, `${id}.pw`);
    writeFileSync(password_file, password, { mode: 0o600 });
    return { device_id: id, password, password_file };
  });
  writeFileSync(creds, JSON.stringify(list));
  type VitalogRound = Awaited<ReturnType<typeof vitalogRound>>;
  const rounds: Array<{
    vitalog: VitalogRound;
    log_off?: VitalogRound;
    bare: Awaited<ReturnType<typeof bareRound>>;
  }> = [];
  const both = values.tlog === "both";
  for (let r = 0; r < Number(values.rounds); r++) {
    // alternate the order so drift on a shared machine does not favour one side
    const bare = r % 2 === 0 ? await bareRound(creds) : undefined;
    let logOff: VitalogRound | undefined;
    let vitalog: VitalogRound;
    if (both && r % 2 === 0) {
      logOff = await vitalogRound(dir, creds, false);
      vitalog = await vitalogRound(dir, creds, true);
    } else if (both) {
      vitalog = await vitalogRound(dir, creds, true);
      logOff = await vitalogRound(dir, creds, false);
    } else vitalog = await vitalogRound(dir, creds, values.tlog === "on");
    const bare2 = bare ?? (await bareRound(creds));
    rounds.push({ vitalog, ...(logOff ? { log_off: logOff } : {}), bare: bare2 });
    process.stderr.write(
      `round ${r + 1}: vitalog ${vitalog.acked_per_s.toFixed(0)}/s (stored ${vitalog.stored})${logOff ? `, log off ${logOff.acked_per_s.toFixed(0)}/s` : ""}, bare ${bare2.acked_per_s.toFixed(0)}/s\n`,
    );
  }
  const v = rounds.map((r) => r.vitalog);
  const b = rounds.map((r) => r.bare);
  const result = {
    bench: "ingest",
    node: process.version,
    devices,
    window_per_device: Number(values.window),
    readings_per_message: Number(values.records),
    tamper_evident_log: both ? "both (vitalog = log on; log_off = log off)" : values.tlog === "on",
    qos: 1,
    synchronous: values.synchronous,
    measured_seconds_per_round: seconds,
    rounds: rounds.length,
    vitalog: {
      messages_per_s_median: median(v.map((x) => x.acked_per_s)),
      readings_per_s_median: median(v.map((x) => x.acked_per_s)) * Number(values.records),
      puback_p50_ms_median: median(v.map((x) => x.puback_latency_ms.p50)),
      puback_p99_ms_median: median(v.map((x) => x.puback_latency_ms.p99)),
      rss_mb_max: Math.max(...v.map((x) => x.rss_mb_max)),
      rss_mb_median: median(v.map((x) => x.rss_mb_median)),
      gateway_cpu_us_per_reading_median: median(v.map((x) => x.gateway_cpu_us_per_reading)),
      load_generator_cpu_us_per_reading_median: median(v.map((x) => x.load_generator_cpu_us_per_reading)),
      every_acked_reading_stored: v.every((x) => x.stored >= x.acked * Number(values.records)),
    },
    bare_aedes: {
      messages_per_s_median: median(b.map((x) => x.acked_per_s)),
      puback_p50_ms_median: median(b.map((x) => x.puback_latency_ms.p50)),
      puback_p99_ms_median: median(b.map((x) => x.puback_latency_ms.p99)),
      rss_mb_max: Math.max(...b.map((x) => x.rss_mb_max)),
    },
    ratio_vitalog_to_bare_median: median(rounds.map((r) => r.vitalog.acked_per_s / r.bare.acked_per_s)),
    ...(both
      ? {
          log_off: {
            messages_per_s_median: median(rounds.map((r) => r.log_off!.acked_per_s)),
            puback_p50_ms_median: median(rounds.map((r) => r.log_off!.puback_latency_ms.p50)),
            puback_p99_ms_median: median(rounds.map((r) => r.log_off!.puback_latency_ms.p99)),
            gateway_cpu_us_per_reading_median: median(
              rounds.map((r) => r.log_off!.gateway_cpu_us_per_reading),
            ),
            every_acked_reading_stored: rounds.every(
              (r) => r.log_off!.stored >= r.log_off!.acked * Number(values.records),
            ),
          },
          ratio_log_on_to_off_per_round: rounds.map((r) => r.vitalog.acked_per_s / r.log_off!.acked_per_s),
          ratio_log_on_to_off_median: median(
            rounds.map((r) => r.vitalog.acked_per_s / r.log_off!.acked_per_s),
          ),
          // what the log costs the gateway per reading, paired per round (steadier than throughput here)
          log_cpu_us_per_reading_median: median(
            rounds.map((r) => r.vitalog.gateway_cpu_us_per_reading - r.log_off!.gateway_cpu_us_per_reading),
          ),
        }
      : {}),
    raw: rounds,
  };
  mkdirSync(".bench", { recursive: true });
  writeFileSync(".bench/ingest.json", `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
