/**
 * The checkpointer service: every `intervalMs`, if the tree grew past the last signed checkpoint, it asks the
 * commit thread (the database's one writer) to sign a C2SP checkpoint: a `sign_checkpoint` write command to
 * the log's writer (tlog-commit-writer.ts), which runs `signNextCheckpoint` (consistency-checked
 * compare-and-swap) inside the next group commit, after that commit's log entries. A signed checkpoint is
 * announced to the listeners (e.g. the anchor publisher's `offer`) and logged, with its public note, only after
 * its commit.
 *
 * Failure policy (STYLE: fail hard on integrity): an INTEGRITY_FAILURE or SIGNER_FAILURE stops signing for good
 * (status `halted`, logged at error); ingest and alerts keep running. A commit that fails (storage) is retried
 * at the next interval; a lock held by another process is the commit path's to wait for (its one busy policy).
 */
import type { Clock } from "../../clock.js";
import type { WriteCommands } from "../../core/ports.js";
import type { Service } from "../../core/service.js";
import { GatewayError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { errorFromWire } from "../commit/commit-thread-protocol.js";
import { base64Encode } from "../verifier/base64.js";
import type { CheckpointStore, StoredCheckpoint } from "./checkpoint-store.js";
import type { TileStore } from "./tile-store.js";
import { type SignCheckpoint, TLOG_WRITER, type TlogWriteResult } from "./tlog-commit-writer.js";

/** Called after a checkpoint was durably stored. MUST NOT throw (a throw is logged and ignored). */
export type CheckpointListener = (cp: StoredCheckpoint) => void;

export interface CheckpointerOptions {
  /** The log's tiles and checkpoints, read on the main connection (whether the tree grew; status). */
  tiles: TileStore;
  store: CheckpointStore;
  /** Where the signing command goes (the commit thread). */
  writes: WriteCommands;
  clock: Clock;
  intervalMs: number;
  log: Logger;
}

export class Checkpointer implements Service {
  readonly name = "tlog";
  readonly #opts: CheckpointerOptions;
  readonly #listeners: CheckpointListener[] = [];
  #timer: unknown = null;
  #isRunning = false;
  #isSigning = false;
  #halted: string | null = null;
  #signed = 0;
  #lastError: string | null = null;

  constructor(opts: CheckpointerOptions) {
    this.#opts = opts;
  }

  addListener(fn: CheckpointListener): void {
    this.#listeners.push(fn);
  }

  async start(): Promise<void> {
    this.#isRunning = true;
    this.tick();
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#isRunning = false;
    if (this.#timer !== null) this.#opts.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    this.#timer = this.#opts.clock.setTimeout(() => {
      this.tick();
      this.#schedule();
    }, this.#opts.intervalMs);
  }

  /** Asks for a checkpoint when the tree grew past the last signed one and none is being signed. */
  tick(): void {
    if (this.#halted !== null || this.#isSigning || !this.#isRunning) return;
    try {
      if (this.#opts.tiles.size() <= (this.#opts.store.latest()?.size ?? 0)) return;
    } catch (err) {
      this.#fail(err);
      return;
    }
    this.#isSigning = true;
    const command: SignCheckpoint = { type: "sign_checkpoint" };
    this.#opts.writes.submit(
      TLOG_WRITER,
      command,
      (err) => {
        this.#isSigning = false;
        if (err) this.#fail(err);
      },
      { fullSync: true },
    );
  }

  /** What the log's writer did with a commit's `sign_checkpoint` (its `onResult`, after the commit). */
  onWriteResult(result: TlogWriteResult | undefined): void {
    if (result?.signError !== undefined) {
      this.#fail(errorFromWire(result.signError));
      return;
    }
    const cp = result?.signed;
    if (!cp) return;
    this.#lastError = null;
    this.#signed++;
    this.#opts.log.info({ size: cp.size, root: base64Encode(cp.root), note: cp.note }, "checkpoint signed");
    for (const l of this.#listeners) {
      try {
        l(cp);
      } catch (err) {
        this.#opts.log.error({ err }, "checkpoint listener failed");
      }
    }
  }

  #fail(err: unknown): void {
    this.#lastError = (err as Error).message;
    const code = (err as { code?: unknown }).code;
    if (
      (err instanceof GatewayError || err instanceof Error) &&
      (code === "INTEGRITY_FAILURE" || code === "SIGNER_FAILURE")
    ) {
      this.#halted = (err as Error).message;
      this.#opts.log.error({ err, code }, "tlog integrity failure: checkpoint signing halted");
    } else {
      this.#opts.log.warn({ err }, "checkpoint signing failed; retrying at the next interval");
    }
  }

  status(): Record<string, unknown> {
    const last = this.#opts.store.latest();
    return {
      tree_size: this.#opts.tiles.size(),
      checkpoint_size: last?.size ?? 0,
      checkpoint_signed_at: last ? new Date(last.signedAtMs).toISOString() : null,
      checkpoints_signed: this.#signed,
      halted: this.#halted,
      last_error: this.#lastError,
    };
  }
}
