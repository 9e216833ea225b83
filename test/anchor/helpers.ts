/** Shared fixtures for anchor tests: checkpoints, temp SQLite files, anvil + ledger wiring. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Hex } from "viem";
import type { CheckpointInput } from "../../src/anchor/anchor.js";
import {
  ANVIL_KEYS,
  type AnvilNode,
  type AnvilOptions,
  startAnvil,
  writeKeyFile,
} from "../../src/anchor/anvil.js";
import { EvmLedger, type FinalityPolicy } from "../../src/anchor/evm-ledger.js";
import { ANCHOR_MIGRATION } from "../../src/anchor/publisher-store.js";

export const ORIGIN = "ward7.example-hospital.org/vitalog/gw-01";

/** A checkpoint-shaped input; the note text is unique per (origin, size, tag). */
export function checkpoint(treeSize: number | bigint, tag = "", origin = ORIGIN): CheckpointInput {
  const size = BigInt(treeSize);
  const rootHash = new Uint8Array(32);
  new DataView(rootHash.buffer).setBigUint64(24, size);
  rootHash[0] = tag.length + 1;
  const b64 = btoa(String.fromCharCode(...rootHash));
  const noteText = `${origin}\n${size}\n${b64}\n\n— ${origin} AAAA${tag}sig=\n`;
  return { origin, treeSize: size, rootHash, noteText };
}

export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "vitalog-anchor-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Opens (and migrates once) a real SQLite file in WAL mode. */
export function openDb(path: string): Database.Database {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  if (db.pragma("user_version", { simple: true }) === 0) {
    db.exec(ANCHOR_MIGRATION);
    db.pragma("user_version = 1");
  }
  return db;
}

export interface LedgerEnv {
  node: AnvilNode;
  dir: string;
  keyFile: string;
  ledger: EvmLedger;
  connect(finality?: FinalityPolicy): Promise<EvmLedger>;
  close(): Promise<void>;
}

/** Real anvil on loopback with the registry deployed and a 0600 key file for ANVIL_KEYS[1]. */
export async function ledgerEnv(
  options: AnvilOptions = {},
  finality: FinalityPolicy = { kind: "confirmations", confirmations: 2 },
): Promise<LedgerEnv> {
  const node = await startAnvil(options);
  const t = tempDir();
  const keyFile = writeKeyFile(t.dir, ANVIL_KEYS[1]!);
  const connect = (f: FinalityPolicy = finality) =>
    EvmLedger.connect({
      rpcUrl: node.rpcUrl,
      chainId: node.chainId,
      contract: node.registry!,
      keyFile,
      finality: f,
      rpcTimeoutMs: 2000,
    });
  const ledger = await connect();
  const env: LedgerEnv = {
    node,
    dir: t.dir,
    keyFile,
    ledger,
    connect,
    close: async () => {
      await env.node.stop();
      t.cleanup();
    },
  };
  return env;
}

/** Mines `n` blocks on anvil. */
export async function mine(node: AnvilNode, n = 1): Promise<void> {
  await node.rpc("anvil_mine", [`0x${n.toString(16)}`]);
}

/** Number of transactions the gateway account has mined. */
export async function sentCount(node: AnvilNode, address: Hex): Promise<number> {
  return Number(BigInt(await node.rpc<Hex>("eth_getTransactionCount", [address, "latest"])));
}
