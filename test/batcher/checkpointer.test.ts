/**
 * The checkpointer and the commit thread, the database's one writer: a checkpoint is signed by the log's
 * writer in the commit thread, after the commit's entries, and announced only after its commit; a lock held
 * by another process is waited for by the commit path (its one busy policy), without a warning; an integrity
 * failure found by the writer halts signing while commits go on. Real SQLite file, real worker thread.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { CommitThread } from "../../src/batcher/commit/commit-thread.js";
import { GroupCommitter } from "../../src/batcher/commit/group-commit.js";
import type { StoredCheckpoint } from "../../src/batcher/tlog/checkpoint-store.js";
import { Checkpointer } from "../../src/batcher/tlog/checkpointer.js";
import { openTlogForCli } from "../../src/batcher/tlog/open-tlog.js";
import { tlogCommitWriter } from "../../src/batcher/tlog/tlog-commit-writer.js";
import { signCheckpoint } from "../../src/batcher/verifier/checkpoint.js";
import { ManualClock, systemClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import type { WriteCommands } from "../../src/core/ports.js";
import type { CommitBatch } from "../../src/drivers/ingest.js";
import { createLogger } from "../../src/log.js";
import { tempDir, waitFor } from "../helpers/gateway.js";
import { fillLog, writeConfig } from "./tlog-fixture.js";

const root = tempDir("vitalog-checkpointer-");
after(() => rmSync(root, { recursive: true, force: true }));

async function grownLog(name: string) {
  const dir = join(root, name);
  mkdirSync(dir);
  const cfg = writeConfig(dir);
  await fillLog(cfg, ["pt-k"], 2);
  const config = loadConfig(cfg);
  const tlog = openTlogForCli(config);
  // the tree grows past the last signed checkpoint
  tlog.db.transaction(() =>
    tlog.records.append([], [{ type: "test.event", atMs: 1, subjectId: null, deviceId: null, data: {} }]),
  )();
  const lines: { level: number; msg: string }[] = [];
  const out = new PassThrough();
  out.on("data", (d: Buffer) => {
    for (const l of d.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l));
  });
  const log = createLogger("info", out);
  const thread = new CommitThread(
    { dbPath: config.storage.path!, synchronous: "normal", busyTimeoutMs: 25 },
    log,
  );
  const committer = new GroupCommitter<CommitBatch>({
    clock: systemClock,
    maxReadings: 100,
    maxDelayMs: 5,
    busyGiveUpMs: 60_000,
    commit: (batches) => thread.commit(batches, systemClock.now()),
  });
  let commits = 0;
  const writes: WriteCommands = {
    submit: (writer, command, done = () => {}) => {
      commits++;
      committer.submit({
        payload: { readings: [], rejections: [], commands: [{ writer, command }] },
        weight: 1,
        done,
      });
    },
  };
  const clock = new ManualClock();
  const cp = new Checkpointer({
    tiles: tlog.records.tiles,
    store: tlog.checkpoints,
    writes,
    clock,
    intervalMs: 5000,
    log,
  });
  const announced: StoredCheckpoint[] = [];
  cp.addListener((c) => announced.push(c));
  thread.addWriter(
    tlogCommitWriter(tlog.storageKey, {
      skey: tlog.signer.toSkey(),
      origin: tlog.origin,
      onResult: (r) => cp.onWriteResult(r),
    }),
  );
  await thread.start();
  const close = async () => {
    await cp.stop();
    await committer.close();
    await thread.close();
    tlog.close();
  };
  return { tlog, cp, clock, lines, announced, close, commits: () => commits, dbPath: config.storage.path! };
}

describe("checkpointer and the commit thread", () => {
  it("has the commit thread sign once the tree grew, and announces the checkpoint after its commit", async () => {
    const f = await grownLog("signs");
    try {
      const before = f.tlog.checkpoints.latest()!.size;
      await f.cp.start();
      await waitFor(() => f.announced.length === 1, 5000, "checkpoint announced");
      const latest = f.tlog.checkpoints.latest()!;
      assert.equal(latest.size, f.tlog.records.tiles.size());
      assert.ok(latest.size > before);
      assert.deepEqual(f.announced[0]!.note, latest.note, "the announced checkpoint is the stored one");
      // nothing grew: no command is sent, and no checkpoint
      f.clock.advance(5000);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(f.commits(), 1);
      assert.equal(f.announced.length, 1);
      assert.equal((f.cp.status() as { checkpoints_signed: number }).checkpoints_signed, 1);
    } finally {
      await f.close();
    }
  });

  it("waits for a lock another process holds, then signs without a warning", async () => {
    const f = await grownLog("locked");
    const other = new Database(f.dbPath);
    try {
      const before = f.tlog.checkpoints.latest()!.size;
      other.exec("BEGIN IMMEDIATE");
      await f.cp.start();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(f.tlog.checkpoints.latest()!.size, before, "not signed while locked");
      other.exec("COMMIT");
      await waitFor(() => f.announced.length === 1, 5000, "signed once the lock is released");
      assert.equal(f.tlog.checkpoints.latest()!.size, f.tlog.records.tiles.size());
      assert.deepEqual(
        f.lines.filter((l) => l.level >= 40),
        [],
      );
      assert.equal((f.cp.status() as { last_error: unknown }).last_error, null);
    } finally {
      other.close();
      await f.close();
    }
  });

  it("halts on an integrity failure found in the commit thread, and signs nothing after it", async () => {
    const f = await grownLog("forked");
    try {
      // someone signed a head over a different tree at a larger size (a fork): signing must refuse
      const { db, origin, signer, records } = f.tlog;
      const size = records.tiles.size() + 1;
      const forged = new Uint8Array(32).fill(7);
      const note = signCheckpoint({ origin, size, root: forged, extensions: [] }, [signer]);
      db.prepare(
        "INSERT INTO tlog_checkpoints (size, root, note, key_id, signed_at_ms) VALUES (?,?,?,?,?)",
      ).run(size, forged, note, "x", 0);
      db.transaction(() =>
        records.append([], [{ type: "test", atMs: 2, subjectId: null, deviceId: null, data: {} }]),
      )();
      db.transaction(() =>
        records.append([], [{ type: "test", atMs: 3, subjectId: null, deviceId: null, data: {} }]),
      )();
      const stored = f.tlog.checkpoints.all().length;
      await f.cp.start();
      await waitFor(() => (f.cp.status() as { halted: unknown }).halted !== null, 5000, "halted");
      assert.match(String((f.cp.status() as { halted: unknown }).halted), /not consistent/);
      assert.ok(f.lines.some((l) => l.level === 50 && /checkpoint signing halted/.test(l.msg)));
      f.clock.advance(5000);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(f.commits(), 1, "no signing asked for after the halt");
      assert.equal(f.tlog.checkpoints.all().length, stored, "nothing signed");
      assert.equal(f.announced.length, 0);
    } finally {
      await f.close();
    }
  });
});
