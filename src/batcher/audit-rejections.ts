/**
 * `vitalog audit`: the rejection evidence (`rejections` samples, `rejection_counts`) against the log's
 * `rejection_evidence_sealed`, `rejection_samples_evicted` and `rejection_counts_pruned` events
 * (rejection-evidence.ts), replayed in log order:
 * - counts: the sum of the sealed increases per (device, reason, minute), minus the pruned minutes, must
 *   equal each row's `logged` part (a count lowered, raised, deleted or inserted is named), and a prune
 *   must have removed exactly what the log had sealed for those minutes;
 * - samples: every sealed sample above the logged eviction must be there with its digest; no row may sit at
 *   or below the eviction (ids never go back), nor inside a sealed range without having been sealed.
 * Increases and samples newer than the last seal are pending (reported, not findings).
 */
import type { Database } from "better-sqlite3";
import type { LoggedEvent } from "./audit-events.js";
import type { AddFinding, TableCheck, TableCoverage } from "./audit-findings.js";
import {
  REJECTION_COUNTS_PRUNED,
  REJECTION_EVIDENCE_SEALED,
  REJECTION_SAMPLES_EVICTED,
  type SampleRow,
  sampleDigest,
} from "./rejection-evidence.js";

const SETUP = `
DROP TABLE IF EXISTS temp.audit_rejection_counts;
DROP TABLE IF EXISTS temp.audit_rejection_samples;
CREATE TEMP TABLE audit_rejection_counts (
  device_id TEXT NOT NULL, reason TEXT NOT NULL, minute INTEGER NOT NULL, logged INTEGER NOT NULL,
  leaf INTEGER NOT NULL, PRIMARY KEY (device_id, reason, minute)
);
CREATE TEMP TABLE audit_rejection_samples (row_id INTEGER PRIMARY KEY, digest TEXT NOT NULL, leaf INTEGER NOT NULL);
`;

export function rejectionsCheck(db: Database): TableCheck {
  db.exec(SETUP);
  const addCount = db.prepare(
    `INSERT INTO temp.audit_rejection_counts VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE
       SET logged = logged + excluded.logged, leaf = excluded.leaf`,
  );
  const addSample = db.prepare("INSERT OR REPLACE INTO temp.audit_rejection_samples VALUES (?, ?, ?)");
  const evict = db.prepare("DELETE FROM temp.audit_rejection_samples WHERE row_id <= ?");
  const inPrune = db.prepare<[number], { rows: number; total: number | null }>(
    "SELECT COUNT(*) AS rows, SUM(logged) AS total FROM temp.audit_rejection_counts WHERE minute < ?",
  );
  const prune = db.prepare("DELETE FROM temp.audit_rejection_counts WHERE minute < ?");
  let evictedThrough = 0;
  let sealedThrough = 0;
  const early: { leaf: number; detail: string }[] = [];
  return {
    onEvent(e: LoggedEvent) {
      const d = e.data;
      if (e.type === REJECTION_EVIDENCE_SEALED) {
        for (const c of asArray(d.counts)) {
          const [device, reason, minute, delta] = asArray(c);
          addCount.run(String(device), String(reason), Number(minute), Number(delta), e.leafIndex);
        }
        for (const s of asArray(d.samples)) {
          const [rowId, digest] = asArray(s);
          addSample.run(Number(rowId), String(digest), e.leafIndex);
        }
        sealedThrough = Math.max(sealedThrough, Number(d.sample_through_id) || 0);
      } else if (e.type === REJECTION_SAMPLES_EVICTED) {
        evictedThrough = Math.max(evictedThrough, Number(d.through_id) || 0);
        evict.run(evictedThrough);
      } else if (e.type === REJECTION_COUNTS_PRUNED) {
        const before = Number(d.before_minute);
        const had = inPrune.get(before)!;
        if (had.rows !== Number(d.rows) || (had.total ?? 0) !== Number(d.total)) {
          early.push({
            leaf: e.leafIndex,
            detail:
              `the prune of counts before ${minuteIso(before)} removed ${d.rows} row(s) holding ${d.total} ` +
              `refusal(s), but the log had sealed ${had.rows} row(s) holding ${had.total ?? 0}: counts were deleted or changed before it`,
          });
        }
        prune.run(before);
      }
    },
    finish(add: AddFinding) {
      for (const x of early)
        add({
          kind: "rejection_count_mismatch",
          ref: null,
          leafIndex: x.leaf,
          detail: x.detail,
          table: "rejection_counts",
        });
      return [checkCounts(db, add), checkSamples(db, add, evictedThrough, sealedThrough)];
    },
  };
}

function checkCounts(db: Database, add: AddFinding): TableCoverage {
  const table = "rejection_counts";
  const finding = (ref: string, leaf: number | null, detail: string) =>
    add({ kind: "rejection_count_mismatch", ref, leafIndex: leaf, detail, table });
  const name = (r: { device_id: string; reason: string; minute: number }) =>
    `${r.device_id === "" ? "(unknown device)" : r.device_id} ${r.reason} ${minuteIso(r.minute)}`;
  let verified = 0;
  let pending = 0;
  const sealed = db.prepare(
    `SELECT x.device_id, x.reason, x.minute, x.logged, x.leaf, c.count AS count, c.logged AS stored
     FROM temp.audit_rejection_counts x LEFT JOIN main.rejection_counts c
       ON c.device_id = x.device_id AND c.reason = x.reason AND c.minute = x.minute
     ORDER BY x.minute, x.device_id, x.reason`,
  );
  type Joined = { device_id: string; reason: string; minute: number; logged: number; leaf: number };
  for (const r of sealed.iterate() as IterableIterator<
    Joined & { count: number | null; stored: number | null }
  >) {
    if (r.count === null) {
      finding(
        name(r),
        r.leaf,
        `${r.logged} sealed refusal(s) have no count row: deleted without a logged prune`,
      );
    } else if (r.stored !== r.logged || r.count < r.logged) {
      finding(
        name(r),
        r.leaf,
        `the log sealed ${r.logged} refusal(s); the row holds ${r.count} (${r.stored} marked sealed)`,
      );
    } else if (r.count > r.logged) {
      pending++; // its sealed part matches; the rest came after the last seal
    } else verified++;
  }
  const unsealed = db.prepare(
    `SELECT device_id, reason, minute, count, logged FROM main.rejection_counts c WHERE NOT EXISTS
       (SELECT 1 FROM temp.audit_rejection_counts x
        WHERE x.device_id = c.device_id AND x.reason = c.reason AND x.minute = c.minute)
     ORDER BY minute, device_id, reason`,
  );
  for (const r of unsealed.iterate() as IterableIterator<Joined & { count: number }>) {
    if (r.logged !== 0)
      finding(name(r), null, `row claims ${r.logged} sealed refusal(s) the log does not hold: inserted`);
    else pending++;
  }
  const rows = db.prepare("SELECT COUNT(*) FROM main.rejection_counts").pluck().get() as number;
  return { table, rows, verified, pending, erased: 0 };
}

function checkSamples(
  db: Database,
  add: AddFinding,
  evictedThrough: number,
  sealedThrough: number,
): TableCoverage {
  const table = "rejections";
  let verified = 0;
  const sealed = db.prepare(
    `SELECT x.row_id AS id, x.digest, x.leaf, r.row_id, r.device_id, r.received_at_ms, r.reason, r.detail, r.payload
     FROM temp.audit_rejection_samples x LEFT JOIN main.rejections r ON r.row_id = x.row_id ORDER BY x.row_id`,
  );
  for (const r of sealed.iterate() as IterableIterator<
    { id: number; digest: string; leaf: number } & { [K in keyof SampleRow]: SampleRow[K] | null }
  >) {
    if (r.row_id === null) {
      add({
        kind: "rejection_gap",
        ref: String(r.id),
        leafIndex: r.leaf,
        detail: `sample ${r.id}, sealed in the log, was deleted without a logged eviction`,
        table,
      });
    } else if (sampleDigest(r as SampleRow) !== r.digest) {
      add({
        kind: "rejection_mismatch",
        ref: String(r.id),
        leafIndex: r.leaf,
        detail: `sample ${r.id} differs from its sealed digest (modified)`,
        table,
      });
    } else verified++;
  }
  const unsealed = db.prepare(
    `SELECT row_id FROM main.rejections r WHERE row_id <= ? AND NOT EXISTS
       (SELECT 1 FROM temp.audit_rejection_samples x WHERE x.row_id = r.row_id) ORDER BY row_id`,
  );
  const covered = Math.max(sealedThrough, evictedThrough);
  for (const id of unsealed.pluck().iterate(covered) as IterableIterator<number>) {
    add({
      kind: "rejection_mismatch",
      ref: String(id),
      leafIndex: null,
      detail:
        id <= evictedThrough
          ? `sample ${id} is at or below the logged eviction (through ${evictedThrough}): ids never go back, so it was inserted`
          : `sample ${id} lies in a range the log sealed without it: inserted`,
      table,
    });
  }
  const rows = db.prepare("SELECT COUNT(*) FROM main.rejections").pluck().get() as number;
  const pending = db
    .prepare("SELECT COUNT(*) FROM main.rejections WHERE row_id > ?")
    .pluck()
    .get(covered) as number;
  return { table, rows, verified, pending, erased: 0 };
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function minuteIso(minute: number): string {
  return Number.isFinite(minute) ? new Date(minute * 60_000).toISOString() : String(minute);
}
