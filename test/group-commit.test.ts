import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { GroupCommitter } from "../src/batcher/group-commit.js";
import { ManualClock } from "../src/clock.js";
import { GatewayError } from "../src/errors.js";
import { tempDir } from "./helpers/gateway.js";

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
    const gc = new GroupCommitter<number>({
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
    const gc = new GroupCommitter<number>({
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
    const gc = new GroupCommitter<number | null>({
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

  it("flushes on close and refuses later items", () => {
    const db = open("close.db");
    const gc = new GroupCommitter<number>({
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
    gc.close();
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
    const gc = new GroupCommitter<number>({
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
    const gc = new GroupCommitter<number>({
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
    const gc = new GroupCommitter<number>({
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
});
