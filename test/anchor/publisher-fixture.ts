/** A publisher on a real SQLite file and a real anvil, driven tick by tick with a ManualClock. */
import assert from "node:assert/strict";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { bytesToHex, type Hex, parseAbiItem } from "viem";
import { anchorFields, type CheckpointInput } from "../../src/anchor/anchor.js";
import type { AnvilOptions } from "../../src/anchor/anvil.js";
import { Publisher, type PublisherConfig } from "../../src/anchor/publisher.js";
import type { AnchorState } from "../../src/anchor/publisher-store.js";
import { ManualClock } from "../../src/clock.js";
import { type LedgerEnv, ledgerEnv, openDb } from "./helpers.js";

export const TIMING: PublisherConfig = {
  anchorIntervalMs: 0,
  pollIntervalMs: 1000,
  outageRetryMs: 1000,
  rebroadcastMs: 2000,
  bumpAfterMs: 5000,
};

export interface Fixture {
  env: LedgerEnv;
  clock: ManualClock;
  dbPath: string;
  db: Database.Database;
  p: Publisher;
  /** Closes the database and builds a new publisher on the same file (a restart). */
  restart(): Promise<void>;
  stateOf(cp: CheckpointInput): AnchorState | undefined;
  /** Canonical Anchored events of this account for the checkpoint. */
  anchoredEvents(cp: CheckpointInput): Promise<Hex[]>;
  close(): Promise<void>;
}

const ANCHORED = parseAbiItem(
  "event Anchored(bytes32 indexed logId, uint64 treeSize, bytes32 rootHash, bytes32 checkpointHash)",
);

/** Fixtures not closed yet: a test that fails before its own close leaves its anvil to {@link closeOpenFixtures}. */
const open = new Set<Fixture>();

/**
 * Closes every fixture still open (call from `afterEach`): an anvil child left running keeps the test file's
 * process alive, so one failed assertion would otherwise hang the whole run instead of failing it.
 */
export async function closeOpenFixtures(): Promise<void> {
  for (const f of [...open]) await f.close();
}

export async function fixture(options: AnvilOptions = {}): Promise<Fixture> {
  const env = await ledgerEnv(options);
  const clock = new ManualClock(Date.now());
  const dbPath = join(env.dir, "gateway.db");
  const f: Fixture = {
    env,
    clock,
    dbPath,
    db: openDb(dbPath),
    p: undefined as unknown as Publisher,
    restart: async () => {
      await f.p.stop();
      f.db.close();
      f.db = openDb(dbPath);
      f.p = new Publisher(f.db, await env.connect(), TIMING, clock);
    },
    stateOf: (cp) => f.p.store.byHash(anchorFields(cp).checkpointHash)?.state,
    anchoredEvents: async (cp) => {
      const fields = anchorFields(cp);
      const logs = await env.ledger.client.getLogs({
        address: env.node.registry!,
        event: ANCHORED,
        args: { logId: bytesToHex(fields.logId) },
        fromBlock: 0n,
        toBlock: "latest",
      });
      return logs
        .filter((l) => l.args.checkpointHash === bytesToHex(fields.checkpointHash))
        .map((l) => l.transactionHash!);
    },
    close: async () => {
      if (!open.delete(f)) return;
      await f.p.stop();
      f.db.close();
      await env.close();
    },
  };
  open.add(f);
  f.p = new Publisher(f.db, env.ledger, TIMING, clock);
  return f;
}

/** Ticks until the checkpoint reaches `state`, mining a block between ticks; fails after `max` ticks. */
export async function driveTo(f: Fixture, cp: CheckpointInput, state: AnchorState, max = 10): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (f.stateOf(cp) === state) return;
    await f.p.tick();
    if (f.stateOf(cp) === state) return;
    await f.env.node.rpc("anvil_mine", ["0x1"]);
    f.clock.advance(1000);
  }
  assert.fail(
    `checkpoint ${cp.treeSize} stuck in ${f.stateOf(cp)} (wanted ${state}); ${JSON.stringify(f.p.status())}`,
  );
}
