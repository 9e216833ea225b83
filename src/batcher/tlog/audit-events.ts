/**
 * The log's events, opened, in log order: what the table checks of `vitalog audit` replay (audit-tables.ts)
 * and what the gateway restores its alert state from at start-up (rules/sinks/alert-log-restore.ts).
 *
 * An event that does not open (shredded by an erasure, or tampered with: the audit's leaf pass names those)
 * is skipped and counted. Rows are read a page at a time with `.all()`, so a visitor may write (temporary
 * tables) on the same connection while the scan runs.
 */
import type { Database, Statement } from "better-sqlite3";
import { UlidFactory } from "../../ids.js";
import { type EventRow, openEvent } from "./leaf-openings.js";
import type { SubjectKeys } from "./subject-keys.js";

/** One opened event (the fields of its canonical record). */
export interface LoggedEvent {
  /** The event's id in the log (`evt-<ULID>`). */
  readonly ref: string;
  readonly leafIndex: number;
  readonly type: string;
  readonly atMs: number;
  readonly subjectId: string | null;
  readonly deviceId: string | null;
  readonly data: Readonly<Record<string, unknown>>;
}

/** How many events a scan visited and how many it skipped because they do not open. */
export interface ScanCounts {
  opened: number;
  unopened: number;
}

const PAGE_ROWS = 256;

/**
 * Visits every event that opens, in leaf order. `sinceMs`: only events logged at or after that time (an
 * event's id is a ULID of its time, or later when its writer's clock went back, so the id index finds them
 * without opening older ones).
 */
export function scanLoggedEvents(
  db: Database,
  keys: SubjectKeys,
  visit: (e: LoggedEvent) => void,
  opts: { sinceMs?: number } = {},
): ScanCounts {
  const counts: ScanCounts = { opened: 0, unopened: 0 };
  // a ULID of the millisecond before: every id of that time or later sorts at or above it
  // a bound at or before the epoch bounds nothing (and a ULID has no time before it)
  const bound =
    opts.sinceMs === undefined || opts.sinceMs <= 0 ? "" : `evt-${new UlidFactory().next(opts.sinceMs - 1)}`;
  const first = db
    .prepare<[string], number | null>("SELECT min(leaf_index) FROM tlog_records WHERE ref >= ?")
    .pluck()
    .get(bound);
  if (first === null || first === undefined) return counts;
  const page: Statement<[number, string, number], EventRow> = db.prepare(
    `SELECT leaf_index, ref, key_id, entry, sealed FROM tlog_records
       WHERE leaf_index > ? AND ref >= ? ORDER BY leaf_index LIMIT ?`,
  );
  let after = first - 1;
  for (;;) {
    const rows = page.all(after, bound, PAGE_ROWS);
    if (rows.length === 0) return counts;
    for (const row of rows) {
      const e = opened(keys, row);
      if (e === undefined) counts.unopened++;
      else {
        counts.opened++;
        visit(e);
      }
    }
    after = rows.at(-1)!.leaf_index;
  }
}

function opened(keys: SubjectKeys, row: EventRow): LoggedEvent | undefined {
  let record: Record<string, unknown>;
  try {
    const o = openEvent(keys, row);
    if (o.status !== "opened") return undefined;
    record = JSON.parse(o.opening.record.toString("utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (record.type !== "event" || record.id !== row.ref || typeof record.event !== "string") return undefined;
  const data = record.data;
  return {
    ref: row.ref,
    leafIndex: row.leaf_index,
    type: record.event,
    atMs: Number(record.at_ms),
    subjectId: typeof record.subject === "string" ? record.subject : null,
    deviceId: typeof record.device === "string" ? record.device : null,
    data: data !== null && typeof data === "object" ? (data as Record<string, unknown>) : {},
  };
}

/**
 * Subjects erased from the log: their keys are destroyed and only a storage-key MAC of their id (the tag)
 * remains, so a subject id found in a table is recognised as erased without the log storing it. A subject id
 * can be used again after its erasure (it then gets a new key): only a row dated at or before the erasure
 * belongs to the erased subject.
 */
export class ErasedSubjects {
  readonly #keys: SubjectKeys;
  /** Tag (hex) → the time of its latest erasure. */
  readonly #erasedAt = new Map<string, number>();
  readonly #known = new Map<string, number | null>();

  constructor(db: Database, keys: SubjectKeys) {
    this.#keys = keys;
    const rows = db
      .prepare("SELECT subject_tag, erased_at_ms FROM tlog_subject_keys WHERE erased_at_ms IS NOT NULL")
      .all() as { subject_tag: Uint8Array; erased_at_ms: number }[];
    for (const r of rows) {
      const tag = Buffer.from(r.subject_tag).toString("hex");
      this.#erasedAt.set(tag, Math.max(this.#erasedAt.get(tag) ?? r.erased_at_ms, r.erased_at_ms));
    }
  }

  /** True when a row of `subjectId` dated `atMs` was written before the subject was erased. */
  covers(subjectId: string, atMs: number): boolean {
    if (this.#erasedAt.size === 0) return false;
    let at = this.#known.get(subjectId);
    if (at === undefined) {
      at = this.#erasedAt.get(this.#keys.tag(subjectId).toString("hex")) ?? null;
      this.#known.set(subjectId, at);
    }
    return at !== null && atMs <= at;
  }
}
