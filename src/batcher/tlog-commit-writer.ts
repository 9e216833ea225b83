/**
 * The tamper-evident log's commit writer (commit-writer.ts), loaded in the commit thread: appends every
 * stored reading and audit event of a commit to the log inside the commit's transaction, and numbers the
 * stored readings from the log's size (RecordLog's contract).
 */
import type { Db } from "../db.js";
import type { CommitWriterSpec, ThreadCommitWriter } from "./commit-writer.js";
import { RecordLog } from "./record-log.js";

interface TlogWriterInit {
  storageKey: Uint8Array;
}

/** The main-thread spec (`storageKey`: the gateway's storage key, from the key file). */
export function tlogCommitWriter(storageKey: Buffer): CommitWriterSpec {
  return {
    name: "tlog",
    module: import.meta.url,
    init: { storageKey: new Uint8Array(storageKey) } satisfies TlogWriterInit,
  };
}

export function createCommitWriter(db: Db, init: unknown): ThreadCommitWriter {
  let nowMs = 0;
  const records = new RecordLog(db, Buffer.from((init as TlogWriterInit).storageKey), { now: () => nowMs });
  return {
    nextLeaf: () => records.tiles.size(),
    write(stored, events, ctx) {
      nowMs = ctx.nowMs;
      records.append(stored, events);
      return undefined;
    },
  };
}
