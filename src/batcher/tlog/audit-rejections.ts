/**
 * `vitalog audit`: the rejection evidence (`rejections` samples, `rejection_counts`) against the log's
 * `rejection_evidence_sealed`, `rejection_samples_evicted` and `rejection_counts_pruned` events
 * (rejection-evidence.ts) and operators' `rejection_evidence_adopted` (adopt-rejections.ts), replayed in
 * log order:
 * - counts: the sum of the sealed increases per (device, reason, minute), minus the pruned minutes, must
 *   equal each row's count (a count lowered, raised, deleted or inserted is named; `logged` is not trusted);
 *   what a seal says the row held when the gateway sealed it must be that sum too (a row that held more was
 *   added to behind the gateway's back, even if it was put back since); a prune must have removed exactly
 *   what the log had sealed for those minutes;
 * - samples: every sealed sample above the logged evictions must be there with its digest; every row must
 *   have been sealed (ids at or below an eviction never come back);
 * - evictions: each one must have removed exactly the oldest sealed samples (their count and bytes), when
 *   the sealed samples then held what the gateway summed, more than the budget, and no more of them than it
 *   took to get under 7/8 of it. (Seals of earlier releases carry no sizes: an eviction over such samples is
 *   checked on its count where it can be, not on bytes.)
 * Samples are sealed in the commit that adds them, so a sample the log does not hold was made behind the
 * gateway's back, or while the log was off, and stays a finding until an operator adopts it. Count increases
 * wait up to a minute for their seal (rejection-evidence.ts): an unsealed increase in a row of the minute
 * of the log's last seal, or the one before, may still wait in a running gateway's journal, and is reported
 * as pending, unless that seal closed its commit thread (nothing waits then); any other is a finding.
 */
import type { Database, Statement } from "better-sqlite3";
import {
  REJECTION_COUNTS_PRUNED,
  REJECTION_EVIDENCE_ADOPTED,
  REJECTION_EVIDENCE_SEALED,
  REJECTION_SAMPLES_EVICTED,
  SAMPLE_BYTES_SQL,
  type SampleRow,
  type SealedCount,
  type SealedSample,
  sampleDigest,
} from "../commit/rejection-evidence.js";
import type { LoggedEvent } from "./audit-events.js";
import type { AddFinding, Finding, TableCheck, TableCoverage } from "./audit-findings.js";

const SETUP = `
DROP TABLE IF EXISTS temp.audit_rejection_counts;
DROP TABLE IF EXISTS temp.audit_rejection_samples;
CREATE TEMP TABLE audit_rejection_counts (
  device_id TEXT NOT NULL, reason TEXT NOT NULL, minute INTEGER NOT NULL, logged INTEGER NOT NULL,
  leaf INTEGER NOT NULL, off_leaf INTEGER, off_seen INTEGER, off_logged INTEGER,
  PRIMARY KEY (device_id, reason, minute)
);
CREATE TEMP TABLE audit_rejection_samples (
  row_id INTEGER PRIMARY KEY, digest TEXT NOT NULL, bytes INTEGER, leaf INTEGER NOT NULL
);
`;

const UNSEALED = "made behind the gateway's back, or while the log was off, or lost in a crash";

/** What the table holds that the log does not: what an adoption would seal (adopt-rejections.ts). */
export interface UnsealedEvidence {
  readonly counts: SealedCount[];
  readonly samples: SealedSample[];
}

/** The rejection evidence replayed from the log into temporary tables (see the module comment). */
export class RejectionReplay implements TableCheck {
  readonly #db: Database;
  readonly #addCount: Statement;
  readonly #noteSeen: Statement<[number, number, string, string, number, number]>;
  readonly #adopted: Statement<[number, string, string, number]>;
  readonly #addSample: Statement;
  readonly #evict: Statement<[number]>;
  readonly #sealedUpTo: Statement<[number], { rows: number; bytes: number | null; sized: number }>;
  readonly #lastUpTo: Statement<[number], number | null>;
  readonly #inPrune: Statement<[number], { rows: number; total: number | null }>;
  readonly #prune: Statement<[number]>;
  #evictedThrough = 0;
  #sealedThrough = 0;
  /** The gateway's last seal: its time, and whether it closed its commit thread. */
  #lastSealAtMs: number | undefined;
  #isClosed = false;
  readonly #early: Finding[] = [];

  constructor(db: Database) {
    this.#db = db;
    db.exec(SETUP);
    this.#addCount = db.prepare(
      `INSERT INTO temp.audit_rejection_counts (device_id, reason, minute, logged, leaf) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE
         SET logged = logged + excluded.logged, leaf = excluded.leaf`,
    );
    // the first seal that saw the row hold other than what the log had sealed of it
    this.#noteSeen = db.prepare(
      `UPDATE temp.audit_rejection_counts SET off_leaf = ?, off_seen = ?, off_logged = logged
         WHERE device_id = ? AND reason = ? AND minute = ? AND off_leaf IS NULL AND logged <> ?`,
    );
    // an operator who adopted what the row held vouches for it, surplus included
    this.#adopted = db.prepare(
      `UPDATE temp.audit_rejection_counts SET off_leaf = NULL, off_seen = NULL, off_logged = NULL
         WHERE logged = ? AND device_id = ? AND reason = ? AND minute = ?`,
    );
    this.#addSample = db.prepare("INSERT OR REPLACE INTO temp.audit_rejection_samples VALUES (?, ?, ?, ?)");
    this.#evict = db.prepare("DELETE FROM temp.audit_rejection_samples WHERE row_id <= ?");
    this.#sealedUpTo = db.prepare(
      `SELECT COUNT(*) AS rows, SUM(bytes) AS bytes, COUNT(bytes) AS sized FROM temp.audit_rejection_samples
         WHERE row_id <= ?`,
    );
    this.#lastUpTo = db
      .prepare<[number], number | null>(
        "SELECT bytes FROM temp.audit_rejection_samples WHERE row_id <= ? ORDER BY row_id DESC LIMIT 1",
      )
      .pluck();
    this.#inPrune = db.prepare(
      "SELECT COUNT(*) AS rows, SUM(logged) AS total FROM temp.audit_rejection_counts WHERE minute < ?",
    );
    this.#prune = db.prepare("DELETE FROM temp.audit_rejection_counts WHERE minute < ?");
  }

  onEvent(e: LoggedEvent): void {
    const d = e.data;
    if (e.type === REJECTION_EVIDENCE_SEALED || e.type === REJECTION_EVIDENCE_ADOPTED) {
      for (const c of asArray(d.counts)) {
        const [device, reason, minute, delta, seen] = asArray(c);
        const key = [String(device), String(reason), Number(minute)] as const;
        this.#addCount.run(...key, Number(delta), e.leafIndex);
        if (seen === undefined) continue;
        if (e.type === REJECTION_EVIDENCE_ADOPTED) this.#adopted.run(Number(seen), ...key);
        else this.#noteSeen.run(e.leafIndex, Number(seen), ...key, Number(seen));
      }
      if (e.type === REJECTION_EVIDENCE_SEALED) {
        this.#lastSealAtMs = e.atMs;
        this.#isClosed = d.closing === true;
      }
      for (const s of asArray(d.samples)) {
        const [rowId, digest, bytes] = asArray(s);
        this.#addSample.run(
          Number(rowId),
          String(digest),
          bytes === undefined ? null : Number(bytes),
          e.leafIndex,
        );
        this.#sealedThrough = Math.max(this.#sealedThrough, Number(rowId) || 0);
      }
    } else if (e.type === REJECTION_SAMPLES_EVICTED) {
      const through = Number(d.through_id) || 0;
      if (d.total !== undefined) this.#checkEviction(e, through);
      this.#evictedThrough = Math.max(this.#evictedThrough, through);
      this.#evict.run(this.#evictedThrough);
    } else if (e.type === REJECTION_COUNTS_PRUNED) {
      const before = Number(d.before_minute);
      const had = this.#inPrune.get(before)!;
      if (had.rows !== Number(d.rows) || (had.total ?? 0) !== Number(d.total)) {
        this.#early.push({
          kind: "rejection_count_mismatch",
          ref: null,
          leafIndex: e.leafIndex,
          table: "rejection_counts",
          detail:
            `the prune of counts before ${minuteIso(before)} removed ${d.rows} row(s) holding ${d.total} ` +
            `refusal(s), but the log had sealed ${had.rows} row(s) holding ${had.total ?? 0}: counts were deleted, changed or inserted before it`,
        });
      }
      this.#prune.run(before);
    }
  }

  /**
   * An eviction of this release: the rows it removed against the oldest sealed samples, and whether the
   * sealed samples made it necessary (see the module comment).
   */
  #checkEviction(e: LoggedEvent, through: number): void {
    const d = e.data;
    const count = Number(d.count);
    const bytes = Number(d.bytes);
    const total = Number(d.total);
    const budget = Number(d.budget);
    const newest = Number(d.newest_id);
    const removed = this.#sealedUpTo.get(through)!;
    const held = this.#sealedUpTo.get(newest)!;
    const isSized = removed.sized === removed.rows && held.sized === held.rows;
    const problems: string[] = [];
    if (removed.rows !== count || (isSized && (removed.bytes ?? 0) !== bytes)) {
      problems.push(
        `it removed ${count} sample(s) (${bytes} bytes), but the log had sealed ${removed.rows}` +
          `${isSized ? ` (${removed.bytes ?? 0} bytes)` : ""} up to there`,
      );
    }
    if (through >= newest)
      problems.push(`it removed the newest sample (${newest}), which the gateway never does`);
    if (isSized) {
      const sealed = held.bytes ?? 0;
      if (sealed !== total)
        problems.push(`the gateway counted ${total} bytes of samples, the log had sealed ${sealed}`);
      if (sealed <= budget) {
        problems.push(
          `it was not needed: the sealed samples held ${sealed} bytes, within the budget of ${budget}`,
        );
      } else if (problems.length === 0) {
        const target = budget - Math.floor(budget / 8);
        const last = this.#lastUpTo.get(through) ?? 0;
        if (total - (bytes - last) <= target)
          problems.push(`it removed more than needed to get under ${target} bytes`);
      }
    }
    if (problems.length === 0) return;
    this.#early.push({
      kind: removed.rows > count ? "rejection_gap" : "rejection_mismatch",
      ref: `eviction through ${through}`,
      leafIndex: e.leafIndex,
      table: "rejections",
      detail: `${problems.join("; ")}: samples were deleted, changed or inserted behind the gateway's back`,
    });
  }

  finish(add: AddFinding): TableCoverage[] {
    for (const f of this.#early) add(f);
    return [this.#checkCounts(add), this.#checkSamples(add)];
  }

  /** Drops the replay's temporary tables (the audit drops every `audit_` table itself, audit-tables.ts). */
  drop(): void {
    this.#db.exec(
      "DROP TABLE IF EXISTS temp.audit_rejection_counts; DROP TABLE IF EXISTS temp.audit_rejection_samples",
    );
  }

  /**
   * The count increases and samples the table holds beyond the replay, adoptable as they stand; not the
   * increases that may still wait in a running gateway's journal (pending: it seals them itself).
   */
  unsealed(): UnsealedEvidence {
    const counts = (
      this.#db
        .prepare(
          `SELECT c.device_id, c.reason, c.minute, c.count, c.count - ifnull(x.logged, 0) AS delta, x.off_leaf
             FROM main.rejection_counts c LEFT JOIN temp.audit_rejection_counts x
               ON x.device_id = c.device_id AND x.reason = c.reason AND x.minute = c.minute
           WHERE c.count > ifnull(x.logged, 0) ORDER BY c.minute, c.device_id, c.reason`,
        )
        .all() as {
        device_id: string;
        reason: string;
        minute: number;
        count: number;
        delta: number;
        off_leaf: number | null;
      }[]
    ).filter((c) => c.off_leaf !== null || !this.#mayWait(c.minute));
    const samples = this.#db
      .prepare(
        `SELECT row_id, device_id, received_at_ms, reason, detail, payload, ${SAMPLE_BYTES_SQL} AS bytes
           FROM main.rejections r WHERE row_id > ? AND NOT EXISTS
             (SELECT 1 FROM temp.audit_rejection_samples x WHERE x.row_id = r.row_id) ORDER BY row_id`,
      )
      .all(this.#evictedThrough) as (SampleRow & { bytes: number })[];
    return {
      counts: counts.map((c) => [c.device_id, c.reason, c.minute, c.delta, c.count]),
      samples: samples.map((r) => [r.row_id, sampleDigest(r), r.bytes]),
    };
  }

  /**
   * Whether an unsealed increase in a row of `minute` may still wait in a running gateway's journal: a row of
   * the minute of the log's last seal, or the one before, unless that seal closed its commit thread.
   */
  #mayWait(minute: number): boolean {
    if (this.#isClosed || this.#lastSealAtMs === undefined) return false;
    return minute >= Math.floor(this.#lastSealAtMs / 60_000) - 1;
  }

  #checkCounts(add: AddFinding): TableCoverage {
    const table = "rejection_counts";
    const finding = (ref: string, leaf: number | null, detail: string) =>
      add({ kind: "rejection_count_mismatch", ref, leafIndex: leaf, detail, table });
    const name = (r: { device_id: string; reason: string; minute: number }) =>
      `${r.device_id === "" ? "(unknown device)" : r.device_id} ${r.reason} ${minuteIso(r.minute)}`;
    let verified = 0;
    let pending = 0;
    const sealed = this.#db.prepare(
      `SELECT x.device_id, x.reason, x.minute, x.logged, x.leaf, x.off_leaf, x.off_seen, x.off_logged,
         c.count AS count
       FROM temp.audit_rejection_counts x LEFT JOIN main.rejection_counts c
         ON c.device_id = x.device_id AND c.reason = x.reason AND x.minute = c.minute
       ORDER BY x.minute, x.device_id, x.reason`,
    );
    type Row = { device_id: string; reason: string; minute: number; logged: number; leaf: number };
    type Off = { off_leaf: number | null; off_seen: number | null; off_logged: number | null };
    for (const r of sealed.iterate() as IterableIterator<Row & Off & { count: number | null }>) {
      if (r.off_leaf !== null) {
        const now = r.count === null ? "the row is gone" : `it holds ${r.count}, the log sealed ${r.logged}`;
        finding(
          name(r),
          r.off_leaf,
          `when the gateway sealed it, the row held ${r.off_seen} refusal(s) where the log had sealed ` +
            `${r.off_logged}: changed behind the gateway's back (${now})`,
        );
      } else if (r.count === null) {
        finding(
          name(r),
          r.leaf,
          `${r.logged} sealed refusal(s) have no count row: deleted without a logged prune`,
        );
      } else if (r.count < r.logged) {
        finding(name(r), r.leaf, `the log sealed ${r.logged} refusal(s); the row holds ${r.count}: lowered`);
      } else if (r.count > r.logged && this.#mayWait(r.minute)) {
        pending++;
      } else if (r.count > r.logged) {
        finding(
          name(r),
          r.leaf,
          `the log sealed ${r.logged} refusal(s); the row holds ${r.count}: ${r.count - r.logged} never sealed (${UNSEALED})`,
        );
      } else verified++;
    }
    const unsealed = this.#db.prepare(
      `SELECT device_id, reason, minute, count FROM main.rejection_counts c WHERE NOT EXISTS
         (SELECT 1 FROM temp.audit_rejection_counts x
          WHERE x.device_id = c.device_id AND x.reason = c.reason AND x.minute = c.minute)
       ORDER BY minute, device_id, reason`,
    );
    for (const r of unsealed.iterate() as IterableIterator<Row & { count: number }>) {
      if (this.#mayWait(r.minute)) pending++;
      else finding(name(r), null, `the row holds ${r.count} refusal(s) the log never sealed (${UNSEALED})`);
    }
    const rows = this.#db.prepare("SELECT COUNT(*) FROM main.rejection_counts").pluck().get() as number;
    return { table, rows, verified, pending, erased: 0 };
  }

  #checkSamples(add: AddFinding): TableCoverage {
    const table = "rejections";
    let verified = 0;
    const sealed = this.#db.prepare(
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
    const unsealed = this.#db.prepare(
      `SELECT row_id FROM main.rejections r WHERE NOT EXISTS
         (SELECT 1 FROM temp.audit_rejection_samples x WHERE x.row_id = r.row_id) ORDER BY row_id`,
    );
    const evicted = this.#evictedThrough;
    for (const id of unsealed.pluck().iterate() as IterableIterator<number>) {
      add({
        kind: "rejection_mismatch",
        ref: String(id),
        leafIndex: null,
        detail:
          id <= evicted
            ? `sample ${id} is at or below the logged eviction (through ${evicted}): ids never go back, so it was inserted`
            : `sample ${id} is not sealed in the log (${UNSEALED})` +
              (id < this.#sealedThrough
                ? `, although later samples are (through ${this.#sealedThrough})`
                : ""),
        table,
      });
    }
    const rows = this.#db.prepare("SELECT COUNT(*) FROM main.rejections").pluck().get() as number;
    return { table, rows, verified, pending: 0, erased: 0 };
  }
}

export function rejectionsCheck(db: Database): TableCheck {
  return new RejectionReplay(db);
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function minuteIso(minute: number): string {
  return Number.isFinite(minute) ? new Date(minute * 60_000).toISOString() : String(minute);
}
