import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import {
  type CommitInfo,
  type CommitOutcome,
  type GroupCommitOptions,
  GroupCommitter,
} from "../src/batcher/commit/group-commit.js";
import { ManualClock } from "../src/clock.js";
import { GatewayError } from "../src/errors.js";
import { tempDir } from "./helpers/gateway.js";

/** A synchronous group commit: `write` runs in one transaction on `db`. */
function committer<T>(
  opts: Omit<GroupCommitOptions<T>, "commit"> & {
    db: Database.Database;
    write: (items: readonly T[]) => unknown;
  },
): GroupCommitter<T> {
  const { db, write, ...rest } = opts;
  return new GroupCommitter<T>({
    ...rest,
    commit: db.transaction((items: readonly T[]) => void write(items)),
  });
}

describe("group commit", () => {
  const dir = tempDir("vitalog-gc-");
  after(() => rmSync(dir, { recursive: true, force: true }));
  const open = (name: string) => {
    const db = new Database(join(dir, name));
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE t (v INTEGER NOT NULL) STRICT");
    return db;
  };

  it("commits after maxDelayMs and only then calls done", () => {
    const db = open("delay.db");
    const clock = new ManualClock();
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const gc = committer<number>({
      db,
      clock,
      maxReadings: 100,
      maxDelayMs: 5,
      write: (xs) => {
        for (const x of xs) insert.run(x);
      },
    });
    const done: Array<Error | undefined> = [];
    gc.submit({ payload: 1, weight: 1, done: (e) => done.push(e) });
    gc.submit({ payload: 2, weight: 1, done: (e) => done.push(e) });
    clock.advance(4);
    assert.equal(done.length, 0, "not before the delay");
    assert.equal((db.prepare("SELECT COUNT(*) n FROM t").get() as { n: number }).n, 0);
    clock.advance(1);
    assert.deepEqual(done, [undefined, undefined]);
    assert.equal((db.prepare("SELECT COUNT(*) n FROM t").get() as { n: number }).n, 2);
    db.close();
  });

  it("commits when maxReadings is reached without waiting for the timer", async () => {
    const db = open("count.db");
    const clock = new ManualClock();
    const batches: number[] = [];
    const gc = committer<number>({
      db,
      clock,
      maxReadings: 3,
      maxDelayMs: 1000,
      write: (xs) => batches.push(xs.length),
    });
    let acked = 0;
    for (let i = 0; i < 3; i++) gc.submit({ payload: i, weight: 1, done: () => acked++ });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(batches, [3]);
    assert.equal(acked, 3);
    db.close();
  });

  it("fails every item of a failed transaction and rolls all of it back", () => {
    const db = open("fail.db");
    const clock = new ManualClock();
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const gc = committer<number | null>({
      db,
      clock,
      maxReadings: 100,
      maxDelayMs: 1,
      write: (xs) => {
        for (const x of xs) insert.run(x);
      },
    });
    const errors: Array<Error | undefined> = [];
    gc.submit({ payload: 1, weight: 1, done: (e) => errors.push(e) });
    gc.submit({ payload: null, weight: 1, done: (e) => errors.push(e) }); // NOT NULL violation
    clock.advance(1);
    assert.equal(errors.length, 2);
    assert.ok(errors.every((e) => e instanceof GatewayError && e.code === "STORE_UNAVAILABLE"));
    assert.equal(
      (db.prepare("SELECT COUNT(*) n FROM t").get() as { n: number }).n,
      0,
      "nothing half-written",
    );
    db.close();
  });

  it("flushes on close and refuses later items", async () => {
    const db = open("close.db");
    const gc = committer<number>({
      db,
      clock: new ManualClock(),
      maxReadings: 100,
      maxDelayMs: 1000,
      write: () => {},
    });
    let flushed = false;
    gc.submit({
      payload: 1,
      weight: 1,
      done: (e) => {
        flushed = e === undefined;
      },
    });
    await gc.close();
    assert.ok(flushed);
    let refused: Error | undefined;
    gc.submit({
      payload: 2,
      weight: 1,
      done: (e) => {
        refused = e;
      },
    });
    assert.ok(refused instanceof GatewayError && refused.code === "STORE_CLOSED");
    db.close();
  });

  it("keeps a batch that meets another connection's lock and commits it once the lock is gone", () => {
    const db = open("busy.db");
    db.pragma("busy_timeout = 0");
    const other = new Database(join(dir, "busy.db"));
    const clock = new ManualClock();
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const gc = committer<number>({
      db,
      clock,
      maxReadings: 100,
      maxDelayMs: 1,
      busyRetryMs: 10,
      busyGiveUpMs: 1000,
      write: (xs) => {
        for (const x of xs) insert.run(x);
      },
    });
    const done: Array<Error | undefined> = [];
    other.exec("BEGIN IMMEDIATE");
    gc.submit({ payload: 7, weight: 1, done: (e) => done.push(e) });
    clock.advance(1);
    clock.advance(50);
    assert.equal(done.length, 0, "not acknowledged while locked, and not failed either");
    other.exec("COMMIT");
    clock.advance(10);
    assert.equal(done.length, 1);
    assert.equal(done[0], undefined);
    assert.equal((db.prepare("SELECT COUNT(*) n FROM t").get() as { n: number }).n, 1);
    other.exec("BEGIN IMMEDIATE");
    gc.submit({ payload: 8, weight: 1, done: (e) => done.push(e) });
    clock.advance(1200);
    assert.equal(done.length, 2);
    assert.ok(
      done[1] instanceof GatewayError && done[1].code === "STORE_UNAVAILABLE",
      "gives up after busyGiveUpMs",
    );
    other.exec("ROLLBACK");
    other.close();
    db.close();
  });

  it("with maxDelayMs 0 commits everything submitted in one turn of the event loop together", async () => {
    const db = open("immediate.db");
    const batches: number[] = [];
    const gc = committer<number>({
      db,
      clock: new ManualClock(),
      maxReadings: 1000,
      maxDelayMs: 0,
      write: (xs) => batches.push(xs.length),
    });
    for (let i = 0; i < 5; i++) gc.submit({ payload: i, weight: 1, done: () => {} });
    assert.deepEqual(batches, [], "not synchronously");
    await new Promise((r) => setImmediate(r));
    gc.submit({ payload: 9, weight: 1, done: () => {} });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(batches, [5, 1]);
    db.close();
  });

  it("does not hammer a locked database: while a batch waits for its retry, new items wait with it", async () => {
    const db = open("busy-burst.db");
    db.pragma("busy_timeout = 0");
    const other = new Database(join(dir, "busy-burst.db"));
    const clock = new ManualClock();
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    let attempts = 0;
    const gc = committer<number>({
      db,
      clock,
      maxReadings: 3,
      maxDelayMs: 1,
      busyRetryMs: 10,
      write: (xs) => {
        attempts++;
        for (const x of xs) insert.run(x);
      },
    });
    let acked = 0;
    other.exec("BEGIN IMMEDIATE");
    gc.submit({ payload: 1, weight: 1, done: () => acked++ });
    clock.advance(1);
    assert.equal(attempts, 1);
    for (let i = 0; i < 6; i++) gc.submit({ payload: i, weight: 1, done: () => acked++ });
    await new Promise((r) => setImmediate(r));
    assert.equal(attempts, 1, "a full batch does not trigger an immediate retry against the lock");
    other.exec("COMMIT");
    clock.advance(10);
    assert.equal(attempts, 2, "one retry commits everything");
    assert.equal(acked, 7);
    assert.equal((db.prepare("SELECT COUNT(*) n FROM t").get() as { n: number }).n, 7);
    other.close();
    db.close();
  });

  describe("with an asynchronous commit (the commit thread)", () => {
    /** A group commit whose (asynchronous) commits the test settles by hand. */
    function manualCommits(clock = new ManualClock()) {
      const calls: {
        items: readonly number[];
        resolve: (outcome?: CommitOutcome) => void;
        reject: (e: unknown) => void;
      }[] = [];
      const infos: CommitInfo[] = [];
      const commit = (items: readonly number[]) =>
        new Promise<CommitOutcome | undefined>((resolve, reject) => calls.push({ items, resolve, reject }));
      const gc = new GroupCommitter<number>({
        clock,
        maxReadings: 100,
        maxDelayMs: 0,
        busyRetryMs: 10,
        commit,
        onCommit: (info) => infos.push(info),
      });
      return { calls, gc, infos };
    }
    const tick = () => new Promise((r) => setImmediate(r));

    it("runs one commit at a time and sends what arrived meanwhile as soon as it ends", async () => {
      const { calls, gc } = manualCommits();
      const done: number[] = [];
      gc.submit({ payload: 1, weight: 1, done: () => done.push(1) });
      gc.submit({ payload: 2, weight: 1, done: () => done.push(2) });
      await tick();
      assert.deepEqual(
        calls.map((c) => c.items),
        [[1, 2]],
      );
      gc.submit({ payload: 3, weight: 1, done: () => done.push(3) });
      gc.submit({ payload: 4, weight: 1, done: () => done.push(4) });
      await tick();
      assert.equal(calls.length, 1, "no second commit while one runs");
      assert.deepEqual(done, [], "nothing acknowledged before its commit ends");
      calls[0]!.resolve();
      await tick();
      assert.deepEqual(done, [1, 2]);
      assert.deepEqual(
        calls.map((c) => c.items),
        [
          [1, 2],
          [3, 4],
        ],
      );
      calls[1]!.resolve();
      await tick();
      assert.deepEqual(done, [1, 2, 3, 4]);
    });

    it("fails every item of a rejected commit and retries one that met a lock", async () => {
      const clock = new ManualClock();
      const { calls, gc } = manualCommits(clock);
      const errors: Array<Error | undefined> = [];
      gc.submit({ payload: 1, weight: 1, done: (e) => errors.push(e) });
      gc.submit({ payload: 2, weight: 1, done: (e) => errors.push(e) });
      await tick();
      calls[0]!.reject(new Error("disk I/O error"));
      await tick();
      assert.equal(errors.length, 2);
      for (const e of errors) assert.ok(e instanceof GatewayError && e.code === "STORE_UNAVAILABLE");
      gc.submit({ payload: 3, weight: 1, done: (e) => errors.push(e) });
      await tick();
      calls[1]!.reject(Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" }));
      await tick();
      assert.equal(errors.length, 2, "a locked commit is neither acknowledged nor failed");
      assert.equal(calls.length, 2, "and not retried before busyRetryMs");
      clock.advance(10);
      assert.deepEqual(calls[2]!.items, [3]);
      calls[2]!.resolve();
      await tick();
      assert.deepEqual(errors.slice(2), [undefined]);
    });

    it("fails only the items a commit names as failed, and completes an isolated one without error", async () => {
      const { calls, gc, infos } = manualCommits();
      const done: [number, Error | undefined][] = [];
      for (const n of [1, 2, 3]) gc.submit({ payload: n, weight: 1, done: (e) => done.push([n, e]) });
      await tick();
      calls[0]!.resolve({
        failed: new Map([[2, new Error("writer refused it")]]),
        isolated: [{ index: 0, reason: "storage_refused", detail: "cannot store REAL value" }],
      });
      await tick();
      assert.deepEqual(
        done.map(([n, e]) => [n, e === undefined]),
        [
          [1, true],
          [2, true],
          [3, false],
        ],
      );
      const err = done[2]![1];
      assert.ok(err instanceof GatewayError && err.code === "STORE_UNAVAILABLE");
      assert.match(String((err.cause as Error).message), /writer refused it/);
      assert.deepEqual(
        infos.map(({ items, isolated, failed, error }) => ({ items, isolated, failed, error })),
        [{ items: 3, isolated: 1, failed: 1, error: undefined }],
      );
    });

    it("retries after busyRetryMs an item that met a lock once the others had committed", async () => {
      const clock = new ManualClock();
      const { calls, gc, infos } = manualCommits(clock);
      const done: [number, Error | undefined][] = [];
      for (const n of [1, 2]) gc.submit({ payload: n, weight: 1, done: (e) => done.push([n, e]) });
      await tick();
      const locked = Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
      calls[0]!.resolve({ failed: new Map([[1, locked]]) });
      await tick();
      assert.deepEqual(done, [[1, undefined]], "the locked item is neither acknowledged nor failed");
      assert.equal(calls.length, 1, "and not retried before busyRetryMs");
      clock.advance(10);
      assert.deepEqual(calls[1]!.items, [2]);
      calls[1]!.resolve();
      await tick();
      assert.deepEqual(done, [
        [1, undefined],
        [2, undefined],
      ]);
      assert.deepEqual(
        infos.map(({ items, failed }) => ({ items, failed })),
        [
          { items: 2, failed: 0 },
          { items: 1, failed: 0 },
        ],
      );
    });

    it("completes the items of a commit whose observer throws", async () => {
      const observed = new GroupCommitter<number>({
        clock: new ManualClock(),
        maxReadings: 100,
        maxDelayMs: 0,
        commit: () => new Promise<void>((resolve) => setImmediate(resolve)),
        onCommit: () => {
          throw new Error("metrics broke");
        },
      });
      const done: Array<Error | undefined> = [];
      observed.submit({ payload: 1, weight: 1, done: (e) => done.push(e) });
      await tick();
      await tick();
      assert.deepEqual(done, [undefined]);
      await observed.close();
    });

    it("close() resolves only once the running commit and everything pending are done", async () => {
      const { calls, gc } = manualCommits();
      const done: number[] = [];
      gc.submit({ payload: 1, weight: 1, done: () => done.push(1) });
      await tick();
      gc.submit({ payload: 2, weight: 1, done: () => done.push(2) });
      let closed = false;
      const closing = gc.close().then(() => {
        closed = true;
      });
      await tick();
      assert.equal(closed, false);
      calls[0]!.resolve();
      await tick();
      assert.equal(closed, false, "item 2 still pending");
      assert.deepEqual(calls[1]!.items, [2]);
      calls[1]!.resolve();
      await closing;
      assert.deepEqual(done, [1, 2]);
    });
  });
});
