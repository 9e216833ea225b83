import { ANCHOR_MIGRATION } from "./anchor/publisher-store.js";
import { READING_STORE_SQL, REJECTION_BOUNDS_MIGRATION } from "./batcher/commit/reading-store.js";
import {
  REJECTION_EVIDENCE_MIGRATION,
  REJECTION_JOURNAL_MIGRATION,
} from "./batcher/commit/rejection-evidence.js";
import { TILE_STORE_MIGRATION } from "./batcher/tlog/tile-store.js";
import { TLOG_RECORDS_MIGRATION } from "./batcher/tlog/tlog-schema.js";
import type { Migration } from "./db.js";
import { DEVICE_REGISTRY_SQL } from "./drivers/device-registry.js";
import { RULES_IN_FORCE_SQL } from "./rules/rules-in-force-writer.js";
import { ALERT_STORE_SQL } from "./rules/sinks/alert-store.js";
import { SUBJECT_LIMITS_SQL } from "./rules/subject-limits-sql.js";
import { USER_STORE_SQL } from "./users/user-store.js";

/**
 * Every schema step, in order. Append only: a released migration is never edited or renumbered.
 * Each module owns its tables and exports their SQL; this list only fixes the order.
 */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "devices", sql: DEVICE_REGISTRY_SQL },
  { version: 2, name: "readings and rejections", sql: READING_STORE_SQL },
  { version: 3, name: "merkle log hashes (tlog-tiles)", sql: TILE_STORE_MIGRATION },
  { version: 4, name: "tlog records, subject keys, signing keys, checkpoints", sql: TLOG_RECORDS_MIGRATION },
  { version: 5, name: "anchor_publisher", sql: ANCHOR_MIGRATION },
  { version: 6, name: "alerts, alert outbox, clinician observations", sql: ALERT_STORE_SQL },
  {
    version: 7,
    name: "rejection counts per minute, rejection samples under a byte budget",
    sql: REJECTION_BOUNDS_MIGRATION,
  },
  {
    version: 8,
    name: "rejection evidence in the log: counts' logged part, sample seal and eviction state",
    sql: REJECTION_EVIDENCE_MIGRATION,
  },
  { version: 9, name: "rules_in_force: the last recorded configuration per scope", sql: RULES_IN_FORCE_SQL },
  {
    version: 10,
    name: "rejection evidence: sealing and eviction state and the sample byte total leave the file",
    sql: REJECTION_JOURNAL_MIGRATION,
  },
  { version: 11, name: "users: the staff who act on alarms, with a role", sql: USER_STORE_SQL },
  {
    version: 12,
    name: "subject_limits: a patient's own alarm limits, changed with who and why",
    sql: SUBJECT_LIMITS_SQL,
  },
  // 4: records/subject keys/events (tamper-evident log), 5: anchors, 6: alerts — assigned, in this order
];
