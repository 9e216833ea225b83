/**
 * The checkpointer beside the commit thread: the gateway's group commits hold the write lock on a
 * connection of their own, so signing can meet SQLITE_BUSY. A short lock is retried after BUSY_RETRY_MS
 * (no warning, no waiting for the next interval); a long one is reported and left to the next interval.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { BUSY_RETRY_MS, Checkpointer } from "../../src/batcher/checkpointer.js";
import { openTlogForCli } from "../../src/batcher/open-tlog.js";
import { ManualClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { tempDir } from "../helpers/gateway.js";
import { fillLog, writeConfig } from "./tlog-fixture.js";

const root = tempDir("vitalog-checkpointer-");
after(() => rmSync(root, { recursive: true, force: true }));

async function grownLog(name: string) {
  const dir = join(root, name);
  mkdirSync(dir);
  const cfg = writeConfig(dir);
  await fillLog(cfg, ["pt-k"], 2);
  const tlog = openTlogForCli(loadConfig(cfg));
  tlog.db.pragma("busy_timeout = 0");
  // the tree grows past the last signed checkpoint
  tlog.db.transaction(() =>
    tlog.records.append([], [{ type: "test.event", atMs: 1, subjectId: null, deviceId: null, data: {} }]),
  )();
  const lines: { level: number; msg: string }[] = [];
  const out = new PassThrough();
  out.on("data", (d: Buffer) => {
    for (const l of d.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l));
  });
  const clock = new ManualClock();
  const cp = new Checkpointer({
    db: tlog.db,
    tiles: tlog.records.tiles,
    store: tlog.checkpoints,
    origin: tlog.origin,
    signer: tlog.signer,
    clock,
    intervalMs: 5000,
    log: createLogger("info", out),
  });
  const other = new Database(loadConfig(cfg).storage.path!);
  return { tlog, cp, clock, lines, other };
}

describe("checkpointer and the commit thread's lock", () => {
  it("retries a locked signing after BUSY_RETRY_MS, without a warning", async () => {
    const { tlog, cp, clock, lines, other } = await grownLog("short");
    try {
      const before = tlog.checkpoints.latest()!.size;
      other.exec("BEGIN IMMEDIATE");
      await cp.start();
      assert.equal(tlog.checkpoints.latest()!.size, before, "not signed while locked");
      other.exec("COMMIT");
      clock.advance(BUSY_RETRY_MS - 1);
      assert.equal(tlog.checkpoints.latest()!.size, before, "not before the retry delay");
      clock.advance(1);
      assert.equal(tlog.checkpoints.latest()!.size, tlog.records.tiles.size(), "signed at the retry");
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        lines.filter((l) => l.level >= 40),
        [],
      );
      assert.equal((cp.status() as { last_error: unknown }).last_error, null);
    } finally {
      await cp.stop();
      other.close();
      tlog.close();
    }
  });

  it("cancels a pending lock retry when stopped", async () => {
    const { tlog, cp, clock, other } = await grownLog("stopped");
    try {
      const before = tlog.checkpoints.latest()!.size;
      other.exec("BEGIN IMMEDIATE");
      await cp.start();
      other.exec("COMMIT");
      await cp.stop();
      clock.advance(10 * BUSY_RETRY_MS);
      assert.equal(tlog.checkpoints.latest()!.size, before, "nothing signed after stop");
    } finally {
      other.close();
      tlog.close();
    }
  });

  it("reports a lock that outlasts the retries and signs at the next interval", async () => {
    const { tlog, cp, clock, lines, other } = await grownLog("long");
    try {
      const before = tlog.checkpoints.latest()!.size;
      other.exec("BEGIN IMMEDIATE");
      await cp.start();
      clock.advance(BUSY_RETRY_MS);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        lines.filter((l) => l.level >= 40),
        [],
        "no warning while retrying",
      );
      for (let i = 0; i < 40; i++) clock.advance(BUSY_RETRY_MS);
      await new Promise((r) => setImmediate(r));
      assert.ok(
        lines.some((l) => l.level === 40 && /checkpoint signing failed/.test(l.msg)),
        "warned once the retries ran out",
      );
      assert.equal(tlog.checkpoints.latest()!.size, before);
      other.exec("COMMIT");
      clock.advance(5000);
      assert.equal(tlog.checkpoints.latest()!.size, tlog.records.tiles.size(), "signed at the next interval");
    } finally {
      await cp.stop();
      other.close();
      tlog.close();
    }
  });
});
