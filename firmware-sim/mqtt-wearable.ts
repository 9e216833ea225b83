#!/usr/bin/env node
/**
 * MQTT wearable simulator: N devices publishing SenML vitals over MQTT (QoS 1), each following a
 * patient scenario, at a configurable rate. Also the load generator of `npm run bench:ingest`
 * (`--load`: every device keeps `--window` unacknowledged publishes in flight, as fast as acked).
 *
 *   node dist/firmware-sim/mqtt-wearable.js --url mqtt://127.0.0.1:1883 --credentials creds.json \
 *        [--rate 1] [--seconds 60] [--load --window 32 --records 1] [--topic-prefix vitalog/dev]
 *
 * creds.json: [{ "device_id": "...", "password": "...", "scenario": "stable" }, …]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import mqtt, { type MqttClient } from "mqtt";
import { rng, type Scenario, sampleVitals, scenarioFor } from "./scenarios.js";
import { senmlPack } from "./senml-encode.js";

export interface SimDevice {
  id: string;
  password: string;
  scenario?: Scenario;
}

export interface SimOptions {
  url: string;
  devices: SimDevice[];
  topicPrefix?: string;
  /** Packs per second per device (scenario mode). */
  rateHz?: number;
  /** Load mode: keep this many publishes in flight per device, no pacing. */
  loadWindow?: number;
  /** Load mode: SenML records per message (1 = one reading per message). */
  recordsPerMessage?: number;
  seed?: number;
  /** Called for every acknowledged publish. */
  onAck?: (deviceId: string, latencyMs: number) => void;
  onError?: (deviceId: string, err: Error) => void;
}

export interface SimStats {
  published: number;
  acked: number;
  errors: number;
  latenciesMs: number[];
}

/** Starts the simulated devices; resolves once all are connected. */
export async function startWearables(opts: SimOptions) {
  const prefix = opts.topicPrefix ?? "vitalog/dev";
  const stats: SimStats = { published: 0, acked: 0, errors: 0, latenciesMs: [] };
  const clients: MqttClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  let running = true;
  const startedAt = Date.now();

  await Promise.all(
    opts.devices.map(async (d, i) => {
      const client = await mqtt.connectAsync(opts.url, {
        clientId: d.id,
        username: d.id,
        password: d.password,
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: 1000,
        connectTimeout: 10_000,
      });
      client.on("error", (err) => opts.onError?.(d.id, err));
      clients.push(client);
      const topic = `${prefix}/${d.id}/senml`;
      const publish = (payload: string, then?: () => void) => {
        const sentAt = performance.now();
        stats.published++;
        client.publish(topic, payload, { qos: 1 }, (err) => {
          if (err) {
            stats.errors++;
            opts.onError?.(d.id, err);
          } else {
            const latency = performance.now() - sentAt;
            stats.acked++;
            stats.latenciesMs.push(latency);
            opts.onAck?.(d.id, latency);
          }
          then?.();
        });
      };
      const random = rng((opts.seed ?? 1) * 7919 + i);
      const scenario = d.scenario ?? scenarioFor(i);
      if (opts.loadWindow) {
        const records = opts.recordsPerMessage ?? 1;
        const next = () => {
          if (!running) return;
          const s = sampleVitals("stable", 0, random)!;
          const pack = [
            { bn: `urn:dev:vitalog-sim:${d.id}:`, n: "hr", u: "beat/min", v: s.heartRate },
            { n: "spo2", u: "/", v: s.spo2 / 100 },
            { n: "rr", u: "1/min", v: s.respiratoryRate },
            { n: "temp", u: "Cel", v: s.temperatureC },
          ].slice(0, Math.max(1, Math.min(4, records)));
          publish(JSON.stringify(pack), next);
        };
        for (let w = 0; w < opts.loadWindow; w++) next();
        return;
      }
      let seq = 0;
      const periodMs = 1000 / (opts.rateHz ?? 1);
      const tick = () => {
        if (!running) return;
        const tSec = (Date.now() - startedAt) / 1000;
        const sample = sampleVitals(scenario, tSec, random);
        if (sample) publish(JSON.stringify(senmlPack(d.id, sample, Date.now() / 1000, seq++)));
      };
      // spread devices over the period so the broker sees a steady stream, not bursts
      timers.push(
        setTimeout(
          () => {
            tick();
            timers.push(setInterval(tick, periodMs));
          },
          (periodMs * i) / opts.devices.length,
        ),
      );
    }),
  );

  return {
    stats,
    /** Stops publishing; waits for in-flight acknowledgements up to `drainMs`, then disconnects. */
    async stop(drainMs = 2000): Promise<SimStats> {
      running = false;
      for (const t of timers) clearTimeout(t);
      const deadline = Date.now() + drainMs;
      while (stats.acked + stats.errors < stats.published && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      return stats;
    },
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: "mqtt://127.0.0.1:1883" },
      credentials: { type: "string" },
      "topic-prefix": { type: "string", default: "vitalog/dev" },
      rate: { type: "string", default: "1" },
      seconds: { type: "string" },
      load: { type: "boolean", default: false },
      window: { type: "string", default: "32" },
      records: { type: "string", default: "1" },
      warmup: { type: "string", default: "0" },
    },
  });
  if (!values.credentials) {
    process.stderr.write("--credentials FILE is required (JSON array of {device_id, password, scenario?})\n");
    process.exit(64);
  }
  const creds = JSON.parse(readFileSync(values.credentials, "utf8")) as Array<{
    device_id: string;
    password: string;
    scenario?: Scenario;
  }>;
  const sim = await startWearables({
    url: values.url,
    topicPrefix: values["topic-prefix"],
    devices: creds.map((c) => ({
      id: c.device_id,
      password: c.password,
      ...(c.scenario ? { scenario: c.scenario } : {}),
    })),
    rateHz: Number(values.rate),
    ...(values.load ? { loadWindow: Number(values.window), recordsPerMessage: Number(values.records) } : {}),
    onError: (id, err) => process.stderr.write(`${id}: ${err.message}\n`),
  });
  process.stderr.write(`simulator: ${creds.length} device(s) connected\n`);
  const warmupMs = Number(values.warmup) * 1000;
  let base = { acked: 0, at: performance.now(), lat: 0 };
  if (warmupMs > 0) {
    await new Promise((r) => setTimeout(r, warmupMs));
    base = { acked: sim.stats.acked, at: performance.now(), lat: sim.stats.latenciesMs.length };
  }
  const finish = async () => {
    const acked = sim.stats.acked - base.acked;
    const seconds = (performance.now() - base.at) / 1000;
    const lat = sim.stats.latenciesMs.slice(base.lat).sort((a, b) => a - b);
    const stats = await sim.stop();
    process.stdout.write(
      `${JSON.stringify({
        devices: creds.length,
        published: stats.published,
        acked: stats.acked,
        errors: stats.errors,
        measured_seconds: seconds,
        acked_per_s: acked / seconds,
        puback_latency_ms: { p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat.at(-1) ?? null },
      })}\n`,
    );
    process.exit(0);
  };
  if (values.seconds) setTimeout(finish, Number(values.seconds) * 1000);
  process.once("SIGINT", finish);
  process.once("SIGTERM", finish);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  cli().catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    process.exit(1);
  });
}
