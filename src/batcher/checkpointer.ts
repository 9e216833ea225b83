/**
 * The checkpointer service: every `intervalMs`, if the tree grew, signs a C2SP checkpoint through
 * `signNextCheckpoint` (consistency-checked compare-and-swap). A signed checkpoint is announced to the
 * listeners (e.g. the anchor publisher's `offer`) and logged, with its public note, only after commit.
 *
 * Failure policy (STYLE: fail hard on integrity): an INTEGRITY_FAILURE or SIGNER_FAILURE stops signing
 * for good (status `halted`, logged at error); ingest and alerts keep running. A storage error is retried
 * at the next tick; a lock held by the commit thread (SQLITE_BUSY: the gateway's group commits run on a
 * connection of their own) is retried after {@link BUSY_RETRY_MS}, without a warning for the first ones.
 */

import type { Database } from "better-sqlite3";
import type { Clock } from "../clock.js";
import type { Service } from "../core/service.js";
import { isSqliteBusy } from "../db.js";
import { GatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import { base64Encode } from "./base64.js";
import { type CheckpointStore, type StoredCheckpoint, signNextCheckpoint } from "./checkpoint-store.js";
import type { Signer } from "./signer.js";
import type { TileStore } from "./tile-store.js";

/** Delay before signing again when the database was locked by another connection. */
export const BUSY_RETRY_MS = 50;
/** Locked attempts in a row before the checkpointer logs a warning and waits for the next interval. */
const BUSY_RETRIES = 20;

/** Called after a checkpoint was durably stored. MUST NOT throw (a throw is logged and ignored). */
export type CheckpointListener = (cp: StoredCheckpoint) => void;

export interface CheckpointerOptions {
  db: Database;
  tiles: TileStore;
  store: CheckpointStore;
  origin: string;
  signer: Signer;
  clock: Clock;
  intervalMs: number;
  log: Logger;
}

export class Checkpointer implements Service {
  readonly name = "tlog";
  readonly #o: CheckpointerOptions;
  readonly #listeners: CheckpointListener[] = [];
  #timer: unknown = null;
  #busyTimer: unknown = null;
  #busyAttempts = 0;
  #running = false;
  #halted: string | null = null;
  #signed = 0;
  #lastError: string | null = null;

  constructor(opts: CheckpointerOptions) {
    this.#o = opts;
  }

  addListener(fn: CheckpointListener): void {
    this.#listeners.push(fn);
  }

  async start(): Promise<void> {
    this.#running = true;
    this.tick();
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    if (this.#busyTimer !== null) this.#o.clock.clearTimeout(this.#busyTimer);
    this.#timer = null;
    this.#busyTimer = null;
  }

  #schedule(): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      this.tick();
      this.#schedule();
    }, this.#o.intervalMs);
  }

  /** One attempt to sign; returns the new checkpoint if one was signed. */
  tick(): StoredCheckpoint | undefined {
    if (this.#halted !== null) return undefined;
    const { log } = this.#o;
    let cp: StoredCheckpoint | undefined;
    try {
      cp = signNextCheckpoint({ ...this.#o, signers: [this.#o.signer], nowMs: this.#o.clock.now() });
    } catch (err) {
      if (isSqliteBusy(err) && this.#running && this.#busyAttempts < BUSY_RETRIES) {
        this.#busyAttempts++;
        this.#busyTimer ??= this.#o.clock.setTimeout(() => {
          this.#busyTimer = null;
          this.tick();
        }, BUSY_RETRY_MS);
        return undefined;
      }
      this.#busyAttempts = 0;
      this.#lastError = (err as Error).message;
      if (
        err instanceof GatewayError &&
        (err.code === "INTEGRITY_FAILURE" || err.code === "SIGNER_FAILURE")
      ) {
        this.#halted = err.message;
        log.error({ err, code: err.code }, "tlog integrity failure: checkpoint signing halted");
      } else {
        log.warn({ err }, "checkpoint signing failed; retrying at the next interval");
      }
      return undefined;
    }
    this.#busyAttempts = 0;
    if (cp === undefined) return undefined;
    this.#signed++;
    log.info({ size: cp.size, root: base64Encode(cp.root), note: cp.note }, "checkpoint signed");
    for (const l of this.#listeners) {
      try {
        l(cp);
      } catch (err) {
        log.error({ err }, "checkpoint listener failed");
      }
    }
    return cp;
  }

  status(): Record<string, unknown> {
    const last = this.#o.store.latest();
    return {
      tree_size: this.#o.tiles.size(),
      checkpoint_size: last?.size ?? 0,
      checkpoint_signed_at: last ? new Date(last.signedAtMs).toISOString() : null,
      checkpoints_signed: this.#signed,
      halted: this.#halted,
      last_error: this.#lastError,
    };
  }
}
