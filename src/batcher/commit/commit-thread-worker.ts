/**
 * The commit thread's entry (a worker_threads Worker started by commit-thread.ts): owns the group commit's
 * database connection and runs each commit — readings, rejections, then every registered writer — in one
 * transaction, fsync included, off the main thread. Messages are handled strictly in order.
 *
 * One device's content never fails the others' (isolation, see {@link commitIsolating}):
 * - each batch's rows are inserted in a savepoint; a batch whose rows SQLite refuses for their content is
 *   rolled back alone and replaced, in the same transaction, by one `storage_refused` rejection, so its
 *   refusal is durable and the item is acknowledged like any refused payload;
 * - each writer writes in a savepoint; when a transaction fails for any other reason than a storage fault
 *   (a lock, a full disk, an I/O error …), an integrity failure or a writer that fails even with nothing to
 *   write, its batches are committed in halves, recursively, down to the batch that fails alone.
 * Every transaction reads the log's size itself (`nextLeaf`), so log positions stay consecutive across them.
 *
 * Protocol (main → thread): `writer` (load a writer module), `commit`, `close`.
 * (thread → main): `ready` once the database is open, `fatal` when it cannot be, `writer-failed` when a
 * writer cannot be loaded, `done` / `failed` per commit, `closed`.
 */

import { parentPort, workerData } from "node:worker_threads";
import type { AuditEvent } from "../../core/ports.js";
import { type Db, openDatabase } from "../../db.js";
import type { CommitBatch } from "../../drivers/ingest.js";
import { GatewayError } from "../../errors.js";
import { MIGRATIONS } from "../../migrations.js";
import type { Reading } from "../../reading.js";
import {
  BINDING_CHANGED,
  STORAGE_REFUSED,
  type ThreadInit,
  type ToMain,
  type ToThread,
  type WireError,
  wireError,
} from "./commit-thread-protocol.js";
import type { CommitContext, CreateCommitWriter, ThreadCommitWriter } from "./commit-writer.js";
import type { IsolatedItem } from "./group-commit.js";
import { ReadingStore, type RejectionRecord } from "./reading-store.js";
import { RejectionEvidence } from "./rejection-evidence.js";

/** Most characters of the storage engine's message kept as a `storage_refused` rejection's detail. */
const MAX_REFUSAL_DETAIL_CHARS = 200;

const port = parentPort!;
const init = workerData as ThreadInit;
const send = (m: ToMain) => port.postMessage(m);

const writers: { name: string; writer: ThreadCommitWriter }[] = [];
/** A writer that failed to load: every later commit fails with this (never commit without a writer). */
let broken: { name: string; error: unknown } | undefined;

let db: Db;
try {
  db = openDatabase(init.dbPath, MIGRATIONS, {
    synchronous: init.synchronous,
    busyTimeoutMs: init.busyTimeoutMs,
  });
} catch (err) {
  send({ type: "fatal", error: wireError(err) });
  port.close();
  throw err;
}
const store = new ReadingStore(db);
const evidence = new RejectionEvidence(db);
const bindingOf = init.checkBindings
  ? db.prepare<[string], string>("SELECT subject_id FROM devices WHERE id = ?").pluck()
  : undefined;

/** One batch of a transaction: `refusal` set when it is the rejection-only record standing for item `index`. */
interface Entry {
  index: number;
  batch: CommitBatch;
  refusal?: string;
}

/** What one committed transaction did. */
interface Pass {
  duplicates: string[];
  /** Each writer's result. */
  results: unknown[];
  /** Readings stored (duplicates left out). */
  storedCount: number;
  isolated: IsolatedItem[];
  failed: { index: number; error: WireError }[];
}

/** What a whole commit did, over every transaction it took. */
type Outcome = Omit<Pass, "results" | "storedCount"> & { results: unknown[][] };

// Nested inside `pass`, better-sqlite3 runs each of these in a SAVEPOINT: a throw rolls back only its rows.
const insertBatch = db.transaction((batch: CommitBatch, firstLeaf: number | null) => {
  const stored: Reading[] = [];
  const duplicates: string[] = [];
  let leaf = firstLeaf;
  for (const r of batch.readings) {
    if (store.insert(r, leaf)) {
      stored.push(r);
      if (leaf !== null) leaf++;
    } else duplicates.push(r.deviceId);
  }
  for (const j of batch.rejections) store.insertRejection(j);
  return { stored, duplicates };
});
const insertRefusal = db.transaction((r: RejectionRecord) => store.insertRejection(r));
const write = db.transaction(
  (w: ThreadCommitWriter, stored: readonly Reading[], events: readonly AuditEvent[], ctx: CommitContext) =>
    w.write(stored, events, ctx),
);

/** One transaction over `entries`, in order; a batch whose rows are refused for their content is isolated. */
const pass = db.transaction((entries: readonly Entry[], nowMs: number, prepared: unknown[]): Pass => {
  const out: Pass = { duplicates: [], results: [], storedCount: 0, isolated: [], failed: [] };
  const stored: Reading[] = [];
  const events: AuditEvent[] = [];
  const commands: { writer: string; command: unknown }[] = [];
  const numbering = writers.find((w) => w.writer.nextLeaf !== undefined)?.writer;
  // with the log attached, stored readings take consecutive log positions from its current size
  let leaf = numbering?.nextLeaf?.() ?? null;
  let refusedFrames = 0;
  let storedFrames = 0;
  let firstRefusal: unknown;
  // read inside this transaction: a CLI's re-binding commits either before (the frame is refused) or after
  const bindings = new Map<string, string | undefined>();
  for (const { index, batch, refusal } of entries) {
    if (bindingOf !== undefined && refusal === undefined && !isStillBound(batch, bindings)) {
      refuseUnbound(index, batch, nowMs, out);
      continue;
    }
    let rows: ReturnType<typeof insertBatch>;
    try {
      rows = insertBatch(batch, leaf);
    } catch (err) {
      if (!isContentRefusal(err)) throw err;
      if (batch.readings.length > 0) {
        refusedFrames++;
        firstRefusal ??= err;
      }
      refuseInPlace(index, batch, err, refusal !== undefined, nowMs, out);
      continue;
    }
    if (rows.stored.length > 0 || rows.duplicates.length > 0) storedFrames++;
    for (const r of rows.stored) stored.push(r);
    for (const d of rows.duplicates) out.duplicates.push(d);
    if (leaf !== null) leaf += rows.stored.length;
    if (batch.events) for (const e of batch.events) events.push(e);
    for (const c of batch.commands ?? []) {
      // a command no loaded writer applies would be lost silently: the batch fails alone instead
      if (!writers.some((w) => w.name === c.writer))
        throw new TypeError(`no commit writer named ${c.writer}`);
      commands.push(c);
    }
    if (refusal !== undefined) out.isolated.push({ index, reason: STORAGE_REFUSED, detail: refusal });
  }
  // Several frames refused and none stored is not one device's content but the store refusing everyone
  // (a schema or trigger fault): acknowledging their refusals would lose every reading with a PUBACK, so
  // the whole commit fails instead (unacknowledged, the devices keep their data).
  if (refusedFrames >= 2 && storedFrames === 0) {
    throw new GatewayError("STORE_UNAVAILABLE", "the store refused every frame of the commit", {
      cause: firstRefusal,
    });
  }
  // with the log attached, the rejection evidence this transaction added and evicted, and a due prune, are
  // logged in it too: no authorised deletion without its event, nothing sealed it did not add
  // (rejection-evidence.ts); without the log, its journal is emptied and the evidence stays unsealed
  if (numbering !== undefined) for (const e of evidence.events(nowMs)) events.push(e);
  else evidence.discard();
  out.storedCount = stored.length;
  out.results = writers.map(({ name, writer }, i) =>
    write(writer, stored, events, {
      nowMs,
      prepared: prepared[i],
      commands: commands.filter((c) => c.writer === name).map((c) => c.command),
    }),
  );
  return out;
});

/** Whether every reading of `batch` names the subject its device is bound to now (`cache`: per transaction). */
function isStillBound(batch: CommitBatch, cache: Map<string, string | undefined>): boolean {
  for (const r of batch.readings) {
    let subject = cache.get(r.deviceId);
    if (subject === undefined && !cache.has(r.deviceId)) {
      subject = bindingOf!.get(r.deviceId);
      cache.set(r.deviceId, subject);
    }
    if (subject !== r.subjectId) return false;
  }
  return true;
}

/**
 * A frame stamped with a binding that no longer holds: its readings are not stored, and one
 * {@link BINDING_CHANGED} rejection counting them is, in place of the frame (the subject ids stay out of
 * the detail: rejections are kept in plaintext).
 */
function refuseUnbound(index: number, batch: CommitBatch, nowMs: number, out: Pass): void {
  const detail = "the device was removed or bound to another subject after this frame was stamped";
  const record = refusalOf(batch, detail, nowMs).rejections[0]!;
  try {
    insertRefusal({ ...record, reason: BINDING_CHANGED });
  } catch (refused) {
    if (!isContentRefusal(refused)) throw refused;
    out.failed.push({ index, error: wireError(refused) });
    return;
  }
  out.isolated.push({ index, reason: BINDING_CHANGED, detail });
}

/**
 * A batch whose rows SQLite refused (rolled back by its savepoint): a device frame is replaced by its
 * `storage_refused` rejection, in its own savepoint; an audit-event batch, or a frame whose refusal cannot
 * be stored either (`isRefusal`: the batch already is that refusal), fails alone.
 */
function refuseInPlace(
  index: number,
  batch: CommitBatch,
  err: unknown,
  isRefusal: boolean,
  nowMs: number,
  out: Pass,
): void {
  if (isRefusal || hasEvents(batch)) {
    out.failed.push({ index, error: wireError(err) });
    return;
  }
  const detail = refusalDetail(err);
  try {
    insertRefusal(refusalOf(batch, detail, nowMs).rejections[0]!);
  } catch (refused) {
    if (!isContentRefusal(refused)) throw refused;
    out.failed.push({ index, error: wireError(refused) });
    return;
  }
  out.isolated.push({ index, reason: STORAGE_REFUSED, detail });
}

/**
 * Commits `batches`, isolating what fails on its own content. A storage fault or an integrity failure
 * fails the whole commit (thrown: a lock is retried by the group commit), and so does a failure that
 * needs no content at all (the writers fail on an empty transaction). Any other failure splits the
 * commit (see {@link bisect}).
 */
function commitIsolating(batches: readonly CommitBatch[], nowMs: number, prepared: unknown[]): Outcome {
  const entries = batches.map((batch, index) => ({ index, batch }));
  let whole: Pass;
  try {
    whole = pass(entries, nowMs, prepared);
  } catch (err) {
    if (!isIsolatable(err)) throw err;
    const empty = emptyPassError(nowMs, prepared);
    if (empty !== undefined) throw isIsolatable(empty) ? err : empty;
    return bisect(entries, err, nowMs, prepared);
  }
  const { results, storedCount: _, ...rest } = whole;
  return { ...rest, results: [results] };
}

/** Thrown to roll back {@link emptyPass}. */
const ROLL_BACK = new Error("rolled back on purpose");
/** A transaction with no batch, always rolled back: whether the writers fail without any content. */
const emptyPass = db.transaction((nowMs: number, prepared: unknown[]) => {
  pass([], nowMs, prepared);
  throw ROLL_BACK;
});

/** Why a transaction with no batch fails (undefined when it does not): then no batch is to blame. */
function emptyPassError(nowMs: number, prepared: unknown[]): unknown {
  try {
    emptyPass(nowMs, prepared);
  } catch (err) {
    return err === ROLL_BACK ? undefined : err;
  }
  return undefined;
}

/**
 * Commits `entries`, whose single transaction failed with `error`, in halves, recursively, down to the
 * batches that fail alone. A storage fault or an integrity failure after a part committed fails the
 * batches not yet committed. A batch that fails alone is replaced by its `storage_refused` rejection only
 * when other batches' readings were stored without it: a failure that every batch with readings meets (a
 * writer that cannot log any reading) is the store's, not the content's, and never turns readings into
 * refusals; those batches fail instead, and if nothing committed, the commit fails as a whole.
 */
function bisect(entries: readonly Entry[], error: unknown, nowMs: number, prepared: unknown[]): Outcome {
  const out: Outcome = { duplicates: [], results: [], isolated: [], failed: [] };
  let isAnyCommitted = false;
  let isReadingStored = false;
  let fault: unknown;
  const alone: { entry: Entry; error: unknown }[] = [];
  const failAll = (failing: readonly Entry[], err: unknown) => {
    for (const e of failing) out.failed.push({ index: e.index, error: wireError(err) });
  };
  const merge = (p: Pass) => {
    isAnyCommitted = true;
    if (p.storedCount > 0) isReadingStored = true;
    for (const d of p.duplicates) out.duplicates.push(d);
    out.results.push(p.results);
    out.isolated.push(...p.isolated);
    out.failed.push(...p.failed);
  };
  const split = (part: readonly Entry[], err: unknown): void => {
    if (part.length === 1) {
      alone.push({ entry: part[0]!, error: err });
      return;
    }
    const half = Math.ceil(part.length / 2);
    run(part.slice(0, half));
    run(part.slice(half));
  };
  const run = (part: readonly Entry[]): void => {
    if (fault !== undefined) {
      failAll(part, fault);
      return;
    }
    try {
      merge(pass(part, nowMs, prepared));
    } catch (err) {
      if (isIsolatable(err)) {
        split(part, err);
        return;
      }
      if (!isAnyCommitted) throw err;
      fault = err;
      failAll(part, err);
    }
  };
  split(entries, error);
  // nothing committed: the commit failed as a whole, as it would have without isolation
  if (!isAnyCommitted) throw error;
  const refusals: Entry[] = [];
  for (const { entry, error: err } of alone) {
    if (fault !== undefined || !isReadingStored || hasEvents(entry.batch)) failAll([entry], fault ?? err);
    else {
      const detail = refusalDetail(err);
      refusals.push({ index: entry.index, batch: refusalOf(entry.batch, detail, nowMs), refusal: detail });
    }
  }
  if (refusals.length > 0) {
    try {
      merge(pass(refusals, nowMs, prepared));
    } catch (err) {
      failAll(refusals, err);
    }
  }
  return out;
}

/** The rejection-only batch standing for a device frame storage refused: one record counting all it carried. */
function refusalOf(batch: CommitBatch, detail: string, nowMs: number): CommitBatch {
  const first = batch.readings[0] ?? batch.rejections[0];
  let count = batch.readings.length;
  for (const j of batch.rejections) count += Number.isSafeInteger(j.count) && j.count > 0 ? j.count : 1;
  const rejection: RejectionRecord = {
    deviceId: typeof first?.deviceId === "string" ? first.deviceId : null,
    // the refused content may be the time itself: fall back to the commit's
    receivedAtMs: Number.isSafeInteger(first?.receivedAtMs) ? first!.receivedAtMs : nowMs,
    reason: STORAGE_REFUSED,
    detail,
    payload: null,
    count: Math.min(Math.max(1, count), Number.MAX_SAFE_INTEGER),
  };
  return { readings: [], rejections: [rejection] };
}

function hasEvents(batch: CommitBatch): boolean {
  return (batch.events?.length ?? 0) > 0;
}

/** The storage engine's (or writer's) message, cut to {@link MAX_REFUSAL_DETAIL_CHARS}, never inside a surrogate pair. */
function refusalDetail(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  if (text.length <= MAX_REFUSAL_DETAIL_CHARS) return text;
  const last = text.charCodeAt(MAX_REFUSAL_DETAIL_CHARS - 1);
  return text.slice(
    0,
    last >= 0xd800 && last <= 0xdbff ? MAX_REFUSAL_DETAIL_CHARS - 1 : MAX_REFUSAL_DETAIL_CHARS,
  );
}

/**
 * A fault of the store rather than of the content (lock, full disk, I/O, memory, read-only, unopenable or
 * corrupt file): retrying smaller parts would not help, and content is never blamed for it.
 */
function isStorageFault(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return (
    typeof code === "string" &&
    /^SQLITE_(BUSY|LOCKED|FULL|IOERR|NOMEM|READONLY|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)(_|$)/.test(code)
  );
}

/** Worth splitting the transaction for: neither a storage fault nor an integrity failure (which fail hard). */
function isIsolatable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return !isStorageFault(err) && code !== "INTEGRITY_FAILURE" && code !== "STORE_UNAVAILABLE";
}

/**
 * SQLite refusing a row for its values (a STRICT type, NOT NULL, CHECK, a size limit), or better-sqlite3
 * refusing to bind one (TypeError, RangeError): the batch's content, nothing else, is at fault.
 */
function isContentRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string") return /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)(_|$)/.test(code);
  return err instanceof TypeError || err instanceof RangeError;
}

async function handle(m: ToThread): Promise<void> {
  switch (m.type) {
    case "writer": {
      try {
        const mod = (await import(m.module)) as { createCommitWriter?: CreateCommitWriter };
        if (typeof mod.createCommitWriter !== "function")
          throw new TypeError(`${m.module} does not export createCommitWriter`);
        writers.push({ name: m.name, writer: await mod.createCommitWriter(db, m.init) });
      } catch (error) {
        broken ??= { name: m.name, error };
        send({ type: "writer-failed", name: m.name, error: wireError(error) });
      }
      return;
    }
    case "commit": {
      if (broken) {
        const cause = wireError(broken.error);
        send({
          type: "failed",
          id: m.id,
          error: { ...cause, message: `commit writer ${broken.name} failed to load: ${cause.message}` },
          // the main thread ends this thread: the next commit starts a new one, which loads every writer again
          restart: true,
        });
        return;
      }
      let outcome: Outcome;
      last = { nowMs: m.nowMs, prepared: m.prepared };
      // a command published once committed (a signed checkpoint) must survive a power cut: that commit
      // fsyncs the WAL, which makes every earlier commit durable too
      const isFullSync = m.batches.some((b) => b.commands?.some((c) => c.fullSync === true));
      const previous = isFullSync ? (db.pragma("synchronous", { simple: true }) as number) : undefined;
      if (isFullSync) db.pragma("synchronous = FULL");
      try {
        outcome = commitIsolating(m.batches, m.nowMs, m.prepared);
      } catch (err) {
        send({ type: "failed", id: m.id, error: wireError(err) });
        return;
      } finally {
        if (previous !== undefined) db.pragma(`synchronous = ${previous}`);
      }
      // committed: a failure to report it must not be reported as a failed commit
      try {
        send({ type: "done", id: m.id, ...outcome });
      } catch {
        send({ type: "done", id: m.id, ...outcome, results: [] }); // results not cloneable
      }
      return;
    }
    case "close": {
      sealBeforeClose();
      db.close();
      send({ type: "closed" });
      port.close();
      return;
    }
  }
}

/** The last commit's time and writers' prepared data: what the sealing transaction at close runs with. */
let last: { nowMs: number; prepared: unknown[] } | undefined;

/**
 * Before the connection closes, the count increases still waiting in the rejection journal are sealed in one
 * last transaction, marked as the close (rejection-evidence.ts), so a clean stop leaves none unsealed. When
 * that fails they stay unsealed, and the audit names them.
 */
function sealBeforeClose(): void {
  const isLogged = writers.some((w) => w.writer.nextLeaf !== undefined);
  if (last === undefined || broken !== undefined || !isLogged || !evidence.sealForClose()) return;
  try {
    pass([], last.nowMs, last.prepared);
  } catch {
    // nothing to report to: the main thread is closing; the audit names what stays unsealed
  }
}

let queue = Promise.resolve();
port.on("message", (m: ToThread) => {
  queue = queue.then(() => handle(m));
});
send({ type: "ready" });
