/**
 * The writer of the tamper-evident log: turns stored readings and audit events into salted commitments
 * and appends their leaf hashes to the tiled Merkle tree, inside the caller's group-commit transaction,
 * so an entry is in the tree exactly when its reading is durable (docs/tamper-evident-log.md, "How it works").
 *
 * Readings cost no extra row: the record is the canonical encoding of the reading's own `readings` row
 * (which carries its `leaf_index`), the salt is derived from the subject key and the leaf index
 * (record-crypto.ts `saltDeriver`), and one `tlog_reading_ids` row per commit maps the batch's leaves to
 * reading ids. Events, which have no table of their own, are stored sealed in `tlog_records`.
 *
 * Contract:
 * - `append` MUST run inside `db.transaction` (it throws otherwise) and never awaits; a throw rolls the
 *   whole commit back (readings included): the integrity path fails loudly, never silently.
 * - The readings passed to `append` MUST have been stored at leaf indexes size, size+1, … in order
 *   (the commit thread numbers them from the tlog writer's `nextLeaf`); their leaves come first, then the events'.
 * - Several processes may append to one database (gateway, `vitalog subjects erase`, `devices`): the next
 *   leaf index is read from the stored tree state inside the transaction.
 */
import { randomBytes } from "node:crypto";
import type { Database, Statement } from "better-sqlite3";
import { GatewayError } from "../../errors.js";
import { UlidFactory } from "../../ids.js";
import { eventRecordText, type ReadingRecordFields } from "../verifier/canonical-record.js";
import { SALT_BYTES } from "../verifier/commitment.js";
import { LeafOpenings } from "./leaf-openings.js";
import {
  commitEntryWithNodeCrypto,
  leafHashOfReadingInto,
  leafHashWithNodeCrypto,
  nodeHashWithNodeCrypto,
  sealRecord,
  storageMac,
} from "./record-crypto.js";
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
  readonly openings: LeafOpenings;
  readonly #db: Database;
  readonly #insert: Statement<[number, string, string, number, Buffer, Buffer]>;
  readonly #insertIds: Statement<[number, string]>;
  readonly #ids = new UlidFactory();
  readonly #now: () => number;

  constructor(db: Database, storageKey: Buffer, opts: { now?: () => number } = {}) {
    this.#db = db;
    this.tiles = new TileStore(db, { nodeHash: nodeHashWithNodeCrypto });
    this.keys = new SubjectKeys(db, storageKey);
    this.openings = new LeafOpenings(db, this.keys);
    this.#now = opts.now ?? Date.now;
    this.#insert = db.prepare(
      "INSERT INTO tlog_records (leaf_index, ref, type, key_id, entry, sealed) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#insertIds = db.prepare("INSERT INTO tlog_reading_ids (first_leaf, ids) VALUES (?, ?)");
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
    // the batch's leaf hashes, packed: readings' first, then events'
    const leaves = Buffer.allocUnsafe(count * 32);
    const salts = this.#readingSalts(readings, firstIndex, nowMs);
    for (let i = 0; i < readings.length; i++)
      leafHashOfReadingInto(salts, i * 32, readings[i]!, leaves, i * 32);
    if (readings.length > 0) this.#insertIds.run(firstIndex, readings.map((r) => r.id).join(","));
    const eventIds: string[] = [];
    const random = randomBytes(events.length * (SALT_BYTES + NONCE_BYTES));
    for (let k = 0; k < events.length; k++) {
      const e = events[k]!;
      const id = `evt-${this.#ids.next(e.atMs)}`;
      eventIds.push(id);
      const record = Buffer.from(
        eventRecordText({
          id,
          event: e.type,
          atMs: e.atMs,
          subjectId: e.subjectId,
          deviceId: e.deviceId,
          data: e.data,
        }),
        "utf8",
      );
      const off = k * (SALT_BYTES + NONCE_BYTES);
      const salt = random.subarray(off, off + SALT_BYTES);
      const nonce = random.subarray(off + SALT_BYTES, off + SALT_BYTES + NONCE_BYTES);
      const entry = commitEntryWithNodeCrypto(salt, record);
      const { keyId, key } = this.keys.keyFor(e.subjectId ?? GATEWAY_SUBJECT, nowMs);
      const index = firstIndex + readings.length + k;
      this.#insert.run(
        index,
        id,
        "event",
        keyId,
        entry,
        sealRecord(key, index, entry, { salt, record }, nonce),
      );
      leafHashWithNodeCrypto(entry).copy(leaves, (readings.length + k) * 32);
    }
    const { size } = this.tiles.append(leaves);
    return { firstIndex, size, eventIds };
  }

  /** The salts of the batch's readings (leaves firstIndex…), one AES call per subject. */
  #readingSalts(readings: readonly ReadingRecordFields[], firstIndex: number, nowMs: number): Buffer {
    const bySubject = new Map<string, number[]>();
    for (let i = 0; i < readings.length; i++) {
      const s = readings[i]!.subjectId;
      const list = bySubject.get(s);
      if (list) list.push(i);
      else bySubject.set(s, [i]);
    }
    const out = Buffer.allocUnsafe(readings.length * 32);
    for (const [subject, positions] of bySubject) {
      const salts = this.keys.keyFor(subject, nowMs).saltsAt(positions.map((i) => firstIndex + i));
      for (let k = 0; k < positions.length; k++) salts.copy(out, positions[k]! * 32, k * 32, k * 32 + 32);
    }
    return out;
  }
}
