/**
 * The daemon's anchor publisher (Publisher over EvmLedger, on a real SQLite file) runs the
 * AnchorPublisher conformance suite against a real anvil on loopback, driven tick by tick with a
 * ManualClock. A restart closes the database and opens a new publisher on the same file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { bytesToHex, type Hex, parseAbiItem } from "viem";
import { AnchorError, anchorFields, type CheckpointInput } from "../../src/anchor/anchor.js";
import type { EvmLedger } from "../../src/anchor/evm-ledger.js";
import { Publisher, type PublisherConfig } from "../../src/anchor/publisher.js";
import { ManualClock } from "../../src/clock.js";
import { type AnchorPublisherHarness, anchorPublisherConformance } from "./anchor-publisher-conformance.js";
import { ledgerEnv, openDb } from "./helpers.js";

const TIMING: PublisherConfig = {
  anchorIntervalMs: 0,
  pollIntervalMs: 1000,
  outageRetryMs: 1000,
  rebroadcastMs: 2000,
  bumpAfterMs: 5000,
};

const ANCHORED = parseAbiItem(
  "event Anchored(bytes32 indexed logId, uint64 treeSize, bytes32 rootHash, bytes32 checkpointHash)",
);

/**
 * The ledger, with a switch that makes every call fail as unreachable: flipped by a listener at one
 * exact transition, it cuts a tick there as an outage would.
 */
function switchable(ledger: EvmLedger): { ledger: EvmLedger; setDown(isDown: boolean): void } {
  let isDown = false;
  const proxy = new Proxy(ledger, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (isDown) return Promise.reject(new AnchorError("ledger_unreachable", "ledger switched off"));
        return value.apply(target, args);
      };
    },
  });
  return { ledger: proxy, setDown: (d) => (isDown = d) };
}

anchorPublisherConformance("EVM Publisher on anvil", async () => {
  const env = await ledgerEnv();
  const clock = new ManualClock(Date.now());
  const dbPath = join(env.dir, "gateway.db");
  let db: Database.Database = openDb(dbPath);
  let sw = switchable(env.ledger);
  let p = new Publisher(db, sw.ledger, TIMING, clock);
  const stateOf = (cp: CheckpointInput) => p.store.byHash(anchorFields(cp).checkpointHash)?.state;
  const mine = () => env.node.rpc("anvil_mine", ["0x1"]);
  const h: AnchorPublisherHarness = {
    get publisher() {
      return p;
    },
    stateOf,
    driveTo: async (cp, state) => {
      for (let i = 0; i < 12; i++) {
        if (stateOf(cp) === state) return;
        await p.tick();
        if (stateOf(cp) === state) return;
        await mine();
        clock.advance(1000);
        await p.settled();
      }
      assert.fail(`checkpoint ${cp.treeSize} stuck in ${stateOf(cp)} (wanted ${state})`);
    },
    reorg: async (cp) => {
      const item = p.store.byHash(anchorFields(cp).checkpointHash)!;
      const head = BigInt(await env.node.rpc<Hex>("eth_blockNumber"));
      await env.node.rpc("anvil_reorg", [Number(head - item.blockNumber! + 1n), []]);
      // the ledger goes away right after the reorg is recorded, before the checkpoint is queued again
      const off = p.on((e) => e.type === "state" && e.state === "reorged" && sw.setDown(true));
      await p.tick();
      off();
      sw.setDown(false);
    },
    elapse: async (ms) => {
      let left = ms;
      do {
        const stepMs = Math.min(left, TIMING.pollIntervalMs!);
        clock.advance(stepMs);
        left -= stepMs;
        await p.settled();
      } while (left > 0);
    },
    anchorings: async (cp) => {
      const fields = anchorFields(cp);
      const logs = await env.ledger.client.getLogs({
        address: env.node.registry!,
        event: ANCHORED,
        args: { logId: bytesToHex(fields.logId) },
        fromBlock: 0n,
        toBlock: "latest",
      });
      return logs.filter((l) => l.args.checkpointHash === bytesToHex(fields.checkpointHash)).length;
    },
    restart: async () => {
      await p.stop();
      db.close();
      db = openDb(dbPath);
      sw = switchable(await env.connect());
      p = new Publisher(db, sw.ledger, TIMING, clock);
    },
    breakStore: () => db.close(),
    close: async () => {
      await p.stop();
      if (db.open) db.close();
      await env.close();
    },
  };
  return h;
});
