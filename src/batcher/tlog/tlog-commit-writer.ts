/**
 * The tamper-evident log's commit writer (commit-writer.ts), loaded in the commit thread: appends every
 * stored reading and audit event of a commit to the log inside the commit's transaction, and numbers the
 * stored readings from the log's size (RecordLog's contract). Given the signing key, it also signs the
 * checkpoints the checkpointer asks for ({@link SignCheckpoint} commands), in the same transaction after the
 * commit's entries: the log and its checkpoints have one writer.
 */
import type { Db } from "../../db.js";
import { GatewayError } from "../../errors.js";
import { type WireError, wireError } from "../commit/commit-thread-protocol.js";
import type { CommitWriterSpec, ThreadCommitWriter } from "../commit/commit-writer.js";
import { parseSkey } from "../verifier/signer.js";
import { CheckpointStore, type StoredCheckpoint, signNextCheckpointIn } from "./checkpoint-store.js";
import { RecordLog } from "./record-log.js";

/** The name the log's writer is registered under: where {@link SignCheckpoint} commands go. */
export const TLOG_WRITER = "tlog";

/** A write command of the log's writer: sign a checkpoint over the tree if it grew past the last signed one. */
export interface SignCheckpoint {
  readonly type: "sign_checkpoint";
}

/** What the log's writer returns for a transaction with a {@link SignCheckpoint} (undefined without one). */
export interface TlogWriteResult {
  /** The checkpoint signed and stored in this transaction, or null when the tree had not grown. */
  readonly signed?: StoredCheckpoint | null;
  /** Why signing was refused for good (INTEGRITY_FAILURE, SIGNER_FAILURE); the commit itself went through. */
  readonly signError?: WireError;
}

interface TlogWriterInit {
  storageKey: Uint8Array;
  /** The signing key (C2SP skey text) and the log's origin; without it the writer signs nothing. */
  signing?: { skey: string; origin: string };
}

/**
 * The main-thread spec (`storageKey`: the gateway's storage key, from the key file; `signing`: the signing
 * key and origin, with what to do with each transaction's result).
 */
export function tlogCommitWriter(
  storageKey: Buffer,
  signing?: { skey: string; origin: string; onResult: (result: TlogWriteResult | undefined) => void },
): CommitWriterSpec {
  const init: TlogWriterInit = { storageKey: new Uint8Array(storageKey) };
  if (signing) init.signing = { skey: signing.skey, origin: signing.origin };
  return {
    name: TLOG_WRITER,
    module: import.meta.url,
    init,
    ...(signing ? { onResult: (r: unknown) => signing.onResult(r as TlogWriteResult | undefined) } : {}),
  };
}

export function createCommitWriter(db: Db, init: unknown): ThreadCommitWriter {
  const { storageKey, signing } = init as TlogWriterInit;
  let nowMs = 0;
  const records = new RecordLog(db, Buffer.from(storageKey), { now: () => nowMs });
  const signer = signing && parseSkey(signing.skey);
  const checkpoints = new CheckpointStore(db);
  return {
    nextLeaf: () => records.tiles.size(),
    write(stored, events, ctx): TlogWriteResult | undefined {
      nowMs = ctx.nowMs;
      records.append(stored, events);
      if (ctx.commands.length === 0) return undefined;
      if (signer === undefined || signing === undefined)
        throw new TypeError("sign_checkpoint: this log writer was given no signing key");
      try {
        const signed = signNextCheckpointIn({
          db,
          tiles: records.tiles,
          store: checkpoints,
          origin: signing.origin,
          signers: [signer],
          nowMs: ctx.nowMs,
        });
        return { signed: signed ?? null };
      } catch (err) {
        // the readings of this commit stay committed; signing stops (the checkpointer halts on it)
        if (
          err instanceof GatewayError &&
          (err.code === "INTEGRITY_FAILURE" || err.code === "SIGNER_FAILURE")
        )
          return { signError: wireError(err) };
        throw err;
      }
    },
  };
}
