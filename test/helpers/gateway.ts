import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { Gateway } from "../../src/app/gateway.js";
import { type Clock, systemClock } from "../../src/clock.js";
import { type ConfigInput, parseConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";

export interface TestGateway {
  gw: Gateway;
  dir: string;
  url: string;
  /** Provisions a device and returns its password. */
  provision(id: string, subjectId?: string): Promise<string>;
  /** Connects a device client (resolves on CONNACK success, rejects on refusal). */
  connect(id: string, password: string, extra?: IClientOptions): Promise<MqttClient>;
  close(): Promise<void>;
}

export function tempDir(prefix = "vitalog-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A real gateway on an ephemeral loopback port with a real SQLite file in a temp dir. `busyGiveUpMs`: how
 * long a batch that meets another connection's lock is retried before it fails (a test about locks sets it).
 */
export async function startTestGateway(
  overrides: Partial<ConfigInput> = {},
  clock: Clock = systemClock,
  { busyGiveUpMs }: { busyGiveUpMs?: number } = {},
): Promise<TestGateway> {
  const dir = tempDir();
  const config = parseConfig(
    {
      gateway: { id: "test-gw", origin: "test.vitalog.invalid/gw/test-gw", stateDir: dir },
      mqtt: { port: 0, ...(overrides.mqtt ?? {}) },
      admin: { port: 0 },
      log: { level: "silent" },
      ...Object.fromEntries(Object.entries(overrides).filter(([k]) => k !== "mqtt")),
    },
    dir,
  );
  let gw: Gateway;
  try {
    gw = await Gateway.start(config, { log: createLogger("silent"), clock, busyGiveUpMs });
  } catch (err) {
    // a start retried on another port (test/helpers/ports.ts) leaves no state directory behind
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = `mqtt://127.0.0.1:${gw.mqtt.port}`;
  const clients: MqttClient[] = [];
  return {
    gw,
    dir,
    url,
    async provision(id, subjectId = `pt-${id}`) {
      const password = `pw-${id}-secret`;
      await gw.registry.add({ id, subjectId, password }, Date.now());
      return password;
    },
    async connect(id, password, extra = {}) {
      const client = await mqtt.connectAsync(url, {
        clientId: id,
        username: id,
        password,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        ...extra,
      });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function writeSecret(dir: string, name: string, content: string): string {
  const file = join(dir, name);
  writeFileSync(file, `${content}\n`, { mode: 0o600 });
  return file;
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
