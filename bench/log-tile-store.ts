/**
 * Benchmark (not a timed test): TileStore append throughput and proof latency on a real SQLite file.
 * Usage: node dist/bench/log-tile-store.js [leaves=1000000] [batch=1000] [nodeHash=node|noble]
 * `node` hashes interior nodes with node:crypto, as the gateway does. Only `append` (one transaction per
 * batch) is timed; the synthetic leaf hashes are made outside the timed region. Prints one JSON line.
 */
import { hash } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { TILE_STORE_MIGRATION, TileStore } from "../src/batcher/tlog/tile-store.js";
import { leafHash } from "../src/batcher/verifier/merkle.js";
import { verifyInclusion } from "../src/batcher/verifier/merkle-verify.js";

const total = Number(process.argv[2] ?? 1_000_000);
const batch = Number(process.argv[3] ?? 1000);
const hashName = process.argv[4] ?? "node";
if (hashName !== "node" && hashName !== "noble") throw new Error("nodeHash must be node or noble");
const dir = mkdtempSync(join(tmpdir(), "vitalog-bench-"));
const file = join(dir, "log.db");
const db = new Database(file);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");
db.exec(TILE_STORE_MIGRATION);
const ONE = Uint8Array.of(1);
const nodeHashNode = (l: Uint8Array, r: Uint8Array): Uint8Array =>
  hash("sha256", Buffer.concat([ONE, l, r]), "buffer") as unknown as Buffer;
const store = new TileStore(db, hashName === "node" ? { nodeHash: nodeHashNode } : {});
const append = db.transaction((leaves: Uint8Array[]) => store.append(leaves));

const seed = new Uint8Array(8);
const view = new DataView(seed.buffer);
let appendMs = 0;
for (let done = 0; done < total; done += batch) {
  const leaves: Uint8Array[] = [];
  for (let i = done; i < Math.min(done + batch, total); i++) {
    view.setFloat64(0, i);
    leaves.push(leafHash(seed));
  }
  const t0 = performance.now();
  append(leaves);
  appendMs += performance.now() - t0;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

const size = store.size();
const root = store.root();
const inc: number[] = [];
const cons: number[] = [];
for (let k = 0; k < 2000; k++) {
  const m = Math.floor(Math.random() * size);
  let t = performance.now();
  const proof = store.inclusionProof(m, size);
  inc.push(performance.now() - t);
  view.setFloat64(0, m);
  if (!verifyInclusion(leafHash(seed), m, size, proof, root))
    throw new Error(`proof for ${m} does not verify`);
  const m1 = 1 + Math.floor(Math.random() * (size - 1));
  t = performance.now();
  store.consistencyProof(m1, size);
  cons.push(performance.now() - t);
}
inc.sort((a, b) => a - b);
cons.sort((a, b) => a - b);
const t1 = performance.now();
const audited = store.recomputeRoot();
const auditMs = performance.now() - t1;
if (Buffer.compare(Buffer.from(audited), Buffer.from(root)) !== 0) throw new Error("audit root differs");
db.close(); // checkpoints the WAL into the main file
const bytes = statSync(file).size;
rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    bench: "log-tile-store",
    leaves: size,
    batch,
    nodeHash: hashName,
    appendLeavesPerSec: Math.round(size / (appendMs / 1000)),
    appendUsPerLeaf: (appendMs * 1000) / size,
    inclusionProofMs: { p50: percentile(inc, 0.5), p99: percentile(inc, 0.99) },
    consistencyProofMs: { p50: percentile(cons, 0.5), p99: percentile(cons, 0.99) },
    auditLeavesPerSec: Math.round(size / (auditMs / 1000)),
    dbBytesPerLeaf: Math.round(bytes / size),
  }),
);
