/** Helpers for end-to-end anchor tests: a `vitalog run` child with anchoring, its CLI, MQTT and the chain. */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { bytesToHex, type Hex, hexToBigInt, sha256 } from "viem";
import type { AnvilNode } from "../../src/anchor/anvil.js";
import { ANCHORED_TOPIC } from "../../src/anchor/evidence.js";
import { MAIN, type SpawnedGateway, spawnGateway } from "../helpers/child-gateway.js";
import { writeSecret } from "../helpers/gateway.js";
import { withFreshPort } from "../helpers/ports.js";

export const GW_ORIGIN = "test.vitalog.invalid/gw/anchor-gw";
export const DEVICE = "anchor-dev";
export const DEVICE_PASSWORD = "secret-anchor-dev";

export interface AnchorGatewayFiles {
  configFile: string;
  dbPath: string;
}

/** Writes a `vitalog run` config with anchoring on anvil (confirmations policy) and one MQTT device. */
export function writeAnchorConfig(
  dir: string,
  args: {
    mqttPort: number;
    adminPort: number;
    rpcUrl: string;
    contract: Hex;
    keyFile: string;
    confirmations?: number;
    anchorIntervalSec?: number;
  },
): AnchorGatewayFiles {
  const passwordFile = writeSecret(dir, `${DEVICE}.pw`, DEVICE_PASSWORD);
  const configFile = join(dir, "vitalog.yaml");
  writeFileSync(
    configFile,
    [
      `gateway: { id: anchor-gw, origin: ${GW_ORIGIN}, stateDir: state }`,
      `mqtt: { host: 127.0.0.1, port: ${args.mqttPort} }`,
      `admin: { port: ${args.adminPort} }`,
      "log: { level: info }",
      "storage: { synchronous: normal }",
      "tlog: { checkpointIntervalSec: 0.3 }",
      "anchor:",
      "  enabled: true",
      `  rpcUrl: ${args.rpcUrl}`,
      "  chainId: 31337",
      `  contract: "${args.contract}"`,
      `  keyFile: ${args.keyFile}`,
      "  finality: confirmations",
      `  confirmations: ${args.confirmations ?? 1}`,
      `  anchorIntervalSec: ${args.anchorIntervalSec ?? 0}`,
      "  pollIntervalSec: 0.2",
      "  outageRetrySec: 0.3",
      "  rpcTimeoutMs: 1000",
      "devices:",
      `  - { id: ${DEVICE}, subject: pt-anchor, passwordFile: ${passwordFile} }`,
    ].join("\n"),
  );
  return { configFile, dbPath: join(dir, "state", "vitalog.db") };
}

/**
 * Writes the config and starts `vitalog run` with the ports it bound: MQTT on port 0 (named in its "ready"
 * line), the admin HTTP (where port 0 means off, and whose port `vitalog status` reads from the config) on a
 * fresh port, retried if another process takes it first. Call it again for each life of the gateway.
 */
export function startAnchorGateway(
  dir: string,
  args: Omit<Parameters<typeof writeAnchorConfig>[1], "mqttPort" | "adminPort">,
): Promise<SpawnedGateway & { files: AnchorGatewayFiles }> {
  return withFreshPort(async (adminPort) => {
    const files = writeAnchorConfig(dir, { ...args, mqttPort: 0, adminPort });
    return { ...(await spawnGateway(files.configFile)), files };
  });
}

/** Publishes `count` heart-rate readings with QoS 1 and resolves once every one was acknowledged. */
export async function publishReadings(mqttPort: number, first: number, count: number): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
    clientId: DEVICE,
    username: DEVICE,
    password: DEVICE_PASSWORD,
    reconnectPeriod: 0,
  });
  try {
    for (let n = first; n < first + count; n++) {
      const pack = [
        { bn: `urn:dev:x:${DEVICE}:`, bt: 1_763_700_000 + n, n: "hr", u: "beat/min", v: 60 + (n % 40) },
      ];
      await c.publishAsync(`vitalog/dev/${DEVICE}/senml`, JSON.stringify(pack), { qos: 1 });
    }
  } finally {
    await c.endAsync();
  }
}

/** GET /status of the running gateway. */
export async function gatewayStatus(adminPort: number): Promise<GatewayStatus> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/status`);
  return (await res.json()) as GatewayStatus;
}

export interface GatewayStatus {
  readings_accepted: number;
  tlog: { checkpoint_size: number; tree_size: number };
  anchor: {
    connected: boolean;
    counts: Record<string, number>;
    pending: { state: string; tree_size: string } | null;
    last_final: { tree_size: string; block_number: string } | null;
    last_error: { reason: string } | null;
  };
}

/** Runs the CLI as a child process (async: the test's event loop stays free). */
export function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.once("close", (status) => resolve({ status, stdout, stderr })));
}

/** Polls an async predicate; rejects after `timeoutMs` naming what was awaited and the last value seen. */
export async function eventually<T>(
  probe: () => Promise<T>,
  isDone: (v: T) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = await probe();
      if (isDone(last)) return last;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every Anchored event of the registry on the canonical chain, decoded. */
export async function anchoredEvents(
  node: AnvilNode,
): Promise<{ treeSize: bigint; rootHash: Hex; checkpointHash: Hex; txHash: Hex }[]> {
  const logs = await node.rpc<{ data: Hex; transactionHash: Hex }[]>("eth_getLogs", [
    { address: node.registry, fromBlock: "0x0", toBlock: "latest", topics: [ANCHORED_TOPIC] },
  ]);
  return logs.map((l) => ({
    treeSize: hexToBigInt(`0x${l.data.slice(2, 66)}`),
    rootHash: `0x${l.data.slice(66, 130)}`,
    checkpointHash: `0x${l.data.slice(130, 194)}`,
    txHash: l.transactionHash,
  }));
}

/** Signed checkpoints of the gateway database (read-only), with SHA-256 of each note. */
export function storedCheckpoints(dbPath: string): { size: number; note: string; hash: Hex }[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    const rows = db.prepare("SELECT size, note FROM tlog_checkpoints ORDER BY size").all() as {
      size: number;
      note: string;
    }[];
    return rows.map((r) => ({ ...r, hash: sha256(bytesToHex(new TextEncoder().encode(r.note))) }));
  } finally {
    db.close();
  }
}

/** Runs a read-only query on the gateway database. */
export function query<T>(dbPath: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}
