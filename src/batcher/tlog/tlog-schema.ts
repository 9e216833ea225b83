import type { Database } from "better-sqlite3";
import { GatewayError } from "../../errors.js";

/**
 * Tables of the tamper-evident log beyond the hash store (migration 4; the tile hashes are migration 3,
 * tile-store.ts). Local storage only: nothing here is published except entries (tiles/entry bundles)
 * and checkpoint notes.
 *
 * - `tlog_meta`: the log's fixed identity (origin) and a check value of the storage key.
 * - `tlog_signing_keys`: every verifier key (vkey) the log ever signed with (rotation history).
 * - `tlog_subject_keys`: one AES-256 key per subject, wrapped by the storage key; erasure sets
 *   `subject_id` and `wrapped_key` to NULL (crypto-shredding) and keeps the row as a tombstone.
 * - Readings are not copied: a reading's record is the canonical encoding of its `readings` row, which
 *   carries its `leaf_index`, and its salt is derived from the subject key and the leaf index
 *   (record-crypto.ts `saltDeriver`), so the log adds no row per reading.
 * - `tlog_reading_ids`: per group commit, the ids of the readings at leaves `first_leaf`, `first_leaf+1`, …
 *   (comma-separated): an independent map from leaf to reading, so `audit` can name a reading whose row was
 *   deleted or moved. Append-only.
 * - `tlog_records`: per event leaf, the 32-byte entry and the sealed opening (salt ‖ canonical record) under
 *   the subject's key (or the gateway's); `ref` is the event id. `sealed` is NULL once the subject is erased.
 * - `tlog_erased`: per leaf of an erased subject's reading, its id, the entry (kept so the tree's entries
 *   can still be served and checked against the leaf hashes) and the id of the destroyed key.
 * - `tlog_checkpoints`: every signed checkpoint note, by tree size.
 *
 * Triggers make records and checkpoints append-only against bugs (not against an attacker with the
 * file: that is what `vitalog audit` and signed checkpoints are for).
 */
export const TLOG_RECORDS_MIGRATION = `
CREATE TABLE tlog_meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  origin TEXT NOT NULL,
  storage_key_check BLOB NOT NULL,
  created_at_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE tlog_signing_keys (
  key_id TEXT PRIMARY KEY,
  vkey TEXT NOT NULL UNIQUE,
  added_at_ms INTEGER NOT NULL,
  retired_at_ms INTEGER
) STRICT;
CREATE TABLE tlog_subject_keys (
  key_id INTEGER PRIMARY KEY,
  subject_id TEXT UNIQUE,
  subject_tag BLOB NOT NULL,
  wrapped_key BLOB,
  created_at_ms INTEGER NOT NULL,
  erased_at_ms INTEGER,
  CHECK ((erased_at_ms IS NULL) = (wrapped_key IS NOT NULL)),
  CHECK (erased_at_ms IS NULL OR subject_id IS NULL)
) STRICT;
CREATE INDEX tlog_subject_keys_by_tag ON tlog_subject_keys (subject_tag);
CREATE TABLE tlog_reading_ids (
  first_leaf INTEGER PRIMARY KEY CHECK (first_leaf >= 0),
  ids TEXT NOT NULL
) STRICT;
CREATE TABLE tlog_erased (
  leaf_index INTEGER PRIMARY KEY CHECK (leaf_index >= 0),
  ref TEXT NOT NULL UNIQUE,
  key_id INTEGER NOT NULL,
  entry BLOB NOT NULL CHECK (length(entry) = 32)
) STRICT;
CREATE TABLE tlog_records (
  leaf_index INTEGER PRIMARY KEY,
  ref TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL CHECK (type = 'event'),
  key_id INTEGER NOT NULL,
  entry BLOB NOT NULL CHECK (length(entry) = 32),
  sealed BLOB
) STRICT;
CREATE TABLE tlog_checkpoints (
  size INTEGER PRIMARY KEY CHECK (size >= 0),
  root BLOB NOT NULL CHECK (length(root) = 32),
  note TEXT NOT NULL,
  key_id TEXT NOT NULL,
  signed_at_ms INTEGER NOT NULL
) STRICT;
CREATE TRIGGER tlog_records_no_delete BEFORE DELETE ON tlog_records
  BEGIN SELECT RAISE(ABORT, 'tlog_records is append-only'); END;
CREATE TRIGGER tlog_records_only_shred BEFORE UPDATE ON tlog_records
  WHEN NEW.leaf_index IS NOT OLD.leaf_index OR NEW.ref IS NOT OLD.ref OR NEW.type IS NOT OLD.type
    OR NEW.key_id IS NOT OLD.key_id OR NEW.entry IS NOT OLD.entry OR NEW.sealed IS NOT NULL
  BEGIN SELECT RAISE(ABORT, 'tlog_records only allows shredding (sealed = NULL)'); END;
CREATE TRIGGER tlog_reading_ids_no_delete BEFORE DELETE ON tlog_reading_ids
  BEGIN SELECT RAISE(ABORT, 'tlog_reading_ids is append-only'); END;
CREATE TRIGGER tlog_reading_ids_no_update BEFORE UPDATE ON tlog_reading_ids
  BEGIN SELECT RAISE(ABORT, 'tlog_reading_ids is append-only'); END;
CREATE TRIGGER tlog_erased_no_update BEFORE UPDATE ON tlog_erased
  BEGIN SELECT RAISE(ABORT, 'tlog_erased is append-only'); END;
CREATE TRIGGER tlog_erased_no_delete BEFORE DELETE ON tlog_erased
  BEGIN SELECT RAISE(ABORT, 'tlog_erased is append-only'); END;
CREATE TRIGGER tlog_checkpoints_no_update BEFORE UPDATE ON tlog_checkpoints
  BEGIN SELECT RAISE(ABORT, 'tlog_checkpoints is append-only'); END;
CREATE TRIGGER tlog_checkpoints_no_delete BEFORE DELETE ON tlog_checkpoints
  BEGIN SELECT RAISE(ABORT, 'tlog_checkpoints is append-only'); END;
`;

/**
 * Refuses a database written by a pre-release build (the first log format: `tlog_hashes` rows and a
 * sealed copy of every reading), whose schema carries the same migration numbers. Nothing of that
 * format was ever released, so there is no conversion: start with an empty state directory.
 * @throws GatewayError MIGRATION_FAILED
 */
export function assertCurrentLogFormat(db: Database): void {
  const hasOldTree = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'tlog_hashes'").get() !== undefined;
  const columns = db.prepare("SELECT name FROM pragma_table_info('readings')").pluck().all() as string[];
  if (hasOldTree || (columns.length > 0 && !columns.includes("leaf_index"))) {
    throw new GatewayError(
      "MIGRATION_FAILED",
      "this database was written by a pre-release build of Vitalog (log format before 0.1.0, never released) " +
        "and cannot be converted: move the state directory aside and start with an empty one",
    );
  }
}
