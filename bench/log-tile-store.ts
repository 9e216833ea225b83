/**
 * Benchmark (not a timed test): TileStore append throughput and proof latency on a real SQLite file.
 * Usage: node dist/bench/log-tile-store.js [leaves=1000000] [batch=1000]
 * Prints one JSON line with the results.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { leafHash } from "../src/batcher/merkle.js";
import { verifyInclusion } from "../src/batcher/merkle-verify.js";
import { TILE_STORE_MIGRATION, TileStore } from "../src/batcher/tile-store.js";

const total = Number(process.argv[2] ?? 1_000_000);
const batch = Number(process.argv[3] ?? 1000);
const dir = mkdtempSync(join(tmpdir(), "vitalog-bench-"));
const file = join(dir, "log.db");
const db = new Database(file);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");
db.exec(TILE_STORE_MIGRATION);
const store = new TileStore(db);
const append = db.transaction((leaves: Uint8Array[]) => store.append(leaves));

const seed = new Uint8Array(8);
const view = new DataView(seed.buffer);
const t0 = performance.now();
for (let done = 0; done < total; done += batch) {
  const leaves: Uint8Array[] = [];
  for (let i = done; i < Math.min(done + batch, total); i++) {
    view.setFloat64(0, i);
    leaves.push(leafHash(seed));
  }
  append(leaves);
}
const appendMs = performance.now() - t0;

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
    appendLeavesPerSec: Math.round(size / (appendMs / 1000)),
    inclusionProofMs: { p50: percentile(inc, 0.5), p99: percentile(inc, 0.99) },
    consistencyProofMs: { p50: percentile(cons, 0.5), p99: percentile(cons, 0.99) },
    auditLeavesPerSec: Math.round(size / (auditMs / 1000)),
    dbBytesPerLeaf: Math.round(bytes / size),
  }),
);
