/**
 * The `subject_limits` table and its log event's name (subject-limits.ts has the store and its contract).
 * Kept apart and free of imports: the migrations list, loaded in the commit thread, and the audit read it.
 *
 * `subject_limits` (STRICT), one row per subject and vital: `limits` is the override as stored (RFC 8785 JSON,
 * the config file's field names), `changed_by`, `reason` and `changed_at_ms` of the last change.
 */
import type { Db } from "../db.js";

export const SUBJECT_LIMITS_SQL = `
CREATE TABLE subject_limits (
  subject_id TEXT NOT NULL,
  vital TEXT NOT NULL,
  limits TEXT NOT NULL,
  changed_by TEXT NOT NULL,
  reason TEXT NOT NULL,
  changed_at_ms INTEGER NOT NULL,
  PRIMARY KEY (subject_id, vital)
) STRICT;
`;

/** The log event of a change (wire string). */
export const SUBJECT_LIMITS_CHANGED = "subject_limits_changed";

/**
 * Deletes every stored limit of a subject, for an erasure (the row names the subject in clear); returns how
 * many rows went. Run inside the erasure's transaction.
 */
export function purgeSubjectLimits(db: Db, subjectId: string): number {
  return db.prepare("DELETE FROM subject_limits WHERE subject_id = ?").run(subjectId).changes;
}
