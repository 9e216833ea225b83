/**
 * Rejections are evidence of attacks, so what the gateway keeps of them is covered by the tamper-evident
 * log, and every deletion it makes of them is a log event (`vitalog audit` tells those from tampering,
 * audit-rejections.ts). The events are emitted by the commit thread inside a group commit's transaction and
 * are aggregated, never one per rejection:
 *
 *   rejection_evidence_sealed  { counts: [[device_id, reason, minute, delta, count] …],
 *                                samples: [[row_id, digest, bytes] …], sample_through_id, closing? }
 *       what the gateway added since its last seal: each `rejection_counts` row's increase (`delta`) and
 *       what the row held once it was counted (`count`, read in the same transaction: the audit compares it
 *       with the log, so a row that held more than the gateway ever sealed is named), and the digest
 *       ({@link sampleDigest}) and size (UTF-8 bytes of `detail` plus bytes of `payload`) of each sample row
 *       it inserted; `sample_through_id` is the highest of them (0 without samples). Samples are sealed in
 *       the commit that inserts them (the sampler lets through at most 60 a minute, so this costs at most
 *       about one event a second; a frame refused at commit is a sample of its own, within its device's
 *       frame budget). Count increases go with the next seal, and at least once every
 *       {@link REJECTION_SEAL_INTERVAL_MS}: a flood of count-only refusals, whatever its rate, grows the log
 *       by one event a minute. More than one event only past {@link MAX_COUNTS_PER_SEAL} counts or
 *       {@link MAX_SAMPLES_PER_SEAL} samples. `closing: true` marks the last seal of a commit thread that
 *       closed cleanly (an empty one when nothing was left): nothing is waiting in any journal then.
 *   rejection_samples_evicted  { through_id, count, bytes, total, budget, newest_id }
 *       the oldest sample rows, `row_id <= through_id`, were deleted to keep the byte budget
 *       (reading-store.ts), in this commit: `count` rows holding `bytes` bytes, when the rows up to
 *       `newest_id` (the newest then) held `total` bytes (a SUM() at that moment) against a budget of
 *       `budget` bytes. Logged after the commit's seal, so the samples it sealed are known when the audit
 *       replays the eviction.
 *   rejection_counts_pruned    { before_minute, rows, total }
 *       the retention deleted every count row of a minute before `before_minute` (whole UTC days),
 *       `rows` rows holding `total` refusals, in this commit (after sealing what was pending).
 *
 * Nothing in the database file says what is sealed or due: a stopped gateway's file can be edited by anyone
 * who can write it, and the gateway must not turn such an edit into log events. So the commit thread's
 * connection journals its own changes in temporary tables and triggers (private to that connection, never
 * in the file, rolled back with the transaction or savepoint that made them, kept across the transactions
 * that commit), and seals exactly what it added and logs exactly what it evicted. A count increase or a
 * sample this process did not make itself (a row found at start-up, written while the log was off or behind
 * the gateway's back) is never sealed: the audit names it, until an operator adopts it (`vitalog tlog
 * adopt-unlogged`, adopt-rejections.ts). Count increases waiting for their seal are sealed when the commit
 * thread closes ({@link RejectionEvidence.sealForClose}); while a gateway runs, the audit reports the
 * increases it cannot yet tell from forgeries (rows of the last sealed minutes) as pending; a crash loses
 * them from the journal (at most a minute of count-only refusals), and the audit names them once a later
 * seal or a clean close shows they were never sealed. The retention's clock is kept in the journal too: it
 * is looked at once an hour, and at the first commit after a start.
 *
 * Events of earlier releases are still replayed by the audit: seals without sample sizes
 * (`samples: [[row_id, digest] …]`) and evictions without `total`, `budget` and `newest_id`.
 */

import { createHash } from "node:crypto";
import type { Statement } from "better-sqlite3";
import type { AuditEvent } from "../../core/ports.js";
import type { Db } from "../../db.js";
import { canonicalize } from "../verifier/canonical-record.js";

export const REJECTION_SAMPLES_EVICTED = "rejection_samples_evicted";
export const REJECTION_EVIDENCE_SEALED = "rejection_evidence_sealed";
export const REJECTION_COUNTS_PRUNED = "rejection_counts_pruned";
/**
 * An operator's adoption of rejection evidence the log did not hold (`vitalog tlog adopt-unlogged`,
 * adopt-rejections.ts): `{ by, reason, counts, samples, sample_through_id }`, replayed like a seal.
 */
export const REJECTION_EVIDENCE_ADOPTED = "rejection_evidence_adopted";

/** Count increases not yet sealed are sealed at the latest at the first commit this long after the last seal. */
export const REJECTION_SEAL_INTERVAL_MS = 60_000;
/**
 * How long per-minute rejection counts are kept: 400 days, so a yearly security review still sees a whole
 * year of attempts. A row costs ~60 bytes; a constant flood adds one row per reason a minute.
 */
export const REJECTION_COUNT_RETENTION_MS = 400 * 86_400_000;
/** Most count rows and samples one seal event carries (a larger commit is sealed in several). */
export const MAX_COUNTS_PER_SEAL = 1024;
export const MAX_SAMPLES_PER_SEAL = 256;
/** The retention is looked at hourly; it prunes whole days. */
const PRUNE_CHECK_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** Hex characters of a sample digest kept in a seal (128 bits). */
const DIGEST_HEX = 32;

/** A sample row's size as the budget and the seal count it, in SQL over `rejections`' columns. */
export const SAMPLE_BYTES_SQL = "octet_length(detail) + ifnull(octet_length(payload), 0)";

/** Migration 8 (released, never edited): the state of an earlier design, dropped by migration 10. */
export const REJECTION_EVIDENCE_MIGRATION = `
ALTER TABLE rejection_counts ADD COLUMN logged INTEGER NOT NULL DEFAULT 0 CHECK (logged >= 0);
CREATE INDEX rejection_counts_unlogged ON rejection_counts (minute) WHERE count > logged;
CREATE TABLE rejection_log_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  sample_through_id INTEGER NOT NULL,
  evicted_through_id INTEGER NOT NULL,
  pending_evicted_count INTEGER NOT NULL,
  pending_evicted_bytes INTEGER NOT NULL,
  sealed_at_ms INTEGER NOT NULL,
  prune_checked_at_ms INTEGER NOT NULL,
  pruned_before_minute INTEGER NOT NULL
) STRICT;
INSERT INTO rejection_log_state VALUES (1, 0, 0, 0, 0, 0, 0, 0);
`;

/**
 * Migration 10: what the file said about the rejection evidence's sealing and eviction, and the byte total a
 * trigger kept, are gone; the gateway trusted them, so editing them laundered evidence. The commit thread
 * journals in memory instead (see the module comment), and the budget is a SUM() over the rows.
 * `rejection_counts.logged` stays: the part of each count this gateway sealed, for a person's reading only
 * (the audit compares the counts with the log, never with it).
 */
export const REJECTION_JOURNAL_MIGRATION = `
DROP TABLE IF EXISTS rejection_log_state;
DROP INDEX IF EXISTS rejection_counts_unlogged;
DROP TRIGGER IF EXISTS rejections_bytes_insert;
DROP TRIGGER IF EXISTS rejections_bytes_delete;
DROP TRIGGER IF EXISTS rejections_bytes_update;
DROP TABLE IF EXISTS rejection_sample_bytes;
`;

/**
 * The commit thread's journal: temporary, so private to its connection and never in the database file.
 * `rejection_sample_total` is the running byte total of the samples (a SUM() when the journal is created,
 * then kept by the triggers), which tells the store when a SUM() is due (reading-store.ts);
 * `rejection_journal_evictions` is written by the store when it evicts.
 */
const JOURNAL_SQL = `
CREATE TEMP TABLE IF NOT EXISTS rejection_journal_samples (
  row_id INTEGER PRIMARY KEY, device_id TEXT, received_at_ms INTEGER, reason TEXT, detail TEXT, payload BLOB
);
CREATE TEMP TABLE IF NOT EXISTS rejection_journal_counts (
  device_id TEXT NOT NULL, reason TEXT NOT NULL, minute INTEGER NOT NULL, delta INTEGER NOT NULL,
  PRIMARY KEY (device_id, reason, minute)
);
CREATE TEMP TABLE IF NOT EXISTS rejection_journal_evictions (
  seq INTEGER PRIMARY KEY, through_id INTEGER NOT NULL, count INTEGER NOT NULL, bytes INTEGER NOT NULL,
  total INTEGER NOT NULL, budget INTEGER NOT NULL, newest_id INTEGER NOT NULL
);
CREATE TEMP TABLE IF NOT EXISTS rejection_journal_state (
  id INTEGER PRIMARY KEY CHECK (id = 1), sealed_at_ms INTEGER NOT NULL, prune_checked_at_ms INTEGER,
  pruned_before_minute INTEGER NOT NULL
);
INSERT OR IGNORE INTO rejection_journal_state VALUES (1, 0, NULL, 0);
CREATE TEMP TABLE IF NOT EXISTS rejection_sample_total (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL);
INSERT OR REPLACE INTO rejection_sample_total (id, bytes)
  SELECT 1, ifnull(SUM(${SAMPLE_BYTES_SQL}), 0) FROM main.rejections;
CREATE TEMP TRIGGER IF NOT EXISTS rejection_journal_sample AFTER INSERT ON main.rejections BEGIN
  INSERT OR REPLACE INTO rejection_journal_samples VALUES
    (NEW.row_id, NEW.device_id, NEW.received_at_ms, NEW.reason, NEW.detail, NEW.payload);
  UPDATE rejection_sample_total
    SET bytes = bytes + octet_length(NEW.detail) + ifnull(octet_length(NEW.payload), 0) WHERE id = 1;
END;
CREATE TEMP TRIGGER IF NOT EXISTS rejection_journal_sample_delete AFTER DELETE ON main.rejections BEGIN
  UPDATE rejection_sample_total
    SET bytes = bytes - octet_length(OLD.detail) - ifnull(octet_length(OLD.payload), 0) WHERE id = 1;
END;
CREATE TEMP TRIGGER IF NOT EXISTS rejection_journal_sample_update AFTER UPDATE OF detail, payload ON main.rejections
BEGIN
  UPDATE rejection_sample_total SET bytes = bytes - octet_length(OLD.detail) - ifnull(octet_length(OLD.payload), 0)
    + octet_length(NEW.detail) + ifnull(octet_length(NEW.payload), 0) WHERE id = 1;
  UPDATE rejection_journal_samples SET detail = NEW.detail, payload = NEW.payload WHERE row_id = NEW.row_id;
END;
CREATE TEMP TRIGGER IF NOT EXISTS rejection_journal_count AFTER INSERT ON main.rejection_counts BEGIN
  INSERT INTO rejection_journal_counts VALUES (NEW.device_id, NEW.reason, NEW.minute, NEW.count)
    ON CONFLICT DO UPDATE SET delta = delta + excluded.delta;
END;
CREATE TEMP TRIGGER IF NOT EXISTS rejection_journal_count_update AFTER UPDATE OF count ON main.rejection_counts
BEGIN
  INSERT INTO rejection_journal_counts VALUES (NEW.device_id, NEW.reason, NEW.minute, NEW.count - OLD.count)
    ON CONFLICT DO UPDATE SET delta = delta + excluded.delta;
END;
`;

/** A `rejections` sample row as the digest covers it. */
export interface SampleRow {
  row_id: number;
  device_id: string | null;
  received_at_ms: number;
  reason: string;
  detail: string;
  payload: Uint8Array | null;
}

/** The digest of a sample as sealed: SHA-256 (first 128 bits, hex) of the JCS array of its columns. */
export function sampleDigest(r: SampleRow): string {
  const payload = r.payload === null ? null : Buffer.from(r.payload).toString("base64");
  const text = canonicalize([r.row_id, r.device_id, r.received_at_ms, r.reason, r.detail, payload]);
  return createHash("sha256").update(text, "utf8").digest("hex").slice(0, DIGEST_HEX);
}

/** One count increase as sealed: `[device_id, reason, minute, delta, count]` (`count`: the row's, after it). */
export type SealedCount = [string, string, number, number, number];
/** One sample as sealed: `[row_id, digest, bytes]`. */
export type SealedSample = [number, string, number];

/**
 * The `data` of one or more seal events (split at {@link MAX_COUNTS_PER_SEAL} and
 * {@link MAX_SAMPLES_PER_SEAL}); `extra` is added to each (an adoption's `by` and `reason`).
 */
export function sealData(
  counts: readonly SealedCount[],
  samples: readonly SealedSample[],
  extra: Readonly<Record<string, unknown>> = {},
): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let c = 0, s = 0; c < counts.length || s < samples.length; ) {
    const part = samples.slice(s, s + MAX_SAMPLES_PER_SEAL);
    out.push({
      ...extra,
      counts: counts.slice(c, c + MAX_COUNTS_PER_SEAL),
      samples: part,
      sample_through_id: part.reduce((m, x) => Math.max(m, x[0]), 0),
    });
    c += MAX_COUNTS_PER_SEAL;
    s += MAX_SAMPLES_PER_SEAL;
  }
  return out;
}

interface JournalEviction {
  through_id: number;
  count: number;
  bytes: number;
  total: number;
  budget: number;
  newest_id: number;
}

/** The thread-side writer of the events above, over the commit thread's connection (see the module comment). */
export class RejectionEvidence {
  readonly #samples: Statement<[], SampleRow & { bytes: number }>;
  readonly #counts: Statement<
    [],
    { device_id: string; reason: string; minute: number; delta: number; count: number | null }
  >;
  readonly #hasCounts: Statement<[], number>;
  readonly #evictions: Statement<[], JournalEviction>;
  readonly #state: Statement<
    [],
    { sealed_at_ms: number; prune_checked_at_ms: number | null; pruned_before_minute: number }
  >;
  readonly #setSealedAt: Statement<[number]>;
  readonly #setPruneState: Statement<[number, number]>;
  readonly #markLogged: Statement<[number, string, string, number]>;
  readonly #clearSamples: () => void;
  readonly #clearCounts: Statement;
  readonly #prunable: Statement<[number], { rows: number; total: number | null }>;
  readonly #prune: Statement<[number]>;
  /** Set for the commit thread's last transaction: seal everything, and mark the seal `closing`. */
  #isClosing = false;
  /** Whether this connection has sealed anything (its close is then marked in the log). */
  #hasSealed = false;

  /** Creates the connection's journal. MUST be called outside any transaction, before the first commit. */
  constructor(db: Db) {
    if (db.inTransaction) throw new TypeError("the rejection journal must be created outside a transaction");
    db.exec(JOURNAL_SQL);
    this.#samples = db.prepare(
      `SELECT row_id, device_id, received_at_ms, reason, detail, payload, ${SAMPLE_BYTES_SQL} AS bytes
         FROM temp.rejection_journal_samples ORDER BY row_id`,
    );
    this.#counts = db.prepare(
      `SELECT j.device_id, j.reason, j.minute, j.delta, c.count FROM temp.rejection_journal_counts j
         LEFT JOIN main.rejection_counts c ON c.device_id = j.device_id AND c.reason = j.reason AND c.minute = j.minute
       WHERE j.delta <> 0 ORDER BY j.minute, j.device_id, j.reason`,
    );
    this.#hasCounts = db.prepare<[], number>("SELECT 1 FROM temp.rejection_journal_counts LIMIT 1").pluck();
    this.#evictions = db.prepare(
      "SELECT through_id, count, bytes, total, budget, newest_id FROM temp.rejection_journal_evictions ORDER BY seq",
    );
    this.#state = db.prepare(
      "SELECT sealed_at_ms, prune_checked_at_ms, pruned_before_minute FROM temp.rejection_journal_state WHERE id = 1",
    );
    this.#setSealedAt = db.prepare("UPDATE temp.rejection_journal_state SET sealed_at_ms = ? WHERE id = 1");
    this.#setPruneState = db.prepare(
      "UPDATE temp.rejection_journal_state SET prune_checked_at_ms = ?, pruned_before_minute = ? WHERE id = 1",
    );
    this.#markLogged = db.prepare(
      `UPDATE rejection_counts SET logged = min(count, logged + ?)
         WHERE device_id = ? AND reason = ? AND minute = ?`,
    );
    const clear = ["rejection_journal_samples", "rejection_journal_evictions"].map((t) =>
      db.prepare(`DELETE FROM temp.${t}`),
    );
    this.#clearSamples = () => {
      for (const c of clear) c.run();
    };
    this.#clearCounts = db.prepare("DELETE FROM temp.rejection_journal_counts");
    this.#prunable = db.prepare(
      "SELECT COUNT(*) AS rows, SUM(count) AS total FROM rejection_counts WHERE minute < ?",
    );
    this.#prune = db.prepare("DELETE FROM rejection_counts WHERE minute < ?");
  }

  /**
   * The events that log what the gateway added to the rejection evidence and what this transaction evicted —
   * a seal when one is due (see the module comment), then the evictions — and a due prune, in that order;
   * takes what they log out of the journal. MUST run inside the commit's transaction, after its rejections
   * were inserted and before the log's writer appends the commit's events.
   */
  events(nowMs: number): AuditEvent[] {
    const event = (type: string, data: Record<string, unknown>): AuditEvent => ({
      type,
      atMs: nowMs,
      subjectId: null,
      deviceId: null,
      data,
    });
    const samples = this.#samples.all();
    const evictions = this.#evictions.all();
    const state = this.#state.get()!;
    const before = this.#pruneDue(nowMs, state);
    const sealedAt = state.sealed_at_ms;
    // a clock stepped back must not hold the seal off until it catches up
    const isCountDue =
      this.#isClosing ||
      samples.length > 0 ||
      evictions.length > 0 ||
      before !== undefined ||
      nowMs - sealedAt >= REJECTION_SEAL_INTERVAL_MS ||
      nowMs < sealedAt;
    const counts = isCountDue ? this.#counts.all() : [];
    // the part of each count this gateway sealed, for a person reading the table (the audit never trusts it)
    for (const c of counts) this.#markLogged.run(c.delta, c.device_id, c.reason, c.minute);
    const seals = sealData(
      counts.map((c): SealedCount => [c.device_id, c.reason, c.minute, c.delta, c.count ?? 0]),
      samples.map((r): SealedSample => [r.row_id, sampleDigest(r), r.bytes]),
    );
    if (this.#isClosing) {
      if (seals.length === 0) seals.push({ counts: [], samples: [], sample_through_id: 0 });
      seals.at(-1)!.closing = true;
      this.#isClosing = false;
    }
    const out = seals.map((data) => event(REJECTION_EVIDENCE_SEALED, data));
    if (out.length > 0) this.#hasSealed = true;
    for (const e of evictions) out.push(event(REJECTION_SAMPLES_EVICTED, { ...e }));
    // most commits refuse nothing: nothing to empty
    if (samples.length > 0 || evictions.length > 0) this.#clearSamples();
    if (counts.length > 0) this.#clearCounts.run();
    if (out.length > 0) this.#setSealedAt.run(nowMs);
    if (before !== undefined) {
      const { rows, total } = this.#prunable.get(before)!;
      if (rows > 0) {
        this.#prune.run(before);
        out.push(event(REJECTION_COUNTS_PRUNED, { before_minute: before, rows, total: total ?? 0 }));
      }
    }
    return out;
  }

  /**
   * For the commit thread's last transaction, before its connection closes: true when it is to run (this
   * connection sealed something, or count increases wait in the journal); the next {@link events} then
   * seals every count increase in the journal and marks its seal `closing`.
   */
  sealForClose(): boolean {
    this.#isClosing = this.#hasSealed || this.#hasCounts.get() !== undefined;
    return this.#isClosing;
  }

  /**
   * Empties the journal without logging it: for a commit made without the log (`tlog.enabled: false`), whose
   * rejection evidence stays unsealed (the audit names it once the log is back, as it names readings stored
   * meanwhile). MUST run inside the commit's transaction.
   */
  discard(): void {
    this.#clearSamples();
    this.#clearCounts.run();
  }

  /**
   * The minute before which counts are to be pruned now, when an hourly look finds a day to prune (a clock
   * stepped back looks again); undefined otherwise. The look is noted in the journal (it rolls back with
   * the transaction).
   */
  #pruneDue(
    nowMs: number,
    state: { prune_checked_at_ms: number | null; pruned_before_minute: number },
  ): number | undefined {
    const checked = state.prune_checked_at_ms;
    if (checked !== null && nowMs - checked < PRUNE_CHECK_MS && nowMs >= checked) return undefined;
    const before = (Math.floor((nowMs - REJECTION_COUNT_RETENTION_MS) / DAY_MS) * DAY_MS) / MINUTE_MS;
    const isDue = before > state.pruned_before_minute;
    this.#setPruneState.run(nowMs, isDue ? before : state.pruned_before_minute);
    return isDue ? before : undefined;
  }
}
