import type { Statement } from "better-sqlite3";
import type { Db } from "../../db.js";
import type { Reading, ReadingFlag, VitalKind } from "../../reading.js";
import { SAMPLE_BYTES_SQL } from "./rejection-evidence.js";

export const READING_STORE_SQL = `
CREATE TABLE readings (
  row_id INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  device_id TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  device_seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  loinc TEXT NOT NULL,
  value REAL NOT NULL,
  unit TEXT NOT NULL,
  device_time_ms INTEGER,
  observed_at_ms INTEGER NOT NULL,
  received_at_ms INTEGER NOT NULL,
  flags TEXT NOT NULL,
  mdc INTEGER,
  -- position in the tamper-evident log (NULL while the log is disabled; appended at the next start)
  leaf_index INTEGER
) STRICT;
-- A device cannot measure the same vital twice at the same instant: a re-sent QoS 1 message is a
-- duplicate. NULL device times never conflict (SQLite UNIQUE treats NULLs as distinct). The same index
-- serves queries by device; a separate (device_id, row_id) index cost ~20 % of ingest throughput.
CREATE UNIQUE INDEX readings_dedup ON readings (device_id, kind, device_time_ms);
-- Readings not yet in the log: partial, so a reading stored with its leaf index never touches it.
CREATE INDEX readings_unlogged ON readings (row_id) WHERE leaf_index IS NULL;
CREATE TABLE rejections (
  row_id INTEGER PRIMARY KEY,
  device_id TEXT,
  received_at_ms INTEGER NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL,
  payload BLOB
) STRICT;
`;

/**
 * Bounded rejections: exact counts per device, reason and minute, and `rejections` reduced to a sample under
 * a byte budget. Existing rows are counted first, then only the newest 8 MiB of them are kept. Released:
 * never edit it; the store enforces its own budget at every insert. (The running total this migration keeps
 * with triggers is dropped by migration 10: a total in the file is only as true as the file.)
 */
export const REJECTION_BOUNDS_MIGRATION = `
CREATE TABLE rejection_counts (
  device_id TEXT NOT NULL, -- '' for a device the gateway does not know
  reason TEXT NOT NULL,
  minute INTEGER NOT NULL, -- minutes since the Unix epoch
  count INTEGER NOT NULL CHECK (count > 0),
  PRIMARY KEY (device_id, reason, minute)
) STRICT, WITHOUT ROWID;
INSERT INTO rejection_counts (device_id, reason, minute, count)
  SELECT ifnull(device_id, ''), reason, received_at_ms / 60000, COUNT(*) FROM rejections GROUP BY 1, 2, 3;
DELETE FROM rejections WHERE row_id IN (
  SELECT row_id FROM (
    SELECT row_id,
      SUM(octet_length(detail) + ifnull(octet_length(payload), 0)) OVER (ORDER BY row_id DESC) AS newer_bytes
    FROM rejections
  ) WHERE newer_bytes > 8388608
);
CREATE TABLE rejection_sample_bytes (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  bytes INTEGER NOT NULL
) STRICT;
INSERT INTO rejection_sample_bytes (id, bytes)
  SELECT 1, ifnull(SUM(octet_length(detail) + ifnull(octet_length(payload), 0)), 0) FROM rejections;
CREATE TRIGGER rejections_bytes_insert AFTER INSERT ON rejections BEGIN
  UPDATE rejection_sample_bytes
  SET bytes = bytes + octet_length(NEW.detail) + ifnull(octet_length(NEW.payload), 0) WHERE id = 1;
END;
CREATE TRIGGER rejections_bytes_delete AFTER DELETE ON rejections BEGIN
  UPDATE rejection_sample_bytes
  SET bytes = bytes - octet_length(OLD.detail) - ifnull(octet_length(OLD.payload), 0) WHERE id = 1;
END;
CREATE TRIGGER rejections_bytes_update AFTER UPDATE OF detail, payload ON rejections BEGIN
  UPDATE rejection_sample_bytes
  SET bytes = bytes - octet_length(OLD.detail) - ifnull(octet_length(OLD.payload), 0)
    + octet_length(NEW.detail) + ifnull(octet_length(NEW.payload), 0) WHERE id = 1;
END;
`;

/** Most bytes of a refused payload kept in a sample row. */
export const MAX_SAMPLE_PAYLOAD_BYTES = 1024;
/** Most characters of a refusal's detail kept in a sample row. */
export const MAX_SAMPLE_DETAIL_CHARS = 512;
/**
 * The hard budget of the sample rows (UTF-8 bytes of `detail` plus bytes of `payload`): past it the oldest
 * samples are evicted in the same transaction, down to 7/8 of the budget (so evictions, each one logged,
 * come in batches). With the per-minute counts, a rejection flood cannot fill the disk, whatever its rate
 * and duration. Whether it is passed is a SUM() over the rows, taken when the connection's running total
 * (kept by the commit thread's journal, rejection-evidence.ts) says it may be.
 */
export const MAX_REJECTION_SAMPLE_BYTES = 8 * 1024 * 1024;
/** `rejection_counts.device_id` of a device the gateway does not know (its `deviceId` is null). */
export const UNKNOWN_DEVICE = "";
const MINUTE_MS = 60_000;

/**
 * Refusals of one reason from one device, in one frame or one commit: nothing a device sent is silently
 * dropped. Every record adds `count` to its (device, reason, minute) row of `rejection_counts`; unless it
 * is count-only, its `detail` and `payload` are also kept as one sample row of `rejections` (truncated to
 * {@link MAX_SAMPLE_DETAIL_CHARS} and {@link MAX_SAMPLE_PAYLOAD_BYTES}, within
 * {@link MAX_REJECTION_SAMPLE_BYTES}).
 */
export interface RejectionRecord {
  deviceId: string | null;
  receivedAtMs: number;
  reason: string;
  /** How many refused records or frames this stands for: a positive integer. */
  count: number;
  /** One refusal's explanation. It may carry measurement values: never log it above `debug`. */
  detail: string;
  /** One refusal's raw payload, when useful. */
  payload: Uint8Array | null;
  /** True when the sample quota is spent: only `count` is stored; `detail` and `payload` are not. */
  isCountOnly?: boolean;
}

/** A sample row of the `rejections` table. */
export interface StoredRejection {
  rowId: number;
  deviceId: string | null;
  receivedAtMs: number;
  reason: string;
  detail: string;
  payload: Uint8Array | null;
}

/** A row of `rejection_counts`: every refusal of `reason` from the device in one minute. */
export interface RejectionCount {
  /** Null for devices the gateway does not know. */
  deviceId: string | null;
  reason: string;
  /** Minutes since the Unix epoch: floor(receivedAtMs / 60 000). */
  minute: number;
  count: number;
}

export interface ReadingQuery {
  deviceId?: string | undefined;
  subjectId?: string | undefined;
  /** Only readings received at or after this time. */
  sinceMs?: number | undefined;
  /** Only readings stored after this row (for tailing). */
  afterRowId?: number | undefined;
  limit?: number | undefined;
  /** The newest rows (highest row id) first: with `limit`, the latest `limit` readings. */
  isNewestFirst?: boolean | undefined;
}

export interface StoredReading extends Reading {
  rowId: number;
}

/**
 * Durable storage of readings and rejections. Writes are synchronous and MUST run inside the
 * caller's transaction (the group commit); they never await.
 */
export class ReadingStore {
  readonly #insert;
  #rejectionWrites: RejectionWrites | undefined;
  readonly #maxSampleBytes: number;
  readonly #maxSeq;
  readonly #db: Db;
  readonly #statements = new Map<string, Statement>();

  /** `maxSampleBytes` defaults to {@link MAX_REJECTION_SAMPLE_BYTES}. */
  constructor(db: Db, options: { maxSampleBytes?: number } = {}) {
    this.#db = db;
    this.#maxSampleBytes = options.maxSampleBytes ?? MAX_REJECTION_SAMPLE_BYTES;
    if (!Number.isSafeInteger(this.#maxSampleBytes) || this.#maxSampleBytes < 0)
      throw new RangeError(`maxSampleBytes must be a non-negative integer, got ${this.#maxSampleBytes}`);
    this.#insert = db.prepare(
      `INSERT INTO readings (id, device_id, subject_id, device_seq, kind, loinc, value, unit, device_time_ms,
         observed_at_ms, received_at_ms, flags, mdc, leaf_index) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
         ON CONFLICT DO NOTHING`,
    );
    this.#maxSeq = db.prepare<[], { device_id: string; seq: number }>(
      "SELECT device_id, MAX(device_seq) AS seq FROM readings GROUP BY device_id",
    );
  }

  /**
   * Inserts one reading at log position `leafIndex` (null when the log is disabled); returns false when
   * it was a duplicate (same device, vital and device time), which takes no log position.
   */
  insert(r: Reading, leafIndex: number | null = null): boolean {
    return (
      this.#insert.run(
        r.id,
        r.deviceId,
        r.subjectId,
        r.seq,
        r.kind,
        r.loinc,
        r.value,
        r.unit,
        r.deviceTimeMs,
        r.observedAtMs,
        r.receivedAtMs,
        r.flags.join(","),
        r.mdc,
        leafIndex,
      ).changes > 0
    );
  }

  /**
   * Adds `r.count` to its minute's count and, unless it is count-only, keeps it as a sample (truncated),
   * evicting the oldest samples past the byte budget. Runs inside the caller's transaction.
   */
  insertRejection(r: RejectionRecord): void {
    if (!Number.isSafeInteger(r.count) || r.count < 1)
      throw new RangeError(`a rejection's count must be a positive integer, got ${r.count}`);
    this.#rejectionWrites ??= prepareRejectionWrites(this.#db);
    const w = this.#rejectionWrites;
    const minute = Math.floor(r.receivedAtMs / MINUTE_MS);
    w.count.run(r.deviceId ?? UNKNOWN_DEVICE, r.reason, minute, r.count);
    if (r.isCountOnly === true) return;
    const payload = r.payload === null ? null : r.payload.subarray(0, MAX_SAMPLE_PAYLOAD_BYTES);
    w.insert.run(r.deviceId, r.receivedAtMs, r.reason, boundedDetail(r.detail), payload);
    this.#evictSamples(w);
  }

  /**
   * Past the budget, deletes the oldest samples down to 7/8 of it and journals the eviction, which the commit
   * thread logs in this transaction (`rejection_samples_evicted`, rejection-evidence.ts). The budget is
   * judged on a SUM() over the rows, never on a total the file holds; the running total only says when a
   * SUM() is due. The newest row is never evicted: row ids then never go back, so the audit can tell an
   * evicted id from a deleted one.
   */
  #evictSamples(w: RejectionWrites): void {
    if (w.runningTotal.get()! <= this.#maxSampleBytes) return;
    const total = w.sum.get()!;
    // a running total off the rows (another connection changed them) is set right before it is relied on
    w.setRunningTotal?.run(total);
    if (total <= this.#maxSampleBytes) return;
    let excess = total - (this.#maxSampleBytes - Math.floor(this.#maxSampleBytes / 8));
    const newest = w.newest.get() ?? 0;
    let through = 0;
    let count = 0;
    let bytes = 0;
    scan: while (excess > 0) {
      const oldest = w.oldestAfter.all(through, 64);
      if (oldest.length === 0) break;
      for (const row of oldest) {
        if (row.row_id >= newest) break scan;
        through = row.row_id;
        count++;
        bytes += row.bytes;
        excess -= row.bytes;
        if (excess <= 0) break scan;
      }
    }
    if (count === 0) return;
    w.deleteThrough.run(through);
    w.journalEviction?.run(through, count, bytes, total, this.#maxSampleBytes, newest);
  }

  /** Highest stored per-device sequence number, per device (to resume numbering after restart). */
  lastSequences(): Map<string, number> {
    return new Map(this.#maxSeq.all().map((r) => [r.device_id, r.seq]));
  }

  query(q: ReadingQuery): StoredReading[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.deviceId !== undefined) where.push("device_id = ?") && args.push(q.deviceId);
    if (q.subjectId !== undefined) where.push("subject_id = ?") && args.push(q.subjectId);
    if (q.sinceMs !== undefined) where.push("received_at_ms >= ?") && args.push(q.sinceMs);
    if (q.afterRowId !== undefined) where.push("row_id > ?") && args.push(q.afterRowId);
    const sql = `SELECT * FROM readings ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY row_id${q.isNewestFirst ? " DESC" : ""} LIMIT ?`;
    args.push(q.limit ?? 1000);
    return (this.#prepared(sql).all(...args) as ReadingRow[]).map(toStored);
  }

  /** Read statements whose shape depends on the query: prepared once per distinct SQL text. */
  #prepared(sql: string): Statement {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  count(deviceId?: string): number {
    const row = (
      deviceId === undefined
        ? this.#prepared("SELECT COUNT(*) AS n FROM readings").get()
        : this.#prepared("SELECT COUNT(*) AS n FROM readings WHERE device_id = ?").get(deviceId)
    ) as { n: number };
    return row.n;
  }

  /** The sample rows, oldest first (of one device when given). */
  rejections(deviceId?: string): StoredRejection[] {
    const rows = (
      deviceId === undefined
        ? this.#prepared("SELECT * FROM rejections ORDER BY row_id").all()
        : this.#prepared("SELECT * FROM rejections WHERE device_id = ? ORDER BY row_id").all(deviceId)
    ) as Array<{
      row_id: number;
      device_id: string | null;
      received_at_ms: number;
      reason: string;
      detail: string;
      payload: Uint8Array | null;
    }>;
    return rows.map((r) => ({
      rowId: r.row_id,
      deviceId: r.device_id,
      receivedAtMs: r.received_at_ms,
      reason: r.reason,
      detail: r.detail,
      payload: r.payload,
    }));
  }

  /**
   * Refusal counts per device, reason and minute, oldest minute first: of every device (undefined), of
   * devices the gateway does not know (null), or of one device.
   */
  rejectionCounts(deviceId?: string | null): RejectionCount[] {
    const sql = "SELECT device_id, reason, minute, count FROM rejection_counts";
    const order = "ORDER BY minute, device_id, reason";
    const rows = (
      deviceId === undefined
        ? this.#prepared(`${sql} ${order}`).all()
        : this.#prepared(`${sql} WHERE device_id = ? ${order}`).all(deviceId ?? UNKNOWN_DEVICE)
    ) as Array<{ device_id: string; reason: string; minute: number; count: number }>;
    return rows.map((r) => ({
      deviceId: r.device_id === UNKNOWN_DEVICE ? null : r.device_id,
      reason: r.reason,
      minute: r.minute,
      count: r.count,
    }));
  }
}

/**
 * The rejection writes, prepared at the first one: a read-only connection (the CLI) may open a database
 * whose schema is older than these tables. On the commit thread's connection, the journal's running total
 * and eviction list exist (rejection-evidence.ts); elsewhere (tests, tools) the total is a SUM() each time
 * and evictions are not journaled.
 */
function prepareRejectionWrites(db: Db) {
  const isJournaled =
    db
      .prepare(
        "SELECT 1 FROM sqlite_temp_master WHERE type = 'table' AND name IN ('rejection_sample_total', 'rejection_journal_evictions')",
      )
      .all().length === 2;
  const sum = db
    .prepare<[], number>(`SELECT ifnull(SUM(${SAMPLE_BYTES_SQL}), 0) FROM main.rejections`)
    .pluck();
  return {
    insert: db.prepare(
      "INSERT INTO rejections (device_id, received_at_ms, reason, detail, payload) VALUES (?,?,?,?,?)",
    ),
    count: db.prepare(
      `INSERT INTO rejection_counts (device_id, reason, minute, count) VALUES (?,?,?,?)
         ON CONFLICT (device_id, reason, minute) DO UPDATE SET count = count + excluded.count`,
    ),
    sum,
    runningTotal: isJournaled
      ? db.prepare<[], number>("SELECT bytes FROM temp.rejection_sample_total WHERE id = 1").pluck()
      : sum,
    setRunningTotal: isJournaled
      ? db.prepare<[number]>("UPDATE temp.rejection_sample_total SET bytes = ? WHERE id = 1")
      : undefined,
    oldestAfter: db.prepare<[number, number], { row_id: number; bytes: number }>(
      `SELECT row_id, ${SAMPLE_BYTES_SQL} AS bytes FROM rejections WHERE row_id > ? ORDER BY row_id LIMIT ?`,
    ),
    newest: db.prepare<[], number>("SELECT max(row_id) FROM rejections").pluck(),
    deleteThrough: db.prepare("DELETE FROM rejections WHERE row_id <= ?"),
    journalEviction: isJournaled
      ? db.prepare<[number, number, number, number, number, number]>(
          `INSERT INTO temp.rejection_journal_evictions (through_id, count, bytes, total, budget, newest_id)
             VALUES (?, ?, ?, ?, ?, ?)`,
        )
      : undefined,
  };
}
type RejectionWrites = ReturnType<typeof prepareRejectionWrites>;

/** A refusal's detail cut to {@link MAX_SAMPLE_DETAIL_CHARS} UTF-16 units, never inside a surrogate pair. */
export function boundedDetail(text: string): string {
  if (text.length <= MAX_SAMPLE_DETAIL_CHARS) return text;
  const last = text.charCodeAt(MAX_SAMPLE_DETAIL_CHARS - 1);
  const isHighSurrogate = last >= 0xd800 && last <= 0xdbff;
  return text.slice(0, isHighSurrogate ? MAX_SAMPLE_DETAIL_CHARS - 1 : MAX_SAMPLE_DETAIL_CHARS);
}

/** A row of the `readings` table as SQLite returns it (snake_case columns). */
export interface ReadingRow {
  row_id: number;
  id: string;
  device_id: string;
  subject_id: string;
  device_seq: number;
  kind: string;
  loinc: string;
  value: number;
  unit: string;
  device_time_ms: number | null;
  observed_at_ms: number;
  received_at_ms: number;
  flags: string;
  mdc: number | null;
  leaf_index: number | null;
}

function toStored(r: ReadingRow): StoredReading {
  return {
    rowId: r.row_id,
    id: r.id,
    deviceId: r.device_id,
    subjectId: r.subject_id,
    seq: r.device_seq,
    kind: r.kind as VitalKind,
    loinc: r.loinc,
    value: r.value,
    unit: r.unit,
    deviceTimeMs: r.device_time_ms,
    observedAtMs: r.observed_at_ms,
    receivedAtMs: r.received_at_ms,
    flags: r.flags ? (r.flags.split(",") as ReadingFlag[]) : [],
    mdc: r.mdc,
  };
}
