/**
 * Subject erasure by crypto-shredding (issue #3 §8). In one IMMEDIATE transaction:
 * 1. each logged reading of the subject leaves its id, entry (a salted commitment that reveals nothing
 *    once the salt is gone) and key id in `tlog_erased`, so the tree's entries can still be served and
 *    the audit can tell an erased leaf from a deleted one;
 * 2. the subject's rows in `readings` are deleted and its sealed event records dropped;
 * 3. every key of the subject is destroyed (wrapped key and subject id set to NULL; a tombstone row
 *    keeps only the storage-key MAC tag, so the erasure can be confirmed by whoever knows the id) —
 *    with it every salt of the subject, which was derived from it;
 * 4. a `subject_erased` audit event (tag, key ids, counts — no subject id) is appended to the log.
 * The tree is unchanged, so every other subject's proofs still verify. Then the freed space is zeroed
 * (secure_delete), the file rebuilt (VACUUM: also drops stale copies left by earlier deletes, e.g. of the
 * subject's device bindings) and the WAL checkpointed and truncated, so no copy of the key or of the
 * subject id stays in the database files.
 * Backups made before the erasure still hold the wrapped key: erase them per retention policy.
 */
import { GatewayError } from "../errors.js";
import { readingOpening } from "./leaf-openings.js";
import type { Tlog } from "./open-tlog.js";
import type { ReadingRow } from "./reading-store.js";

export interface ErasureResult {
  readonly keyIds: readonly number[];
  readonly records: number;
  readonly readingsDeleted: number;
  readonly eventId: string;
}

/** Erases `subjectId`. @throws SUBJECT_UNKNOWN, SUBJECT_ERASED (already erased), DEVICE_EXISTS (still bound). */
export function eraseSubject(tlog: Tlog, subjectId: string, nowMs: number): ErasureResult {
  const { db, records } = tlog;
  db.pragma("secure_delete = ON");
  const run = db.transaction((): ErasureResult => {
    const bound = db
      .prepare("SELECT id FROM devices WHERE subject_id = ?")
      .pluck()
      .all(subjectId) as string[];
    if (bound.length > 0) {
      throw new GatewayError(
        "DEVICE_EXISTS",
        `device(s) ${bound.join(", ")} still bound to the subject; remove them first (vitalog devices remove)`,
      );
    }
    const tag = records.keys.tag(subjectId);
    const key = records.keys.existingKeyFor(subjectId);
    let readingLeaves = 0;
    if (key !== undefined) {
      const keep = db.prepare("INSERT INTO tlog_erased (leaf_index, ref, key_id, entry) VALUES (?, ?, ?, ?)");
      const rows = db
        .prepare("SELECT * FROM readings WHERE subject_id = ? AND leaf_index IS NOT NULL")
        .all(subjectId) as ReadingRow[];
      for (const row of rows) {
        const opening = readingOpening(records.keys, row)!;
        keep.run(opening.leafIndex, row.id, key.keyId, opening.entry);
      }
      readingLeaves = rows.length;
    }
    const keyIds = records.keys.erase(subjectId, nowMs);
    if (keyIds.length === 0) {
      const before = db
        .prepare("SELECT 1 FROM tlog_subject_keys WHERE subject_tag = ? AND erased_at_ms IS NOT NULL")
        .get(tag);
      if (before) throw new GatewayError("SUBJECT_ERASED", "subject was already erased");
      throw new GatewayError("SUBJECT_UNKNOWN", "no records of this subject in the log");
    }
    const marks = keyIds.map(() => "?").join(",");
    const shredded = db
      .prepare(`UPDATE tlog_records SET sealed = NULL WHERE key_id IN (${marks})`)
      .run(...keyIds).changes;
    const deleted = db.prepare("DELETE FROM readings WHERE subject_id = ?").run(subjectId).changes;
    const { eventIds } = records.append(
      [],
      [
        {
          type: "subject_erased",
          atMs: nowMs,
          subjectId: null,
          deviceId: null,
          data: {
            subject_tag: tag.toString("hex"),
            key_ids: keyIds,
            records: shredded + readingLeaves,
            readings: readingLeaves,
          },
        },
      ],
    );
    return { keyIds, records: shredded + readingLeaves, readingsDeleted: deleted, eventId: eventIds[0]! };
  });
  const result = run.immediate();
  db.exec("VACUUM");
  db.pragma("wal_checkpoint(TRUNCATE)");
  return result;
}
