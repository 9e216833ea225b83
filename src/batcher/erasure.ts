/**
 * Subject erasure by crypto-shredding (issue #3 §8). In one IMMEDIATE transaction:
 * 1. every key of the subject is destroyed (wrapped key and subject id set to NULL; a tombstone row
 *    keeps only the storage-key MAC tag, so the erasure can be confirmed by whoever knows the id);
 * 2. the subject's sealed records are dropped (they could not be opened anyway);
 * 3. the subject's plaintext rows in `readings` are deleted;
 * 4. a `subject_erased` audit event (tag, key ids, record count — no subject id) is appended to the log.
 * The tree is unchanged, so every other subject's proofs still verify. Then the freed space is zeroed
 * (secure_delete), the file rebuilt (VACUUM: also drops stale copies left by earlier deletes, e.g. of the
 * subject's device bindings) and the WAL checkpointed and truncated, so no copy of the key or of the
 * subject id stays in the database files.
 * Backups made before the erasure still hold the wrapped key: erase them per retention policy.
 */
import { GatewayError } from "../errors.js";
import type { Tlog } from "./open-tlog.js";

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
          data: { subject_tag: tag.toString("hex"), key_ids: keyIds, records: shredded },
        },
      ],
    );
    return { keyIds, records: shredded, readingsDeleted: deleted, eventId: eventIds[0]! };
  });
  const result = run.immediate();
  db.exec("VACUUM");
  db.pragma("wal_checkpoint(TRUNCATE)");
  return result;
}
