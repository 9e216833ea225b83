/**
 * `npm run bench:log` (benchmark, not a timed test): the tamper-evident log on real SQLite files.
 * Usage: node dist/bench/log.js [--leaves 1000000,10000000] [--compare 100000] [--ingest-sec 3]
 * Prints one JSON object: append throughput, inclusion-proof latency at each size, bundle verification
 * time, bytes on disk per reading, merkletreejs / @openzeppelin/merkle-tree on the same leaves, and ingest
 * throughput through the gateway's Ingest → group commit path with the log on and off.
 */

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SimpleMerkleTree } from "@openzeppelin/merkle-tree";
import Database from "better-sqlite3";
import { MerkleTree } from "merkletreejs";
import { Gateway } from "../src/app/gateway.js";
import { signNextCheckpoint } from "../src/batcher/tlog/checkpoint-store.js";
import { buildProofBundle } from "../src/batcher/tlog/proof-bundle.js";
import { nodeHashWithNodeCrypto } from "../src/batcher/tlog/record-crypto.js";
import { TILE_STORE_MIGRATION, TileStore } from "../src/batcher/tlog/tile-store.js";
import { verifyProofBundle } from "../src/batcher/verifier/bundle-verify.js";
import { systemClock } from "../src/clock.js";
import { parseConfig } from "../src/config.js";
import { createLogger } from "../src/log.js";
import type { ReadingInput } from "../src/reading.js";

const { values } = parseArgs({
  options: {
    leaves: { type: "string", default: "1000000,10000000" },
    compare: { type: "string", default: "100000" },
    "ingest-sec": { type: "string", default: "3" },
  },
});
const root = mkdtempSync(join(tmpdir(), "vitalog-bench-log-"));
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const round = (x: number, d = 4) => Number(x.toFixed(d));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest();
const fileBytes = (f: string) =>
  ["", "-wal"].reduce((s, x) => s + (statSync(f + x, { throwIfNoEntry: false })?.size ?? 0), 0);

/** Synthetic leaf hashes, deterministic. */
function leaves(from: number, count: number): Buffer[] {
  const out: Buffer[] = new Array(count);
  const b = Buffer.alloc(8);
  for (let i = 0; i < count; i++) {
    b.writeDoubleBE(from + i);
    out[i] = sha(b);
  }
  return out;
}

/** Inclusion-proof latency in a TileStore of `size` leaves. */
function proofsAt(size: number) {
  const file = join(root, `tiles-${size}.db`);
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(TILE_STORE_MIGRATION);
  const store = new TileStore(db, { nodeHash: nodeHashWithNodeCrypto });
  const append = db.transaction((l: Buffer[]) => store.append(l));
  const t0 = performance.now();
  for (let done = 0; done < size; done += 10_000) append(leaves(done, Math.min(10_000, size - done)));
  const appendSec = (performance.now() - t0) / 1000;
  const times: number[] = [];
  for (let k = 0; k < 5000; k++) {
    const m = Math.floor(Math.random() * size);
    const t = performance.now();
    store.inclusionProof(m, size);
    times.push(performance.now() - t);
  }
  db.close();
  const bytes = statSync(file).size;
  rmSync(file, { force: true });
  return {
    leaves: size,
    rawAppendLeavesPerSec: Math.round(size / appendSec),
    inclusionProofMs: {
      p50: round(pct(times, 0.5)),
      p99: round(pct(times, 0.99)),
      max: round(pct(times, 1)),
    },
    hashStoreBytesPerLeaf: round(bytes / size, 1),
  };
}

/** External libraries building a tree of the same leaves and producing one proof. */
function compare(n: number) {
  const ls = leaves(0, n);
  let t = performance.now();
  const mt = new MerkleTree(ls, sha);
  const mtBuild = performance.now() - t;
  t = performance.now();
  for (let k = 0; k < 100; k++) mt.getProof(ls[(k * 7919) % n]!, (k * 7919) % n);
  const mtProof = (performance.now() - t) / 100;
  const hexes = ls.map((l) => `0x${l.toString("hex")}`);
  t = performance.now();
  const oz = SimpleMerkleTree.of(hexes);
  const ozBuild = performance.now() - t;
  t = performance.now();
  for (let k = 0; k < 100; k++) oz.getProof((k * 7919) % n);
  const ozProof = (performance.now() - t) / 100;
  // ours: the tiled SQLite store (durable), same leaves
  const db = new Database(join(root, "cmp.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(TILE_STORE_MIGRATION);
  const store = new TileStore(db, { nodeHash: nodeHashWithNodeCrypto });
  t = performance.now();
  db.transaction(() => store.append(ls))();
  const ourBuild = performance.now() - t;
  t = performance.now();
  for (let k = 0; k < 100; k++) store.inclusionProof((k * 7919) % n, n);
  const ourProof = (performance.now() - t) / 100;
  db.close();
  return {
    leaves: n,
    vitalogTileStore: { buildMs: round(ourBuild, 1), proofMs: round(ourProof), durable: true, rfc9162: true },
    merkletreejs: { buildMs: round(mtBuild, 1), proofMs: round(mtProof), durable: false, rfc9162: false },
    openzeppelinSimpleMerkleTree: {
      buildMs: round(ozBuild, 1),
      proofMs: round(ozProof),
      durable: false,
      rfc9162: false,
    },
  };
}

/** An in-process gateway on an ephemeral port in a fresh state dir, the log on or off. */
async function startBenchGateway(prefix: string, withLog: boolean) {
  const dir = mkdtempSync(join(root, prefix));
  const config = parseConfig(
    {
      gateway: { id: "bench-gw", origin: "bench.vitalog.invalid/gw/bench", stateDir: dir },
      mqtt: { port: 0 },
      admin: { port: 0 },
      log: { level: "silent" },
      tlog: { enabled: withLog },
    },
    dir,
  );
  const gw = await Gateway.start(config, { log: createLogger("silent"), clock: systemClock });
  return { dir, config, gw };
}

/** The gateway's ingest path (Ingest → group commit → store [+ log]) in-process; readings/s. */
async function ingest(withLog: boolean, seconds: number) {
  const { dir, config, gw } = await startBenchGateway(withLog ? "gw-log-" : "gw-nolog-", withLog);
  const devices = 64;
  const window = 16;
  let stored = 0;
  let stop = false;
  const seqs = new Array(devices).fill(0);
  const t0 = performance.now();
  const base = Date.now() - 3_600_000;
  await new Promise<void>((done) => {
    let inflight = 0;
    const send = (d: number) => {
      if (stop) {
        if (--inflight === 0) done();
        return;
      }
      const k = seqs[d]++;
      const input: ReadingInput = {
        kind: "heart_rate",
        value: 50 + (k % 90),
        unit: "/min",
        deviceTimeMs: base + k,
      };
      gw.ingest.submit(
        { deviceId: `dev-${d}`, subjectId: `pt-${d}`, transport: "mqtt" },
        { inputs: [input] },
        null,
        (err) => {
          if (!err) stored++;
          setImmediate(() => send(d));
        },
      );
    };
    for (let d = 0; d < devices; d++)
      for (let w = 0; w < window; w++) {
        inflight++;
        send(d);
      }
    setTimeout(() => {
      stop = true;
    }, seconds * 1000);
  });
  const sec = (performance.now() - t0) / 1000;
  await gw.stop();
  const db = new Database(config.storage.path!);
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  const bytes = fileBytes(config.storage.path!);
  return {
    readingsPerSec: Math.round(stored / sec),
    readings: stored,
    bytesPerReading: round(bytes / stored, 1),
    dir,
  };
}

const SIM = resolve(dirname(fileURLToPath(import.meta.url)), "../firmware-sim/mqtt-wearable.js");

/** End to end: the firmware-sim load generator over MQTT (QoS 1, PUBACK after commit) → gateway in-process. */
async function mqttLoad(withLog: boolean, seconds: number) {
  const { dir, gw } = await startBenchGateway(withLog ? "mq-log-" : "mq-nolog-", withLog);
  const creds = [];
  for (let d = 0; d < 8; d++) {
    await gw.registry.add({ id: `sim-${d}`, subjectId: `pt-${d}`, password: `pw-${d}-secret` }, Date.now());
    creds.push({ device_id: `sim-${d}`, password: `pw-${d}-secret` });
  }
  const credFile = join(dir, "creds.json");
  writeFileSync(credFile, JSON.stringify(creds));
  const args = [
    SIM,
    "--url",
    `mqtt://127.0.0.1:${gw.mqtt.port}`,
    "--credentials",
    credFile,
    "--load",
    "--window",
    "64",
  ];
  args.push("--seconds", String(seconds + 1), "--warmup", "1");
  const out = await new Promise<string>((res, rej) =>
    execFile(process.execPath, args, { encoding: "utf8" }, (err, stdout) => (err ? rej(err) : res(stdout))),
  );
  await gw.stop();
  const stats = JSON.parse(out.trim().split("\n").at(-1)!) as { acked_per_s: number };
  return Math.round(stats.acked_per_s);
}

/** Bundle generation and verification (the @noble, browser-safe verifier). */
function bundles(dir: string) {
  const config = parseConfig(
    {
      gateway: { id: "bench-gw", origin: "bench.vitalog.invalid/gw/bench", stateDir: dir },
      log: { level: "silent" },
    },
    dir,
  );
  const db = new Database(config.storage.path!);
  return import("../src/batcher/tlog/open-tlog.js").then(({ openTlog }) => {
    const tlog = openTlog(db, config, { createMissing: false });
    signNextCheckpoint({
      db,
      tiles: tlog.records.tiles,
      store: tlog.checkpoints,
      origin: tlog.origin,
      signers: [tlog.signer],
      nowMs: Date.now(),
    });
    const refs = db
      .prepare("SELECT id FROM readings WHERE leaf_index IS NOT NULL ORDER BY random() LIMIT 200")
      .pluck()
      .all() as string[];
    const src = {
      db,
      tiles: tlog.records.tiles,
      openings: tlog.records.openings,
      checkpoints: tlog.checkpoints,
      origin: tlog.origin,
      vkey: tlog.vkey,
    };
    const gen: number[] = [];
    const ver: number[] = [];
    const verifier = tlog.signer.verifier();
    for (const ref of refs) {
      let t = performance.now();
      const b = JSON.parse(JSON.stringify(buildProofBundle(src, ref)));
      gen.push(performance.now() - t);
      t = performance.now();
      if (!verifyProofBundle(b, [verifier]).ok) throw new Error(`bundle ${ref} does not verify`);
      ver.push(performance.now() - t);
    }
    const treeSize = tlog.records.tiles.size();
    db.close();
    return {
      treeSize,
      proofBundleMs: { p50: round(pct(gen, 0.5)), p99: round(pct(gen, 0.99)) },
      verifyBundleMs: { p50: round(pct(ver, 0.5)), p99: round(pct(ver, 0.99)) },
    };
  });
}

async function main() {
  const seconds = Number(values["ingest-sec"]);
  const mqttOff = await mqttLoad(false, seconds);
  const mqttOn = await mqttLoad(true, seconds);
  const off = await ingest(false, seconds);
  const on = await ingest(true, seconds);
  const bundle = await bundles(on.dir);
  const sizes = values.leaves!.split(",").map(Number);
  const proofs = sizes.map(proofsAt);
  const cmp = compare(Number(values.compare));
  const result = {
    bench: "log",
    node: process.version,
    ingest: {
      path: "Ingest.submit → GroupCommitter → ReadingStore [+ RecordLog]; 64 devices × 16 in flight, 1 reading/frame",
      logOffReadingsPerSec: off.readingsPerSec,
      logOnReadingsPerSec: on.readingsPerSec,
      ratio: round(on.readingsPerSec / off.readingsPerSec, 3),
      dropPct: round((1 - on.readingsPerSec / off.readingsPerSec) * 100, 1),
      bytesPerReadingLogOff: off.bytesPerReading,
      bytesPerReadingLogOn: on.bytesPerReading,
    },
    mqttEndToEnd: {
      path: "firmware-sim --load (8 devices × 64 in flight, 1 record/msg, QoS 1) → aedes → Ingest → group commit → PUBACK",
      logOffReadingsPerSec: mqttOff,
      logOnReadingsPerSec: mqttOn,
      ratio: round(mqttOn / mqttOff, 3),
      dropPct: round((1 - mqttOn / mqttOff) * 100, 1),
    },
    appendEntriesPerSec: on.readingsPerSec,
    bundles: bundle,
    proofs,
    compare: cmp,
    targets: {
      proofP99At10MUnder1Ms: proofs.find((p) => p.leaves >= 10_000_000)?.inclusionProofMs.p99 ?? null,
      ingestDropUnder15PctInProcess: round((1 - on.readingsPerSec / off.readingsPerSec) * 100, 1) <= 15,
      ingestDropUnder15PctMqtt: round((1 - mqttOn / mqttOff) * 100, 1) <= 15,
    },
  };
  mkdirSync(".bench", { recursive: true });
  writeFileSync(".bench/log.json", `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  rmSync(root, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  rmSync(root, { recursive: true, force: true });
  process.exit(1);
});
