/**
 * Openings of the log's leaves, read back from storage (record-log.ts writes them):
 * - a reading's record is the canonical encoding of its `readings` row, at the row's `leaf_index`, with the
 *   salt derived from its subject's key and that index;
 * - an event's opening is sealed in `tlog_records` under its subject's (or the gateway's) key;
 * - an erased reading keeps only its entry in `tlog_erased`.
 * Used by proof bundles, the C2SP entry bundles, erasure and the audit.
 */

import type { Database, Statement } from "better-sqlite3";
import { GatewayError } from "../../errors.js";
import type { ReadingRow } from "../commit/reading-store.js";
import { readingRecordText } from "../verifier/canonical-record.js";
import { readingFromRow } from "./reading-record.js";
import { commitEntryWithNodeCrypto, openRecord } from "./record-crypto.js";
import type { SubjectKeys } from "./subject-keys.js";

/** The opening of one leaf: `entry = SHA-256(domain || salt || record)`. */
export interface LeafOpening {
  readonly type: "reading" | "event";
  readonly ref: string;
  readonly leafIndex: number;
  readonly salt: Buffer;
  readonly record: Buffer;
  readonly entry: Buffer;
}

/** A stored event (`tlog_records` row): its record and salt sealed under a subject key (null once erased). */
export interface EventRow {
  leaf_index: number;
  ref: string;
  key_id: number;
  entry: Uint8Array;
  sealed: Uint8Array | null;
}

/**
 * Opening a stored event, as both the proof path and the audit need it: the opening, or what stands in the
 * way. `no-key`: the record was shredded or its key is gone; `unauthentic`: the sealed bytes (or their leaf
 * index / entry binding) were changed; `entry-mismatch`: it opens, but to a record and salt that do not
 * commit to the stored entry. Throws only what `SubjectKeys.keyById` throws (a tampered key row).
 */
export type EventOpening =
  | { status: "opened"; opening: LeafOpening }
  | { status: "no-key" }
  | { status: "unauthentic" }
  | { status: "entry-mismatch"; record: Buffer };

export function openEvent(keys: SubjectKeys, row: EventRow): EventOpening {
  const key = row.sealed === null ? undefined : keys.keyById(row.key_id);
  if (row.sealed === null || key === undefined) return { status: "no-key" };
  const opened = openRecord(key, row.leaf_index, row.entry, row.sealed);
  if (opened === undefined) return { status: "unauthentic" };
  const salt = Buffer.from(opened.salt);
  const record = Buffer.from(opened.record);
  const entry = commitEntryWithNodeCrypto(salt, record);
  if (!entry.equals(row.entry)) return { status: "entry-mismatch", record };
  return {
    status: "opened",
    opening: { type: "event", ref: row.ref, leafIndex: row.leaf_index, salt, record, entry },
  };
}

/**
 * A reading row's opening at `leafIndex` (default: the row's own), or undefined when its subject has no
 * key (erased, or never logged).
 */
export function readingOpening(
  keys: SubjectKeys,
  row: ReadingRow,
  leafIndex = row.leaf_index,
): LeafOpening | undefined {
  if (leafIndex === null) return undefined;
  const key = keys.existingKeyFor(row.subject_id);
  if (key === undefined) return undefined;
  const salt = key.saltAt(leafIndex);
  const record = Buffer.from(readingRecordText(readingFromRow(row)), "utf8");
  return {
    type: "reading",
    ref: row.id,
    leafIndex,
    salt,
    record,
    entry: commitEntryWithNodeCrypto(salt, record),
  };
}

/** Read access to leaf openings over one connection. */
export class LeafOpenings {
  readonly #keys: SubjectKeys;
  readonly #reading: Statement<[string], ReadingRow>;
  readonly #event: Statement<[string], EventRow>;
  readonly #erased: Statement<[string], { leaf_index: number }>;
  readonly #readingIds: Statement<[number, number], { first_leaf: number; ids: string }>;
  readonly #eventEntries: Statement<[number, number], { leaf_index: number; entry: Uint8Array }>;
  readonly #erasedEntries: Statement<[number, number], { leaf_index: number; entry: Uint8Array }>;

  constructor(db: Database, keys: SubjectKeys) {
    this.#keys = keys;
    this.#reading = db.prepare("SELECT * FROM readings WHERE id = ?");
    this.#event = db.prepare("SELECT leaf_index, ref, key_id, entry, sealed FROM tlog_records WHERE ref = ?");
    this.#erased = db.prepare("SELECT leaf_index FROM tlog_erased WHERE ref = ?");
    this.#readingIds = db.prepare(
      `SELECT first_leaf, ids FROM tlog_reading_ids WHERE first_leaf < ?
         AND first_leaf >= coalesce((SELECT max(first_leaf) FROM tlog_reading_ids WHERE first_leaf <= ?), 0)
       ORDER BY first_leaf`,
    );
    this.#eventEntries = db.prepare(
      "SELECT leaf_index, entry FROM tlog_records WHERE leaf_index >= ? AND leaf_index < ?",
    );
    this.#erasedEntries = db.prepare(
      "SELECT leaf_index, entry FROM tlog_erased WHERE leaf_index >= ? AND leaf_index < ?",
    );
  }

  /** Leaf index of a reading or event, or undefined when the log does not hold it. */
  leafIndexOf(ref: string): number | undefined {
    return (
      this.#reading.get(ref)?.leaf_index ??
      this.#event.get(ref)?.leaf_index ??
      this.#erased.get(ref)?.leaf_index
    );
  }

  /**
   * The opening of a reading or event, as stored.
   * @throws GatewayError READING_UNKNOWN, SUBJECT_ERASED, INTEGRITY_FAILURE (stored data does not open, or
   *   a reading without a leaf: stored while the log was disabled or inserted behind the gateway's back;
   *   never appended unless an operator adopts it, see adopt-unlogged.ts).
   */
  byRef(ref: string): LeafOpening {
    const row = this.#reading.get(ref);
    if (row !== undefined) {
      if (row.leaf_index === null) {
        throw new GatewayError(
          "INTEGRITY_FAILURE",
          `reading ${ref} is not in the log (stored while the log was disabled, or inserted behind the gateway's back; see vitalog audit)`,
        );
      }
      const opening = readingOpening(this.#keys, row);
      if (opening === undefined) {
        throw new GatewayError(
          "INTEGRITY_FAILURE",
          `reading ${ref}: its subject has no key although the reading is stored (key modified or deleted)`,
        );
      }
      return opening;
    }
    const ev = this.#event.get(ref);
    if (ev === undefined) {
      if (this.#erased.get(ref) !== undefined) throw erased(ref);
      throw new GatewayError("READING_UNKNOWN", `no reading or event ${ref} in the log`);
    }
    const opened = openEvent(this.#keys, ev);
    switch (opened.status) {
      case "opened":
        return opened.opening;
      case "no-key":
        throw erased(ref);
      case "unauthentic":
        throw new GatewayError(
          "INTEGRITY_FAILURE",
          `event ${ref}: stored record does not authenticate (modified)`,
        );
      case "entry-mismatch":
        throw new GatewayError("INTEGRITY_FAILURE", `event ${ref}: stored record does not match its entry`);
    }
  }

  /**
   * The entries of leaves [start, end), or undefined when one of them cannot be produced from storage
   * (a reading row gone or modified out of place: `vitalog audit` names it).
   */
  entries(start: number, end: number): Uint8Array[] | undefined {
    const out: (Uint8Array | undefined)[] = new Array(end - start);
    for (const r of this.#eventEntries.iterate(start, end)) out[r.leaf_index - start] = r.entry;
    for (const r of this.#erasedEntries.iterate(start, end)) out[r.leaf_index - start] = r.entry;
    for (const batch of this.#readingIds.iterate(end, start)) {
      const ids = batch.ids.split(",");
      for (let k = 0; k < ids.length; k++) {
        const i = batch.first_leaf + k;
        if (i < start || i >= end || out[i - start] !== undefined) continue;
        const row = this.#reading.get(ids[k]!);
        if (row === undefined || row.leaf_index !== i) return undefined;
        out[i - start] = readingOpening(this.#keys, row)?.entry;
      }
    }
    for (const e of out) if (e === undefined) return undefined; // for…of visits holes too
    return out as Uint8Array[];
  }
}

function erased(ref: string): GatewayError {
  return new GatewayError(
    "SUBJECT_ERASED",
    `reading ${ref}: its subject was erased; the opening no longer exists`,
  );
}
