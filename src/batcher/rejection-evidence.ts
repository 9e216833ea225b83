/**
 * Rejections are evidence of attacks, so what the gateway keeps of them is covered by the tamper-evident
 * log, and every deletion it makes of them is a log event (`vitalog audit` tells those from tampering,
 * audit-rejections.ts). Three events, each aggregated, emitted by the commit thread inside the group
 * commit's transaction (the one that made the change), never one per rejection:
 *
 *   rejection_samples_evicted  { through_id, count, bytes }
 *       sample rows with `row_id <= through_id` were deleted to keep the byte budget (reading-store.ts);
 *       `count` rows and `bytes` bytes since the previous eviction event. Samples are evicted down to 7/8
 *       of the budget at a time, so a flood at the sampler's quota makes one such event every few minutes.
 *   rejection_evidence_sealed  { counts: [[device_id, reason, minute, delta] …],
 *                                samples: [[row_id, digest] …], sample_through_id }
 *       what was added since the previous seal: each `rejection_counts` row's increase, and the digest
 *       ({@link sampleDigest}) of each new sample row, through `sample_through_id`. At most one per
 *       {@link REJECTION_SEAL_INTERVAL_MS} (more only while a backlog larger than one event drains).
 *   rejection_counts_pruned    { before_minute, rows, total }
 *       the retention deleted every count row of a minute before `before_minute` (whole UTC days),
 *       `rows` rows holding `total` refusals; only once all of them were sealed.
 *
 * State (migration 8): `rejection_counts.logged` is how much of each count a seal covers (the audit compares
 * it with the sum of the logged deltas: a count lowered, raised or deleted is named); `rejection_log_state`
 * holds the newest sealed sample id, the eviction not yet logged and the seal/prune clocks. Everything
 * is written in the commit's transaction, so a rollback leaves no seal, eviction or prune half-logged.
 *
 * What stays unsealed: increases made since the last seal (at most a minute's, and until the next commit
 * when the gateway commits nothing else). The audit reports them as pending, not as findings.
 */
import { createHash } from "node:crypto";
import type { Statement } from "better-sqlite3";
import type { Db } from "../db.js";
import type { AuditEvent } from "../drivers/ingest.js";
import { canonicalize } from "./canonical-record.js";

export const REJECTION_SAMPLES_EVICTED = "rejection_samples_evicted";
export const REJECTION_EVIDENCE_SEALED = "rejection_evidence_sealed";
export const REJECTION_COUNTS_PRUNED = "rejection_counts_pruned";

/** Rejection evidence is sealed in the log at most this often (one event). */
export const REJECTION_SEAL_INTERVAL_MS = 60_000;
/**
 * How long per-minute rejection counts are kept: 400 days, so a yearly security review still sees a whole
 * year of attempts. A row costs ~60 bytes; a constant flood adds one row per reason a minute.
 */
export const REJECTION_COUNT_RETENTION_MS = 400 * 86_400_000;
/** Most count rows and samples one seal event carries (a backlog, e.g. after an upgrade, drains in several). */
const MAX_COUNTS_PER_SEAL = 1024;
const MAX_SAMPLES_PER_SEAL = 256;
/** The retention is looked at hourly; it prunes whole days. */
const PRUNE_CHECK_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** Hex characters of a sample digest kept in a seal (128 bits). */
const DIGEST_HEX = 32;

/** Migration 8: what of the rejection evidence the log covers (see the module comment). */
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

interface State {
  id: number;
  sample_through_id: number;
  evicted_through_id: number;
  pending_evicted_count: number;
  pending_evicted_bytes: number;
  sealed_at_ms: number;
  prune_checked_at_ms: number;
  pruned_before_minute: number;
}

/** The thread-side writer of the events above, over the commit thread's connection. */
export class RejectionEvidence {
  readonly #ensureState: Statement;
  readonly #state: Statement<[], State>;
  readonly #setState: Statement<[number, number, number, number, number, number, number]>;
  readonly #unloggedCounts: Statement<
    [number],
    { device_id: string; reason: string; minute: number; delta: number }
  >;
  readonly #markLogged: Statement<[string, string, number]>;
  readonly #newSamples: Statement<[number, number], SampleRow>;
  readonly #unloggedBefore: Statement<[number], number>;
  readonly #prunable: Statement<[number], { rows: number; total: number | null }>;
  readonly #prune: Statement<[number]>;

  constructor(db: Db) {
    this.#ensureState = db.prepare(
      "INSERT OR IGNORE INTO rejection_log_state VALUES (1, 0, 0, 0, 0, 0, 0, 0)",
    );
    this.#state = db.prepare("SELECT * FROM rejection_log_state WHERE id = 1");
    this.#setState = db.prepare(
      `UPDATE rejection_log_state SET sample_through_id = ?, pending_evicted_count = ?, pending_evicted_bytes = ?,
         sealed_at_ms = ?, prune_checked_at_ms = ?, pruned_before_minute = ?, evicted_through_id = ? WHERE id = 1`,
    );
    this.#unloggedCounts = db.prepare(
      `SELECT device_id, reason, minute, count - logged AS delta FROM rejection_counts
         WHERE count > logged ORDER BY minute, device_id, reason LIMIT ?`,
    );
    this.#markLogged = db.prepare(
      "UPDATE rejection_counts SET logged = count WHERE device_id = ? AND reason = ? AND minute = ?",
    );
    this.#newSamples = db.prepare(
      `SELECT row_id, device_id, received_at_ms, reason, detail, payload FROM rejections
         WHERE row_id > ? ORDER BY row_id LIMIT ?`,
    );
    this.#unloggedBefore = db
      .prepare<[number], number>("SELECT 1 FROM rejection_counts WHERE count > logged AND minute < ? LIMIT 1")
      .pluck();
    this.#prunable = db.prepare(
      "SELECT COUNT(*) AS rows, SUM(logged) AS total FROM rejection_counts WHERE minute < ?",
    );
    this.#prune = db.prepare("DELETE FROM rejection_counts WHERE minute < ?");
  }

  /**
   * The events that log what this transaction did to the rejection evidence (evictions) and what is due
   * (a seal, a prune), in that order. MUST run inside the commit's transaction, after its rejections were
   * inserted and before the log's writer appends the commit's events; the state it updates rolls back with it.
   */
  events(nowMs: number): AuditEvent[] {
    let stored = this.#state.get();
    if (stored === undefined) {
      // a state row deleted behind the gateway's back: start afresh (the audit names what that hid)
      this.#ensureState.run();
      stored = this.#state.get()!;
    }
    const s = { ...stored };
    const out: AuditEvent[] = [];
    const event = (type: string, data: Record<string, unknown>): AuditEvent => ({
      type,
      atMs: nowMs,
      subjectId: null,
      deviceId: null,
      data,
    });
    if (s.pending_evicted_count > 0) {
      out.push(
        event(REJECTION_SAMPLES_EVICTED, {
          through_id: s.evicted_through_id,
          count: s.pending_evicted_count,
          bytes: s.pending_evicted_bytes,
        }),
      );
      s.pending_evicted_count = 0;
      s.pending_evicted_bytes = 0;
    }
    // a clock stepped back must not hold the seal off until it catches up
    if (nowMs - s.sealed_at_ms >= REJECTION_SEAL_INTERVAL_MS || nowMs < s.sealed_at_ms) {
      const sealed = this.#seal(s, nowMs);
      if (sealed) out.push(event(REJECTION_EVIDENCE_SEALED, sealed));
    }
    if (nowMs - s.prune_checked_at_ms >= PRUNE_CHECK_MS || nowMs < s.prune_checked_at_ms) {
      s.prune_checked_at_ms = nowMs;
      const before = (Math.floor((nowMs - REJECTION_COUNT_RETENTION_MS) / DAY_MS) * DAY_MS) / MINUTE_MS;
      // only sealed rows are pruned: the log then holds every refusal the prune removes
      if (before > s.pruned_before_minute && this.#unloggedBefore.get(before) === undefined) {
        const { rows, total } = this.#prunable.get(before)!;
        if (rows > 0) {
          this.#prune.run(before);
          out.push(event(REJECTION_COUNTS_PRUNED, { before_minute: before, rows, total: total ?? 0 }));
        }
        s.pruned_before_minute = before;
      }
    }
    // written only when something changed: most commits touch no rejection evidence
    if ((Object.keys(s) as (keyof State)[]).every((k) => s[k] === stored[k])) return out;
    this.#setState.run(
      s.sample_through_id,
      s.pending_evicted_count,
      s.pending_evicted_bytes,
      s.sealed_at_ms,
      s.prune_checked_at_ms,
      s.pruned_before_minute,
      s.evicted_through_id,
    );
    return out;
  }

  /** The seal's data (undefined when nothing is new); updates `s` and the counts' `logged`. */
  #seal(s: State, nowMs: number): Record<string, unknown> | undefined {
    const counts = this.#unloggedCounts.all(MAX_COUNTS_PER_SEAL);
    const samples = this.#newSamples.all(s.sample_through_id, MAX_SAMPLES_PER_SEAL);
    if (counts.length === 0 && samples.length === 0) return undefined;
    for (const c of counts) this.#markLogged.run(c.device_id, c.reason, c.minute);
    if (samples.length > 0) s.sample_through_id = samples.at(-1)!.row_id;
    const isBacklog = counts.length === MAX_COUNTS_PER_SEAL || samples.length === MAX_SAMPLES_PER_SEAL;
    // a backlog larger than one event is sealed again at the next commit
    s.sealed_at_ms = isBacklog ? nowMs - REJECTION_SEAL_INTERVAL_MS : nowMs;
    return {
      counts: counts.map((c) => [c.device_id, c.reason, c.minute, c.delta]),
      samples: samples.map((r) => [r.row_id, sampleDigest(r)]),
      sample_through_id: s.sample_through_id,
    };
  }
}
