/** Messages between the main thread (commit-thread.ts) and the commit thread (commit-thread-worker.ts). */
import type { CommitBatch } from "../../drivers/ingest.js";
import type { IsolatedItem } from "./group-commit.js";

/**
 * The rejection reason stored in place of a batch whose rows storage refused for their content (a wire
 * string: only ever added to). Its detail is the storage engine's message, at most 200 characters.
 */
export const STORAGE_REFUSED = "storage_refused";
/**
 * Reason of a frame refused at commit because its device was removed or bound to another subject after the
 * frame was stamped: never stored under a binding that no longer holds, acknowledged so that the device
 * does not re-send it (a re-send would be stamped with the new subject).
 */
export const BINDING_CHANGED = "binding_changed";

/** workerData of the commit thread. */
export interface ThreadInit {
  dbPath: string;
  synchronous: "full" | "normal";
  busyTimeoutMs: number;
  /**
   * Re-check, inside each commit, that every reading's device is still bound to the subject it was stamped
   * with (the `devices` table); a frame whose binding no longer holds is refused in place
   * ({@link BINDING_CHANGED}). The gateway sets it; a bare commit thread (tests, tools) has no registry.
   */
  checkBindings?: boolean;
}

export type ToThread =
  | { type: "writer"; name: string; module: string; init: unknown }
  | { type: "commit"; id: number; batches: readonly CommitBatch[]; nowMs: number; prepared: unknown[] }
  | { type: "close" };

export type ToMain =
  | { type: "ready" }
  | { type: "fatal"; error: WireError }
  | {
      type: "done";
      id: number;
      duplicates: string[];
      /** Per transaction the commit took (one unless it was split to isolate an item): each writer's result. */
      results: unknown[][];
      /** Batches replaced by a durable `storage_refused` rejection (indexes into the commit's batches). */
      isolated: IsolatedItem[];
      /** Batches that failed on their own; the others are durable. */
      failed: { index: number; error: WireError }[];
    }
  | { type: "failed"; id: number; error: WireError; restart?: boolean }
  | { type: "writer-failed"; name: string; error: WireError }
  | { type: "closed" };

/** An error as it crosses threads: structured clone keeps neither `code` nor the cause's code. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  cause?: { message: string; code?: string };
}

export function wireError(err: unknown): WireError {
  const e = err as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown };
  const out: WireError = {
    name: typeof e?.name === "string" ? e.name : "Error",
    message: typeof e?.message === "string" ? e.message : String(err),
  };
  if (typeof e?.code === "string") out.code = e.code;
  if (e?.cause !== undefined) {
    const c = e.cause as { message?: unknown; code?: unknown };
    out.cause = { message: typeof c?.message === "string" ? c.message : String(e.cause) };
    if (typeof c?.code === "string") out.cause.code = c.code;
  }
  return out;
}

/** The Error the main thread sees: same name, message and `code` (e.g. SQLITE_BUSY, INTEGRITY_FAILURE). */
export function errorFromWire(w: WireError): Error & { code?: string } {
  const cause = w.cause ? Object.assign(new Error(w.cause.message), { code: w.cause.code }) : undefined;
  const err = new Error(w.message, cause ? { cause } : undefined) as Error & { code?: string };
  err.name = w.name;
  if (w.code !== undefined) err.code = w.code;
  return err;
}
