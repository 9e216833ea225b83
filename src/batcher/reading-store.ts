import type { Statement } from "better-sqlite3";
import type { Db } from "../db.js";
import type { Reading, ReadingFlag, VitalKind } from "../reading.js";

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

/** A refused frame or record, kept for forensics: nothing a device sent is silently dropped. */
export interface RejectionRecord {
  deviceId: string | null;
  receivedAtMs: number;
  reason: string;
  detail: string;
  /** The raw payload (truncated by the caller), when useful. */
  payload: Uint8Array | null;
}

export interface ReadingQuery {
  deviceId?: string | undefined;
  subjectId?: string | undefined;
  /** Only readings received at or after this time. */
  sinceMs?: number | undefined;
  /** Only readings stored after this row (for tailing). */
  afterRowId?: number | undefined;
  limit?: number | undefined;
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
  readonly #insertRejection;
  readonly #maxSeq;
  readonly #db: Db;
  readonly #statements = new Map<string, Statement>();

  constructor(db: Db) {
    this.#db = db;
    this.#insert = db.prepare(
      `INSERT INTO readings (id, device_id, subject_id, device_seq, kind, loinc, value, unit, device_time_ms,
         observed_at_ms, received_at_ms, flags, mdc, leaf_index) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
         ON CONFLICT DO NOTHING`,
    );
    this.#insertRejection = db.prepare(
      "INSERT INTO rejections (device_id, received_at_ms, reason, detail, payload) VALUES (?,?,?,?,?)",
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

  insertRejection(r: RejectionRecord): void {
    this.#insertRejection.run(r.deviceId, r.receivedAtMs, r.reason, r.detail, r.payload);
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
    const sql = `SELECT * FROM readings ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY row_id LIMIT ?`;
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

  rejections(deviceId?: string): Array<RejectionRecord & { rowId: number }> {
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
