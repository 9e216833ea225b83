/**
 * Rejection evidence laundered through the gateway's own bookkeeping: someone with a stopped gateway's
 * database file (and none of its keys) deletes sealed samples while claiming the gateway evicted them, and
 * forges a count and a sample for an innocent device, in the hope that the next start seals the forgeries
 * and logs the deletion as its own. The gateway then starts and commits as usual; `vitalog audit` must still
 * name every deleted sample, the forged count and the forged sample.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import type { Gateway } from "../../src/app/gateway.js";
import { CommitThread } from "../../src/batcher/commit/commit-thread.js";
import type { RejectionRecord } from "../../src/batcher/commit/reading-store.js";
import { openTlogForCli } from "../../src/batcher/tlog/open-tlog.js";
import { tlogCommitWriter } from "../../src/batcher/tlog/tlog-commit-writer.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { cli } from "../batcher/tlog-fixture.js";
import { tempDir } from "../helpers/gateway.js";
import { type AuditJson, audit, withGateway, writeWardConfig } from "./tamper-fixture.js";

/** Refuses one frame of `deviceId` for `reason` through the gateway's ingest and waits until it is durable. */
function refuse(
  gw: Gateway,
  deviceId: string,
  reason: string,
  detail: string,
  payload: string,
): Promise<void> {
  return new Promise((res, rej) =>
    gw.ingest.reject({ deviceId, subjectId: null }, { reason, detail }, Buffer.from(payload), (err) =>
      err ? rej(err) : res(),
    ),
  );
}

/** Sets the columns of `table` that exist (the bookkeeping an attacker would forge, whichever the schema has). */
function setIfPresent(db: Database.Database, table: string, values: Record<string, number>): void {
  const columns = new Set(
    (db.prepare(`SELECT name FROM pragma_table_info('${table}')`).pluck().all() as string[]) ?? [],
  );
  const set = Object.entries(values).filter(([c]) => columns.has(c));
  if (set.length === 0) return;
  db.prepare(`UPDATE ${table} SET ${set.map(([c]) => `${c} = ?`).join(", ")}`).run(...set.map(([, v]) => v));
}

describe("rejection evidence forged or deleted in a stopped gateway's database is never sealed by its next start", () => {
  const dir = tempDir("vitalog-rejection-laundering-");
  const dbFile = join(dir, "state", "vitalog.db");
  const configFile = writeWardConfig(dir);
  let deleted: number[] = [];
  let forgedSample = 0;
  let afterRestart: AuditJson;
  after(() => rmSync(dir, { recursive: true, force: true }));

  before(async () => {
    // genuine refusals, in two commits, sealed by the gateway that stored them
    await withGateway(configFile, async (gw) => {
      // one device each: every refusal is kept as a sample (the sampler's quota is per device and reason)
      for (let i = 0; i < 5; i++)
        await refuse(gw, `cuff-${i}`, "senml_invalid_record", `genuine ${i}`, `{"n":${i}}`);
      await Promise.all(
        [5, 6, 7, 8, 9].map((i) =>
          refuse(gw, `cuff-${i}`, "senml_invalid_record", `genuine ${i}`, `{"n":${i}}`),
        ),
      );
    });
    assert.deepEqual((await audit(configFile, 0)).findings, [], "the genuine refusals audit clean");

    // the gateway stopped, no key used: every sample but the newest deleted, with the eviction bookkeeping
    // claiming the gateway did it, and the next seal due at once; a count and a sample forged
    const db = new Database(dbFile);
    try {
      const ids = db.prepare("SELECT row_id FROM rejections ORDER BY row_id").pluck().all() as number[];
      assert.equal(ids.length, 10);
      deleted = ids.slice(0, -1);
      db.prepare("DELETE FROM rejections WHERE row_id <= ?").run(deleted.at(-1)!);
      const hasState = db
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rejection_log_state'")
        .get();
      if (hasState !== undefined)
        setIfPresent(db, "rejection_log_state", {
          evicted_through_id: deleted.at(-1)!,
          pending_evicted_count: deleted.length,
          pending_evicted_bytes: 1,
          sealed_at_ms: 0,
        });
      db.prepare(
        "INSERT INTO rejection_counts (device_id, reason, minute, count, logged) VALUES ('wear-innocent', 'topic_not_allowed', ?, 500, 0)",
      ).run(Math.floor(Date.now() / 60_000));
      forgedSample = Number(
        db
          .prepare(
            "INSERT INTO rejections (device_id, received_at_ms, reason, detail, payload) VALUES ('wear-innocent', ?, 'topic_not_allowed', 'forged', NULL)",
          )
          .run(Date.now()).lastInsertRowid,
      );
    } finally {
      db.close();
    }

    // the gateway starts again and commits: refusals of the innocent device's reason and of another
    await withGateway(configFile, async (gw) => {
      await refuse(gw, "wear-innocent", "topic_not_allowed", "genuine after restart", "{}");
      for (let i = 0; i < 3; i++) await refuse(gw, `cuff-${i}`, "unit_missing", `later ${i}`, `{"k":${i}}`);
    });
    afterRestart = await audit(configFile, 70);
  });

  it("audit names every sealed sample deleted, although the eviction bookkeeping claimed them", () => {
    const gaps = afterRestart.findings.filter((f) => f.kind === "rejection_gap").map((f) => f.ref);
    assert.deepEqual(gaps, deleted.map(String), JSON.stringify(afterRestart.findings));
  });

  it("audit names the forged count of the innocent device, whose genuine refusal the gateway added to it", () => {
    const counts = afterRestart.findings.filter((f) => f.kind === "rejection_count_mismatch");
    const forged = counts.filter((f) => f.ref?.startsWith("wear-innocent topic_not_allowed"));
    assert.ok(forged.length >= 1, JSON.stringify(afterRestart.findings));
    assert.match(forged[0]!.detail, /never sealed|where the log had sealed 1:/);
  });

  it("audit names the forged sample, which the later genuine samples did not carry into the log", () => {
    const samples = afterRestart.findings.filter((f) => f.kind === "rejection_mismatch").map((f) => f.ref);
    assert.deepEqual(samples, [String(forgedSample)], JSON.stringify(afterRestart.findings));
  });

  it("the genuine refusals stored after the restart are sealed and verified", () => {
    const t = new Map(afterRestart.tables.map((x) => [x.table, x]));
    assert.equal(t.get("rejections")!.verified, 1 + 1 + 3, "the kept original and the four later samples");
    assert.equal(t.get("rejections")!.pending, 0);
    assert.equal(t.get("rejection_counts")!.pending, 0);
  });
});

describe("count-only refusals waiting for their seal", () => {
  const dir = tempDir("vitalog-rejection-close-");
  const dbFile = join(dir, "state", "vitalog.db");
  const configFile = writeWardConfig(dir);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("are pending while the commit thread runs, and sealed when it closes; a count forged meanwhile is then named", async () => {
    await withGateway(configFile, async () => {}); // keys, database and the log's identity
    const config = loadConfig(configFile);
    const tlog = openTlogForCli(config);
    const storageKey = tlog.storageKey;
    tlog.close();
    const thread = new CommitThread(
      { dbPath: config.storage.path!, synchronous: "normal", busyTimeoutMs: 1000 },
      createLogger("silent"),
    );
    thread.addWriter(tlogCommitWriter(storageKey));
    const at = Date.now();
    const refusal = (count: number, isCountOnly: boolean): RejectionRecord => ({
      deviceId: "flood-1",
      receivedAtMs: at,
      reason: "senml_invalid_record",
      count,
      detail: isCountOnly ? "" : "a sampled refusal",
      payload: null,
      isCountOnly,
    });
    const countsOf = (r: AuditJson) => r.tables.find((t) => t.table === "rejection_counts")!;
    try {
      // a sampled refusal is sealed in its commit; the count-only ones a second later wait for the next seal
      await thread.commit([{ readings: [], rejections: [refusal(1, false)] }], at);
      await thread.commit([{ readings: [], rejections: [refusal(500, true)] }], at + 1000);
      // beside the running thread, someone adds a count of the same minute: the audit cannot tell it yet
      const db = new Database(dbFile);
      db.prepare(
        "INSERT INTO rejection_counts (device_id, reason, minute, count, logged) VALUES ('wear-innocent', 'topic_not_allowed', ?, 9, 9)",
      ).run(Math.floor(at / 60_000));
      db.close();
      const running = await audit(configFile, 0);
      assert.deepEqual(
        [countsOf(running).rows, countsOf(running).verified, countsOf(running).pending],
        [2, 0, 2],
      );
    } finally {
      await thread.close();
    }
    const closed = await audit(configFile, 70);
    assert.deepEqual(
      [countsOf(closed).rows, countsOf(closed).verified, countsOf(closed).pending],
      [2, 1, 0],
      "the count-only refusals were sealed at the close",
    );
    assert.deepEqual(
      closed.findings.map((f) => [f.kind, f.ref?.split(" ")[0]]),
      [["rejection_count_mismatch", "wear-innocent"]],
    );
    assert.match(closed.findings[0]!.detail, /holds 9 refusal\(s\) the log never sealed/);
  });
});

describe("rejection evidence the log does not hold, adopted by an operator", () => {
  const dir = tempDir("vitalog-rejection-adopt-");
  const dbFile = join(dir, "state", "vitalog.db");
  const configFile = writeWardConfig(dir);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("is logged as it stands and listed by the audit; a count lowered below its seal stays a finding", async () => {
    await withGateway(configFile, async (gw) => {
      await refuse(gw, "cuff-1", "senml_invalid_record", "genuine", "{}");
      await refuse(gw, "cuff-2", "unit_missing", "genuine", "{}");
      await refuse(gw, "cuff-2", "unit_missing", "genuine again", "{}");
    });
    const minute = Math.floor(Date.now() / 60_000);
    const db = new Database(dbFile);
    try {
      // as a gateway with its log off would have left them, or someone behind its back
      db.prepare(
        "INSERT INTO rejection_counts (device_id, reason, minute, count, logged) VALUES ('wear-9', 'topic_not_allowed', ?, 500, 0)",
      ).run(minute - 5);
      db.prepare(
        "INSERT INTO rejections (device_id, received_at_ms, reason, detail, payload) VALUES ('wear-9', ?, 'topic_not_allowed', 'unsealed', NULL)",
      ).run(Date.now());
      db.prepare("UPDATE rejection_counts SET count = 1 WHERE device_id = 'cuff-2'").run();
    } finally {
      db.close();
    }
    assert.equal(
      (await audit(configFile, 70)).findings.length,
      3,
      "the forged count and sample, the lowered count",
    );
    const r = await cli([
      "tlog",
      "adopt-unlogged",
      "--config",
      configFile,
      "--by",
      "ce.smith",
      "--reason",
      "counted while the log was off",
      "--rejections-only",
      "--yes",
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(
      [out.devices_adopted, out.adopted, out.rejection_counts_adopted, out.rejection_samples_adopted],
      [[], 0, 1, 1],
    );
    const report = (await audit(configFile, 70)) as AuditJson & {
      rejection_adoptions: {
        by: string;
        reason: string;
        counts: number;
        refusals: number;
        samples: number;
      }[];
    };
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.table]),
      [["rejection_count_mismatch", "rejection_counts"]],
      "only the lowered count: what the log holds more of than the table is never adopted",
    );
    assert.deepEqual(
      report.rejection_adoptions.map(({ by, reason, counts, refusals, samples }) => ({
        by,
        reason,
        counts,
        refusals,
        samples,
      })),
      [{ by: "ce.smith", reason: "counted while the log was off", counts: 1, refusals: 500, samples: 1 }],
    );
  });
});
