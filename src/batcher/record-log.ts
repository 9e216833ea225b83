/**
 * The writer of the tamper-evident log: turns stored readings and audit events into salted commitments,
 * appends their leaf hashes to the tiled Merkle tree and stores each opening sealed under its subject's
 * key — all inside the caller's group-commit transaction, so an entry is in the tree exactly when its
 * reading is durable (issue #3 §2).
 *
 * Contract:
 * - `append` MUST run inside `db.transaction` (it throws otherwise) and never awaits; a throw rolls the
 *   whole commit back (readings included): the integrity path fails loudly, never silently.
 * - Leaves are appended in call order: the batch's readings (in storage order), then its events.
 * - Several processes may append to one database (gateway, `vitalog subjects erase`, `devices`): the next
 *   leaf index is read from the stored tree state inside the transaction.
 */
import { randomBytes } from "node:crypto";
import type { Database, Statement } from "better-sqlite3";
import { GatewayError } from "../errors.js";
import { UlidFactory } from "../ids.js";
import {
  type EventRecordFields,
  eventRecordText,
  type ReadingRecordFields,
  readingRecordText,
} from "./canonical-record.js";
import { SALT_BYTES } from "./commitment.js";
import type { ReadingRow } from "./reading-store.js";
import { commitEntryFast, leafHashFast, nodeHashFast, sealRecord, storageMac } from "./record-crypto.js";
import { GATEWAY_SUBJECT, SubjectKeys } from "./subject-keys.js";
import { TileStore } from "./tile-store.js";

/** An auditable event as handed to the log (same shape as the gateway's `AuditEvent`). */
export interface LogEvent {
  type: string;
  atMs: number;
  subjectId: string | null;
  deviceId: string | null;
  data: Readonly<Record<string, unknown>>;
}

const KEY_CHECK_LABEL = "vitalog/storage-key-check/v1";
const NONCE_BYTES = 12;

/** Result of one append. */
export interface AppendResult {
  readonly firstIndex: number;
  readonly size: number;
  /** Ids of the appended events, in order. */
  readonly eventIds: readonly string[];
}

/** Appends records to the log over one connection (see the module contract). */
export class RecordLog {
  readonly tiles: TileStore;
  readonly keys: SubjectKeys;
  readonly #db: Database;
  readonly #insert: Statement<[number, string, string, number, Buffer, Buffer]>;
  readonly #ids = new UlidFactory();
  readonly #now: () => number;

  constructor(db: Database, storageKey: Buffer, opts: { now?: () => number } = {}) {
    this.#db = db;
    this.tiles = new TileStore(db, { nodeHash: nodeHashFast });
    this.keys = new SubjectKeys(db, storageKey);
    this.#now = opts.now ?? Date.now;
    this.#insert = db.prepare(
      "INSERT INTO tlog_records (leaf_index, ref, type, key_id, entry, sealed) VALUES (?, ?, ?, ?, ?, ?)",
    );
  }

  /**
   * Fixes the log's identity on first use and checks it afterwards: the origin never changes and the
   * storage key must be the one the subject keys were wrapped with.
   */
  static checkIdentity(db: Database, origin: string, storageKey: Buffer, nowMs: number): void {
    const check = storageMac(storageKey, KEY_CHECK_LABEL, "");
    const row = db.prepare("SELECT origin, storage_key_check FROM tlog_meta WHERE id = 1").get() as
      | { origin: string; storage_key_check: Uint8Array }
      | undefined;
    if (row === undefined) {
      db.prepare(
        "INSERT INTO tlog_meta (id, origin, storage_key_check, created_at_ms) VALUES (1, ?, ?, ?)",
      ).run(origin, check, nowMs);
      return;
    }
    if (row.origin !== origin) {
      throw new GatewayError(
        "CONFIG_INVALID",
        `gateway.origin is ${origin} but this database's log has origin ${row.origin}; a log's origin never changes`,
      );
    }
    if (!check.equals(row.storage_key_check)) {
      throw new GatewayError(
        "INTEGRITY_FAILURE",
        "the storage key file does not match this database (wrong or replaced storage key)",
      );
    }
  }

  /** Appends readings then events (see the module contract). */
  append(readings: readonly ReadingRecordFields[], events: readonly LogEvent[]): AppendResult {
    if (!this.#db.inTransaction) throw new TypeError("RecordLog.append must run inside db.transaction()");
    const count = readings.length + events.length;
    if (count === 0) return { firstIndex: this.tiles.size(), size: this.tiles.size(), eventIds: [] };
    this.keys.revalidate();
    const nowMs = this.#now();
    const firstIndex = this.tiles.size();
    const random = randomBytes(count * (SALT_BYTES + NONCE_BYTES));
    const leaves: Buffer[] = new Array(count);
    const eventIds: string[] = [];
    let i = 0;
    const add = (ref: string, type: "reading" | "event", subject: string, text: string) => {
      const record = Buffer.from(text, "utf8");
      const off = i * (SALT_BYTES + NONCE_BYTES);
      const salt = random.subarray(off, off + SALT_BYTES);
      const nonce = random.subarray(off + SALT_BYTES, off + SALT_BYTES + NONCE_BYTES);
      const entry = commitEntryFast(salt, record);
      const { keyId, key } = this.keys.keyFor(subject, nowMs);
      const index = firstIndex + i;
      this.#insert.run(
        index,
        ref,
        type,
        keyId,
        entry,
        sealRecord(key, index, entry, { salt, record }, nonce),
      );
      leaves[i++] = leafHashFast(entry);
    };
    for (const r of readings) add(r.id, "reading", r.subjectId, readingRecordText(r));
    for (const e of events) {
      const id = `evt-${this.#ids.next(e.atMs)}`;
      eventIds.push(id);
      const fields: EventRecordFields = {
        id,
        event: e.type,
        atMs: e.atMs,
        subjectId: e.subjectId,
        deviceId: e.deviceId,
        data: e.data,
      };
      add(id, "event", e.subjectId ?? GATEWAY_SUBJECT, eventRecordText(fields));
    }
    const { size } = this.tiles.append(leaves);
    return { firstIndex, size, eventIds };
  }

  /**
   * Appends every stored reading that has no log record yet, in storage order (readings stored before
   * the log was enabled, or while it was disabled). MUST run inside `db.transaction`.
   */
  backfill(batch = 4096): number {
    const select = this.#db.prepare(
      `SELECT id, device_id, subject_id, device_seq, kind, loinc, value, unit, device_time_ms,
         observed_at_ms, received_at_ms, flags, mdc FROM readings
       WHERE NOT EXISTS (SELECT 1 FROM tlog_records t WHERE t.ref = readings.id) ORDER BY row_id LIMIT ?`,
    );
    let total = 0;
    for (;;) {
      const rows = select.all(batch) as ReadingRow[];
      if (rows.length === 0) return total;
      this.append(rows.map(readingFromRow), []);
      total += rows.length;
    }
  }
}

/** The columns of a `readings` row the log needs (see reading-store.ts). */
export type { ReadingRow } from "./reading-store.js";

/** The record fields of a stored reading row (flags are stored comma-joined). */
export function readingFromRow(r: Omit<ReadingRow, "row_id">): ReadingRecordFields {
  return {
    id: r.id,
    deviceId: r.device_id,
    subjectId: r.subject_id,
    seq: r.device_seq,
    kind: r.kind,
    loinc: r.loinc,
    value: r.value,
    unit: r.unit,
    mdc: r.mdc,
    deviceTimeMs: r.device_time_ms,
    observedAtMs: r.observed_at_ms,
    receivedAtMs: r.received_at_ms,
    flags: r.flags ? r.flags.split(",") : [],
  };
}
