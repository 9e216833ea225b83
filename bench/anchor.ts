/**
 * Anchor benchmark on a real anvil (loopback): gas per anchor (first and steady state), transactions
 * sent per anchor interval at a high checkpoint rate, time from checkpoint to FINAL, and the same chain
 * cost at 100× the reading volume (`volume`).
 * Run: `npx tsc -p . && node dist/bench/anchor.js` — prints one JSON object to stdout.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Hex } from "viem";
import { anchorFields, type CheckpointInput } from "../src/anchor/anchor.js";
import { ANVIL_KEYS, startAnvil, writeKeyFile } from "../src/anchor/anvil.js";
import { EvmLedger, maxBig } from "../src/anchor/evm-ledger.js";
import { Publisher } from "../src/anchor/publisher.js";
import { ANCHOR_MIGRATION } from "../src/anchor/publisher-store.js";
import { systemClock } from "../src/clock.js";

const ORIGIN = "bench.example.org/vitalog/gw-01";
function cp(n: number): CheckpointInput {
  const rootHash = new Uint8Array(32).fill(n % 256);
  return {
    origin: ORIGIN,
    treeSize: BigInt(n),
    rootHash,
    noteText: `${ORIGIN}\n${n}\nroot\n\n— ${ORIGIN} sig${n}\n`,
  };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(leavesPerCheckpoint: number) {
  const blockTimeSec = Number(process.env.BLOCK_TIME_SEC ?? 1);
  const confirmations = Number(process.env.CONFIRMATIONS ?? 2);
  const intervalMs = Number(process.env.ANCHOR_INTERVAL_MS ?? 3000);
  const runMs = Number(process.env.RUN_MS ?? 15000);
  const node = await startAnvil({ blockTimeSec });
  const dir = mkdtempSync(join(tmpdir(), "vitalog-bench-"));
  const db = new Database(join(dir, "bench.db"));
  db.pragma("journal_mode = WAL");
  db.exec(ANCHOR_MIGRATION);
  const ledger = await EvmLedger.connect({
    rpcUrl: node.rpcUrl,
    chainId: node.chainId,
    contract: node.registry!,
    keyFile: writeKeyFile(dir, ANVIL_KEYS[1]!),
    finality: { kind: "confirmations", confirmations },
  });
  const p = new Publisher(
    db,
    ledger,
    { anchorIntervalMs: intervalMs, pollIntervalMs: 100, rebroadcastMs: 10_000, bumpAfterMs: 30_000 },
    systemClock,
  );
  const offeredAt = new Map<bigint, number>();
  const finalMs: number[] = [];
  p.on((e) => {
    if (e.type === "state" && e.state === "final")
      finalMs.push(performance.now() - offeredAt.get(e.treeSize)!);
  });
  p.start();
  const nonce0 = (await ledger.nonces()).latest;
  const t0 = performance.now();
  let n = 0;
  let offers = 0;
  while (performance.now() - t0 < runMs) {
    n += leavesPerCheckpoint; // one checkpoint every ~100 ms, each covering this many new readings
    offeredAt.set(BigInt(n), performance.now());
    p.offer(cp(n));
    offers++;
    await sleep(100);
  }
  const last = BigInt(n);
  while (p.store.byHash(anchorFields(cp(n)).checkpointHash)?.state !== "final") await sleep(100);
  await p.stop();
  const txs = (await ledger.nonces()).latest - nonce0;
  const gas: bigint[] = [];
  for (const item of p.store.inState("final")) {
    const r = await ledger.client.getTransactionReceipt({ hash: item.txHash as Hex });
    gas.push(r.gasUsed);
  }
  gas.reverse();
  const sorted = [...finalMs].sort((a, b) => a - b);
  const result = {
    bench: "anchor",
    ledger: "anvil",
    block_time_sec: blockTimeSec,
    confirmations,
    anchor_interval_ms: intervalMs,
    run_ms: runMs,
    checkpoints_offered: offers,
    transactions_sent: txs,
    transactions_per_interval: txs / Math.ceil(runMs / intervalMs),
    gas_first_anchor: Number(gas[0] ?? 0n),
    gas_steady_anchor_max: Number(gas.slice(1).reduce(maxBig, 0n)),
    checkpoint_to_final_ms: {
      count: sorted.length,
      min: Math.round(sorted[0] ?? 0),
      median: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
      max: Math.round(sorted.at(-1) ?? 0),
    },
    last_tree_size: last.toString(),
    readings_per_sec: Math.round((leavesPerCheckpoint * offers * 1000) / runMs),
  };
  db.close();
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
  return result;
}

/**
 * The default run (50 readings per checkpoint), then the same at 100× the reading volume: the chain
 * cost (transactions and gas per anchor) does not depend on how many readings a checkpoint covers.
 */
async function main() {
  const base = await run(50);
  const high = await run(5000);
  const pick = (r: Awaited<ReturnType<typeof run>>) => ({
    readings_per_sec: r.readings_per_sec,
    transactions_sent: r.transactions_sent,
    gas_first_anchor: r.gas_first_anchor,
    gas_steady_anchor_max: r.gas_steady_anchor_max,
  });
  const result = { ...base, volume: [pick(base), pick(high)] };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
