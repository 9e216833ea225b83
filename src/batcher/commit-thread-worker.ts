/**
 * The commit thread's entry (a worker_threads Worker started by commit-thread.ts): owns the group commit's
 * database connection and runs each commit — readings, rejections, then every registered writer — in one
 * transaction, fsync included, off the main thread. Messages are handled strictly in order.
 *
 * Protocol (main → thread): `writer` (load a writer module), `commit`, `close`.
 * (thread → main): `ready` once the database is open, `fatal` when it cannot be, `writer-failed` when a
 * writer cannot be loaded, `done` / `failed` per commit, `closed`.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openDatabase } from "../db.js";
import type { AuditEvent, CommitBatch } from "../drivers/ingest.js";
import { MIGRATIONS } from "../migrations.js";
import type { Reading } from "../reading.js";
import { type ThreadInit, type ToMain, type ToThread, wireError } from "./commit-thread-protocol.js";
import type { CreateCommitWriter, ThreadCommitWriter } from "./commit-writer.js";
import { ReadingStore } from "./reading-store.js";

const port = parentPort!;
const init = workerData as ThreadInit;
const send = (m: ToMain) => port.postMessage(m);

const writers: { name: string; writer: ThreadCommitWriter }[] = [];
/** A writer that failed to load: every later commit fails with this (never commit without a writer). */
let broken: { name: string; error: unknown } | undefined;

let db: ReturnType<typeof openDatabase>;
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

const commit = db.transaction((batches: readonly CommitBatch[], nowMs: number, prepared: unknown[]) => {
  const stored: Reading[] = [];
  const events: AuditEvent[] = [];
  const duplicates: string[] = [];
  const numbering = writers.find((w) => w.writer.nextLeaf !== undefined)?.writer;
  // with the log attached, stored readings take consecutive log positions from its current size
  let leaf = numbering?.nextLeaf?.() ?? null;
  for (const b of batches) {
    for (const r of b.readings) {
      if (store.insert(r, leaf)) {
        stored.push(r);
        if (leaf !== null) leaf++;
      } else duplicates.push(r.deviceId);
    }
    for (const j of b.rejections) store.insertRejection(j);
    if (b.events) events.push(...b.events);
  }
  const results = writers.map(({ writer }, i) =>
    writer.write(stored, events, { nowMs, prepared: prepared[i] }),
  );
  return { duplicates, results };
});

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
      let outcome: ReturnType<typeof commit>;
      try {
        outcome = commit(m.batches, m.nowMs, m.prepared);
      } catch (err) {
        send({ type: "failed", id: m.id, error: wireError(err) });
        return;
      }
      // committed: a failure to report it must not be reported as a failed commit
      try {
        send({ type: "done", id: m.id, duplicates: outcome.duplicates, results: outcome.results });
      } catch {
        send({ type: "done", id: m.id, duplicates: outcome.duplicates, results: [] }); // results not cloneable
      }
      return;
    }
    case "close": {
      db.close();
      send({ type: "closed" });
      port.close();
      return;
    }
  }
}

let queue = Promise.resolve();
port.on("message", (m: ToThread) => {
  queue = queue.then(() => handle(m));
});
send({ type: "ready" });
