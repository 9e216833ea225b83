/**
 * `vitalog audit` beyond the tree: every table a person or a report relies on, compared with the log's
 * events (one pass over them in log order, then one comparison per table):
 * alert transitions and current alert state (audit-alerts.ts), the durable sinks' outbox (audit-outbox.ts),
 * clinician observations
 * (audit-observations.ts), device bindings and the readings' subjects (audit-devices.ts), rejection evidence
 * (audit-rejections.ts), what erasures shredded (audit-erasures.ts), the user store (audit-users.ts), and the
 * configuration in force and the per-subject limit changes (audit-rules.ts);
 * the same pass lists what operators adopted (audit-adoptions.ts). MUST run inside the caller's read
 * transaction, so the tables and the log are one snapshot even while the gateway commits; it writes only
 * temporary tables, which it drops.
 */
import type { Database } from "better-sqlite3";
import { AdoptionList, type DeviceAdoption, type RejectionAdoption } from "./audit-adoptions.js";
import { alertTablesCheck } from "./audit-alerts.js";
import { devicesCheck } from "./audit-devices.js";
import { erasuresCheck } from "./audit-erasures.js";
import { ErasedSubjects, scanLoggedEvents } from "./audit-events.js";
import type { AddFinding, TableCoverage } from "./audit-findings.js";
import { observationsCheck } from "./audit-observations.js";
import { type OutboxAuditOptions, outboxCheck } from "./audit-outbox.js";
import { rejectionsCheck } from "./audit-rejections.js";
import { rulesInForceCheck, subjectLimitsCheck } from "./audit-rules.js";
import { usersCheck } from "./audit-users.js";
import type { SubjectKeys } from "./subject-keys.js";

/** What the table checks covered, and the adoptions they saw. */
export interface TablesAudit {
  readonly tables: TableCoverage[];
  readonly deviceAdoptions: DeviceAdoption[];
  readonly rejectionAdoptions: RejectionAdoption[];
}

/** What the table checks need beyond the database (default: the time of the audit is now). */
export type TablesAuditOptions = Partial<OutboxAuditOptions>;

/** Runs the table checks; returns what each table's comparison covered and the adoptions listed. */
export function auditTables(
  db: Database,
  keys: SubjectKeys,
  add: AddFinding,
  opts: TablesAuditOptions = {},
): TablesAudit {
  const erased = new ErasedSubjects(db, keys);
  const adoptions = new AdoptionList();
  const checks = [
    alertTablesCheck(db, erased),
    outboxCheck(db, erased, { nowMs: opts.nowMs ?? Date.now() }),
    observationsCheck(db, erased),
    devicesCheck(db),
    rejectionsCheck(db),
    erasuresCheck(db),
    usersCheck(db),
    rulesInForceCheck(db, keys),
    subjectLimitsCheck(db, erased),
  ];
  try {
    scanLoggedEvents(db, keys, (e) => {
      adoptions.onEvent(e);
      for (const c of checks) {
        try {
          c.onEvent(e);
        } catch (err) {
          // an authentic event the replay cannot use (the gateway never logs one): named, the rest goes on
          add({
            kind: "table_unreadable",
            ref: e.ref,
            leafIndex: e.leafIndex,
            detail: `logged ${e.type} event cannot be replayed: ${(err as Error).message}`,
          });
        }
      }
    });
    return {
      tables: checks.flatMap((c) => c.finish(add)),
      deviceAdoptions: adoptions.devices,
      rejectionAdoptions: adoptions.rejections,
    };
  } finally {
    for (const t of db
      .prepare(
        "SELECT name FROM sqlite_temp_master WHERE type = 'table' AND name LIKE 'audit\\_%' ESCAPE '\\'",
      )
      .pluck()
      .all() as string[])
      db.exec(`DROP TABLE temp.${t}`);
  }
}
