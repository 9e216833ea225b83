/**
 * Rejections are evidence of attacks. The gateway deletes some of it by design (samples evicted past their
 * byte budget, counts pruned after their retention), each time with a logged event; it seals the samples a
 * commit adds in that commit, with one event whatever the flood. Someone with the database file deletes,
 * edits or forges samples and counts: `vitalog audit` names each one; the gateway's own deletions are no
 * finding, and an eviction that removed other samples than the oldest sealed ones, or that only forged
 * samples made necessary, is. The commits run through the real commit thread with the log's writer on a
 * gateway's real SQLite file, with commit times chosen by the test (a minute apart, and one a year and a
 * half later).
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type Database from "better-sqlite3";
import { CommitThread } from "../../src/batcher/commit/commit-thread.js";
import { MAX_REJECTION_SAMPLE_BYTES, type RejectionRecord } from "../../src/batcher/commit/reading-store.js";
import { REJECTION_COUNT_RETENTION_MS } from "../../src/batcher/commit/rejection-evidence.js";
import { openTlogForCli } from "../../src/batcher/tlog/open-tlog.js";
import { tlogCommitWriter } from "../../src/batcher/tlog/tlog-commit-writer.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { tempDir } from "../helpers/gateway.js";
import {
  type AuditJson,
  audit,
  tamperedCopy,
  type WardState,
  withGateway,
  writeWardConfig,
} from "./tamper-fixture.js";

const DAY_MS = 86_400_000;
/** The flood's commits come a minute and a second apart. */
const STEP_MS = 61_000;
/**
 * 08:00 UTC tomorrow: the gateway started in `before` commits its start-up record (the rules in force) at the
 * real time, and the commit times chosen here must come after it (the prune clock only moves forward).
 */
const T0 = (Math.floor(Date.now() / DAY_MS) + 1) * DAY_MS + 8 * 3_600_000;
/** Samples of about 1.5 KiB each: 240 a commit, so the 8 MiB budget is passed in the 24th. */
const PER_COMMIT = 240;
const COMMITS = 25;

function flood(deviceId: string | null, atMs: number, k: number, count = PER_COMMIT): RejectionRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    deviceId,
    receivedAtMs: atMs + i,
    reason: "senml_invalid_record",
    count: 1,
    detail: `record ${k}/${i}: ${"x".repeat(480)}`,
    payload: new Uint8Array(1024).fill((k + i) % 256),
  }));
}

const kindsAndRefs = (r: AuditJson) => r.findings.map((f) => [f.kind, f.ref]);

/** The log's storage key and the database of a gateway state (for commits made by the test). */
function stateOf(configFile: string): { dbPath: string; storageKey: Buffer } {
  const config = loadConfig(configFile);
  const tlog = openTlogForCli(config);
  const storageKey = tlog.storageKey;
  tlog.close();
  return { dbPath: config.storage.path!, storageKey };
}

/**
 * Runs flood commits of `perCommit` samples (a minute apart from `fromMs`) through a real commit thread on
 * `configFile`'s state until the gateway evicted samples (the oldest sample id moved past `oldest`), at most
 * `max` commits.
 */
async function floodUntilEvicted(
  configFile: string,
  fromMs: number,
  oldest: number,
  max: number,
  perCommit = PER_COMMIT,
): Promise<void> {
  const { dbPath, storageKey } = stateOf(configFile);
  const thread = new CommitThread(
    { dbPath, synchronous: "normal", busyTimeoutMs: 1000 },
    createLogger("silent"),
  );
  thread.addWriter(tlogCommitWriter(storageKey));
  const db = (await import("better-sqlite3")).default;
  try {
    for (let k = 0; k < max; k++) {
      const at = fromMs + k * STEP_MS;
      await thread.commit([{ readings: [], rejections: flood(null, at, 100 + k, perCommit) }], at);
      const ro = new db(dbPath, { readonly: true });
      const min = ro.prepare("SELECT min(row_id) FROM rejections").pluck().get() as number;
      ro.close();
      if (min > oldest) return;
    }
  } finally {
    await thread.close();
  }
  assert.fail(`no eviction in ${max} commits`);
}

describe("rejection evidence: authorised deletions are logged, tampering is named", () => {
  const root = tempDir("vitalog-tamper-rejections-");
  let base: WardState;
  let n = 0;
  let dbPath = "";
  after(() => rmSync(root, { recursive: true, force: true }));
  const copy = (tamper: (db: Database.Database) => void) => tamperedCopy(base, `case-${n++}`, tamper);

  before(async () => {
    const dir = `${root}/base`;
    const configFile = writeWardConfig(dir);
    await withGateway(configFile, async () => {}); // keys, database and the log's identity
    const state = stateOf(configFile);
    dbPath = state.dbPath;
    const storageKey = state.storageKey;
    const thread = new CommitThread(
      { dbPath, synchronous: "normal", busyTimeoutMs: 1000 },
      createLogger("silent"),
    );
    thread.addWriter(tlogCommitWriter(storageKey));
    try {
      // a year and a half ago: a few refusals, sealed in their own commit
      const old = T0 - 540 * DAY_MS;
      await thread.commit([{ readings: [], rejections: flood("cuff-1", old, 0, 5) }], old);
      // a flood, one commit a minute and a bit: each seals what it added
      for (let k = 0; k < COMMITS; k++) {
        const at = T0 + k * STEP_MS;
        await thread.commit(
          [{ readings: [], rejections: [...flood(null, at, k), ...flood("cuff-1", at, k, 3)] }],
          at,
        );
      }
      // nothing new: nothing to seal
      await thread.commit([{ readings: [], rejections: [] }], T0 + (COMMITS + 1) * 2 * STEP_MS);
    } finally {
      await thread.close();
    }
    base = { dir, configFile, readings: new Map(), raised: new Map() };
  });

  it("evicts samples past the budget and prunes old counts with logged events: audit finds nothing, the log grew by a few events", async () => {
    const report = await audit(base.configFile, 0);
    const tables = new Map(report.tables.map((t) => [t.table, t]));
    const samples = tables.get("rejections")!;
    assert.equal(samples.verified, samples.rows, "every kept sample is sealed and intact");
    assert.ok(samples.rows < COMMITS * PER_COMMIT, `${samples.rows} samples kept: the oldest were evicted`);
    assert.equal(tables.get("rejection_counts")!.verified, tables.get("rejection_counts")!.rows);
    const db = (await import("better-sqlite3")).default;
    const ro = new db(dbPath, { readonly: true });
    try {
      const oldest = ro.prepare("SELECT min(row_id) FROM rejections").pluck().get() as number;
      assert.ok(oldest > 2 * PER_COMMIT, "samples of the first commits evicted");
      const bytes = ro
        .prepare("SELECT SUM(octet_length(detail) + ifnull(octet_length(payload), 0)) FROM rejections")
        .pluck()
        .get() as number;
      assert.ok(bytes <= MAX_REJECTION_SAMPLE_BYTES);
      const before = Math.floor((T0 - REJECTION_COUNT_RETENTION_MS) / 60_000);
      assert.equal(
        ro.prepare("SELECT COUNT(*) FROM rejection_counts WHERE minute < ?").pluck().get(before),
        0,
        "counts older than the retention pruned",
      );
      // one seal per commit that refused anything, one eviction, one prune, the seal that closed the commit
      // thread, and the gateway's start-up records of the rules in force and of the outbox's durable sinks: not
      // one event per rejection
      const events = ro.prepare("SELECT COUNT(*) FROM tlog_records").pluck().get() as number;
      assert.ok(
        events <= COMMITS + 1 + 2 + 1 + 1 + 1,
        `${events} log events for ${COMMITS * PER_COMMIT} refusals`,
      );
    } finally {
      ro.close();
    }
  });

  it("a sealed sample deleted, and the newest ones cut off: audit names each gap", async () => {
    let ids: number[] = [];
    const cfg = copy((db) => {
      const max = db.prepare("SELECT max(row_id) FROM rejections").pluck().get() as number;
      const min = db.prepare("SELECT min(row_id) FROM rejections").pluck().get() as number;
      ids = [min + 10, max - 1, max];
      for (const id of ids) db.prepare("DELETE FROM rejections WHERE row_id = ?").run(id);
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(
      kindsAndRefs(report),
      ids.map((id) => ["rejection_gap", String(id)]),
    );
    assert.match(report.findings[0]!.detail, /deleted without a logged eviction/);
  });

  it("a sample's payload edited, and a sample forged below the eviction: audit names both", async () => {
    let edited = 0;
    const cfg = copy((db) => {
      edited = (db.prepare("SELECT min(row_id) FROM rejections").pluck().get() as number) + 3;
      db.prepare("UPDATE rejections SET payload = zeroblob(16) WHERE row_id = ?").run(edited);
      db.prepare(
        "INSERT INTO rejections (row_id, device_id, received_at_ms, reason, detail, payload) VALUES (5, 'cuff-2', ?, 'x', 'forged', NULL)",
      ).run(T0);
    });
    const report = await audit(cfg, 70);
    assert.deepEqual(kindsAndRefs(report), [
      ["rejection_mismatch", String(edited)],
      ["rejection_mismatch", "5"],
    ]);
    assert.match(report.findings[0]!.detail, /differs from its sealed digest/);
    assert.match(report.findings[1]!.detail, /at or below the logged eviction/);
  });

  it("a count lowered, one deleted and one forged: audit names each", async () => {
    const cfg = copy((db) => {
      db.prepare("UPDATE rejection_counts SET count = 1, logged = 1 WHERE device_id = '' AND minute = ?").run(
        Math.floor(T0 / 60_000),
      );
      db.prepare("DELETE FROM rejection_counts WHERE device_id = 'cuff-1' AND minute = ?").run(
        Math.floor((T0 + STEP_MS) / 60_000),
      );
      db.prepare(
        "INSERT INTO rejection_counts (device_id, reason, minute, count, logged) VALUES ('cuff-2', 'senml_invalid_record', ?, 9, 9)",
      ).run(Math.floor(T0 / 60_000));
    });
    const report = await audit(cfg, 70);
    const details = report.findings.map((f) => [f.kind, f.detail]);
    assert.equal(report.findings.length, 3, JSON.stringify(details));
    assert.ok(
      report.findings.every((f) => f.kind === "rejection_count_mismatch" && f.table === "rejection_counts"),
    );
    assert.match(
      report.findings.map((f) => f.detail).join("\n"),
      /the log sealed 240 refusal\(s\); the row holds 1/,
    );
    assert.match(
      report.findings.map((f) => f.detail).join("\n"),
      /have no count row: deleted without a logged prune/,
    );
    assert.match(
      report.findings.map((f) => f.detail).join("\n"),
      /holds 9 refusal\(s\) the log never sealed/,
    );
  });

  it("the oldest sealed samples deleted, then evicted by the gateway: audit names the eviction that removed fewer", async () => {
    let oldest = 0;
    const cfg = copy((db) => {
      oldest = db.prepare("SELECT min(row_id) FROM rejections").pluck().get() as number;
      db.prepare("DELETE FROM rejections WHERE row_id < ?").run(oldest + 5);
    });
    // before the gateway evicts them, they are gaps
    assert.deepEqual(
      kindsAndRefs(await audit(cfg, 70)),
      [0, 1, 2, 3, 4].map((k) => ["rejection_gap", String(oldest + k)]),
    );
    await floodUntilEvicted(cfg, T0 + 60 * STEP_MS, oldest + 5, 8);
    const report = await audit(cfg, 70);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.table]),
      [["rejection_gap", "rejections"]],
      JSON.stringify(report.findings),
    );
    assert.match(
      report.findings[0]!.detail,
      /removed \d+ sample\(s\).* the log had sealed \d+ .*up to there/,
    );
    assert.match(report.findings[0]!.ref!, /^eviction through \d+$/);
  });

  it("a large sample forged: audit names it and the eviction that it alone made necessary", async () => {
    let forged = 0;
    let oldest = 0;
    const cfg = copy((db) => {
      oldest = db.prepare("SELECT min(row_id) FROM rejections").pluck().get() as number;
      forged = Number(
        db
          .prepare(
            "INSERT INTO rejections (device_id, received_at_ms, reason, detail, payload) VALUES ('cuff-9', ?, 'x', 'forged', zeroblob(2097152))",
          )
          .run(T0).lastInsertRowid,
      );
    });
    // ten genuine samples: what the log sealed stays within the budget, only the forged one passes it
    await floodUntilEvicted(cfg, T0 + 60 * STEP_MS, oldest, 1, 10);
    const report = await audit(cfg, 70);
    const details = report.findings.map((f) => `${f.kind} ${f.ref}: ${f.detail}`).join("\n");
    assert.deepEqual(
      report.findings.map((f) => f.kind),
      ["rejection_mismatch", "rejection_mismatch"],
      details,
    );
    assert.match(details, /eviction through \d+: .*not needed/);
    assert.match(details, new RegExp(`${forged}: sample ${forged} is not sealed in the log`));
  });
});
