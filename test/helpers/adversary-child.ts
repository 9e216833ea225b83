/**
 * A gateway in a child process for the adversarial suite: where a crash must be survived by the test
 * (so it can report it) and where RSS is measured. Its metrics are read through the admin HTTP endpoint,
 * its database through a read-only connection.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { spawnGateway, waitExit } from "./child-gateway.js";
import { tempDir, writeSecret } from "./gateway.js";
import { withFreshPort } from "./ports.js";

/** One Prometheus sample. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (0.0.4) the admin endpoint serves. */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? "";
    const re = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l = re.exec(body); l !== null; l = re.exec(body)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum over the samples of `name` whose labels include `match` (0 when none). */
export function sampleSum(
  samples: readonly Sample[],
  name: string,
  match: Record<string, string> = {},
): number {
  let total = 0;
  for (const s of samples) {
    if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

export interface ChildGateway {
  child: ChildProcess;
  dir: string;
  url: string;
  mqttPort: number;
  adminPort: number;
  dbPath: string;
  password(id: string): string;
  /** Everything the child wrote to stdout and stderr so far. */
  output(): string;
  isAlive(): boolean;
  /** Current samples from GET /metrics. */
  metrics(): Promise<Sample[]>;
  /** Resident set size of the child, from /proc/<pid>/status (VmRSS). */
  rssBytes(): number;
  /** Runs `fn` on a read-only connection to the child's database. */
  withDb<T>(fn: (db: Database.Database) => T): T;
  /**
   * SIGTERM and wait for the exit, SIGKILL after `graceMs` (a gateway that does not stop must not hang the
   * suite; `signal` then says SIGKILL), then remove the state directory.
   */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stopMs: number }>;
}

/**
 * Starts `vitalog run` in a child process on loopback ports it binds itself (port 0) with the given devices (password files
 * written for each) and config slices merged over a small base config (the child writes JSON, which YAML
 * reads unchanged).
 */
export async function startChildGateway(opts: {
  devices: ReadonlyArray<{ id: string; model?: string }>;
  config?: Record<string, unknown>;
}): Promise<ChildGateway> {
  const dir = tempDir("vitalog-adv-child-");
  const password = (id: string) => `pw-${id}-secret`;
  const config = (adminPort: number) => ({
    gateway: { id: "adv-gw", origin: "test.vitalog.invalid/gw/adv-gw", stateDir: join(dir, "state") },
    // MQTT on port 0, named in the "ready" line; the admin HTTP (port 0 = off) on a fresh port, retried if taken
    mqtt: { host: "127.0.0.1", port: 0 },
    admin: { host: "127.0.0.1", port: adminPort },
    // info: the start-up is detected by the "ready" line
    log: { level: "info" },
    storage: { synchronous: "normal" },
    devices,
    ...opts.config,
  });
  const devices = opts.devices.map((d) => ({
    id: d.id,
    subject: `pt-${d.id}`,
    passwordFile: writeSecret(dir, `${d.id}.pw`, password(d.id)),
    ...(d.model ? { model: d.model } : {}),
  }));
  const configFile = join(dir, "vitalog.yaml");
  const { child, output, mqttPort, adminPort } = await withFreshPort((port) => {
    writeFileSync(configFile, JSON.stringify(config(port), null, 2));
    return spawnGateway(configFile);
  });
  const dbPath = join(dir, "state", "vitalog.db");
  const isAlive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    dir,
    url: `mqtt://127.0.0.1:${mqttPort}`,
    mqttPort,
    adminPort,
    dbPath,
    password,
    output,
    isAlive,
    async metrics() {
      const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5000) });
      return parsePrometheus(await res.text());
    },
    rssBytes() {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
      if (!kb) throw new Error(`no VmRSS in /proc/${child.pid}/status`);
      return Number(kb[1]) * 1024;
    },
    withDb(fn) {
      const db = new Database(dbPath, { readonly: true, fileMustExist: true });
      try {
        return fn(db);
      } finally {
        db.close();
      }
    },
    async stop(graceMs = 15_000) {
      const t0 = performance.now();
      if (isAlive()) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const exit = await waitExit(child);
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      return { ...exit, stopMs: performance.now() - t0 };
    },
  };
}
