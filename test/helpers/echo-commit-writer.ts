/**
 * A commit writer (batcher/commit/commit-writer.ts) for tests: numbers stored readings from `init.firstLeaf` and
 * returns what it saw, so the main thread can check the plumbing (init, prepare, stored, events, onResult).
 */
import type { ThreadCommitWriter } from "../../src/batcher/commit/commit-writer.js";
import type { Db } from "../../src/db.js";

export function createCommitWriter(db: Db, init: unknown): ThreadCommitWriter {
  const { firstLeaf } = init as { firstLeaf: number };
  const inTx: boolean[] = [];
  return {
    nextLeaf: () =>
      firstLeaf +
      (db.prepare("SELECT COUNT(*) FROM readings WHERE leaf_index IS NOT NULL").pluck().get() as number),
    write(stored, events, ctx) {
      inTx.push(db.inTransaction);
      return {
        stored: stored.map((r) => r.id),
        events: events.map((e) => e.type),
        nowMs: ctx.nowMs,
        prepared: ctx.prepared,
        inTransaction: inTx.at(-1),
      };
    },
  };
}
