/**
 * `vitalog audit` (docs/tamper-evident-log.md, "`vitalog audit`"): recomputes the whole tree from storage
 * and checks every checkpoint, naming each reading that was modified, deleted, inserted or reordered behind
 * the gateway's back.
 *
 * One pass in leaf order (O(n) time; memory O(log n) plus findings) over the log's map of leaves —
 * `tlog_reading_ids` (which reading each reading leaf holds) merged with the event records:
 * - each reading's record is rebuilt from its `readings` row, its salt derived for that leaf, and the leaf
 *   hash compared with the stored level-0 hash; an erased reading's kept entry is compared instead, and
 *   its key must have been destroyed by a logged `subject_erased` event;
 * - each event's sealed record is opened, its commitment recomputed and compared likewise;
 * - the stored leaf hashes are folded into the tree and its root compared with every signed checkpoint
 *   at that checkpoint's size; each checkpoint note's signature is verified;
 * - `TileStore.audit` checks every stored interior hash against a recomputation from the leaves.
 * Then readings that the log does not hold (no leaf, or a leaf whose map names another reading) are named.
 * A map entry that names another reading (or none that exists) at a leaf whose own reading is intact is
 * named by that reading: the map was edited, not the reading (tlog-audit-map.ts `resolveMapEdits`).
 * Adoptions (`readings_adopted` events: readings an operator put in the log that did not come through
 * ingest, adopt-unlogged.ts) are not findings but are listed in the report, so an auditor sees them; so are
 * adopted device rows and rejection evidence (audit-adoptions.ts).
 *
 * Then every table a person or a report relies on is compared with the log's events (audit-tables.ts:
 * alert history and state, clinician observations, device bindings and each reading's subject against its
 * device's binding at its leaf, rejection evidence, erasures). The whole audit reads one snapshot (a read
 * transaction), so it can run beside a gateway that commits.
 */

import type { Database } from "better-sqlite3";
import type { ReadingRow } from "../commit/reading-store.js";
import { bytesEqual } from "../verifier/assert.js";
import { base64Encode } from "../verifier/base64.js";
import { decodeRecord } from "../verifier/canonical-record.js";
import { verifyCheckpoint } from "../verifier/checkpoint.js";
import { EMPTY_ROOT, nodeHash } from "../verifier/merkle.js";
import type { Verifier } from "../verifier/signer.js";
import { READINGS_ADOPTED } from "./adopt-unlogged.js";
import type { DeviceAdoption, RejectionAdoption } from "./audit-adoptions.js";
import type { Finding, FindingKind, TableCoverage } from "./audit-findings.js";
import { auditTables, type TablesAudit } from "./audit-tables.js";
import { CheckpointStore } from "./checkpoint-store.js";
import { type EventOpening, type EventRow, openEvent, readingOpening } from "./leaf-openings.js";
import { leafHashWithNodeCrypto } from "./record-crypto.js";
import { SubjectKeys } from "./subject-keys.js";
import { TileStore } from "./tile-store.js";
import { leafMap, type MapSuspect, resolveMapEdits, unmappedReadings } from "./tlog-audit-map.js";

export type { DeviceAdoption, RejectionAdoption } from "./audit-adoptions.js";
export type { Finding, FindingKind, TableCoverage } from "./audit-findings.js";

/** A logged adoption: readings appended by an operator's `vitalog tlog adopt-unlogged`, not by ingest. */
export interface Adoption {
  readonly eventId: string;
  readonly leafIndex: number;
  readonly atMs: number;
  readonly count: number;
  readonly firstLeaf: number;
  readonly lastLeaf: number;
  readonly by: string;
  readonly reason: string;
}

export interface AuditReport {
  readonly ok: boolean;
  readonly origin: string;
  readonly treeSize: number;
  readonly records: number;
  readonly opened: number;
  readonly erased: number;
  readonly checkpoints: number;
  readonly findings: readonly Finding[];
  readonly adoptions: readonly Adoption[];
  /** Device rows adopted (`device_bound` with `via: "adopted"`), in log order. */
  readonly device_adoptions: readonly DeviceAdoption[];
  /** Rejection evidence adopted (`rejection_evidence_adopted`), in log order. */
  readonly rejection_adoptions: readonly RejectionAdoption[];
  /** What each covered table's comparison with the log covered. */
  readonly tables: readonly TableCoverage[];
}

type Add = (kind: FindingKind, ref: string | null, leafIndex: number | null, detail: string) => void;

/**
 * Runs the audit on one snapshot of `db` (a read-only connection will do). `trusted`: the log keys whose
 * signatures count (history + configured key).
 */
export function auditLog(
  db: Database,
  storageKey: Buffer,
  origin: string,
  trusted: readonly Verifier[],
): AuditReport {
  if (db.inTransaction) return auditSnapshot(db, storageKey, origin, trusted);
  db.exec("BEGIN");
  try {
    return auditSnapshot(db, storageKey, origin, trusted);
  } finally {
    db.exec("ROLLBACK");
  }
}

function auditSnapshot(
  db: Database,
  storageKey: Buffer,
  origin: string,
  trusted: readonly Verifier[],
): AuditReport {
  const findings: Finding[] = [];
  const add: Add = (kind, ref, leafIndex, detail) => findings.push({ kind, ref, leafIndex, detail });
  const tiles = new TileStore(db);
  const keys = new SubjectKeys(db, storageKey);
  let treeSize = 0;
  try {
    treeSize = tiles.size();
  } catch (err) {
    add("tree", null, null, `tree state is corrupt: ${(err as Error).message}`);
    treeSize = (db.prepare("SELECT size FROM tlog_state").pluck().get() as number | undefined) ?? 0;
  }
  const checkpoints = new CheckpointStore(db).all();
  const readingById = db.prepare("SELECT * FROM readings WHERE id = ?");
  const erasedAt = db.prepare("SELECT ref, key_id, entry FROM tlog_erased WHERE leaf_index = ?");
  const storedAt = (i: number): Uint8Array | undefined => {
    try {
      return i < treeSize ? tiles.hashAt(0, i) : undefined;
    } catch {
      return undefined;
    }
  };
  const erasedKeys = new Set<number>();
  const adoptions: Adoption[] = [];
  const shredded: { ref: string; index: number; keyId: number }[] = [];
  const mismatches: { index: number; ref: string; leaf: Uint8Array }[] = [];
  const gaps: number[] = [];
  const suspects: MapSuspect[] = [];
  const frontier: { level: number; hash: Uint8Array }[] = [];
  let cpNext = 0;
  let records = 0;
  let opened = 0;
  let readingLeaves = 0;

  const fold = () => {
    if (frontier.length === 0) return EMPTY_ROOT;
    let acc = frontier[frontier.length - 1]!.hash;
    for (let k = frontier.length - 2; k >= 0; k--) acc = nodeHash(frontier[k]!.hash, acc);
    return acc;
  };
  // the stored tree against the signed checkpoints, leaf by leaf
  const pushStored = (leaf: Uint8Array, leaves: number) => {
    frontier.push({ level: 0, hash: leaf });
    while (frontier.length > 1 && frontier.at(-1)!.level === frontier.at(-2)!.level) {
      const r = frontier.pop()!;
      const l = frontier.pop()!;
      frontier.push({ level: l.level + 1, hash: nodeHash(l.hash, r.hash) });
    }
    while (cpNext < checkpoints.length && checkpoints[cpNext]!.size === leaves) {
      const cp = checkpoints[cpNext++]!;
      if (!bytesEqual(fold(), cp.root)) {
        add(
          "checkpoint",
          null,
          leaves - 1,
          `stored tree does not match the checkpoint signed at size ${cp.size}`,
        );
      }
    }
  };
  const beyondTree = (ref: string, i: number) => {
    const covered = checkpoints.some((c) => c.size > i);
    add(
      covered ? "deleted" : "inserted",
      ref,
      i,
      covered
        ? `leaf ${i} was removed from the tree (tree truncated to ${treeSize}) although a signed checkpoint covers it`
        : `record at leaf ${i} is not in the tree (size ${treeSize})`,
    );
  };

  let next = 0;
  for (const item of leafMap(db)) {
    const i = item.leafIndex;
    for (; next < Math.min(i, treeSize); next++) {
      gaps.push(next);
      pushStored(storedAt(next) ?? EMPTY_ROOT, next + 1);
    }
    if (i < next) {
      add("modified", item.ref, i, `leaf ${i} is claimed twice in the log's map of leaves`);
      continue;
    }
    records++;
    next = i + 1;
    if (i >= treeSize) {
      beyondTree(item.ref, i);
      continue;
    }
    const stored = storedAt(i);
    if (stored === undefined) {
      add("deleted", item.ref, i, `the tree has no stored hash for leaf ${i}`);
      continue;
    }
    pushStored(stored, i + 1);
    if (item.type === "event") {
      const leaf = leafHashWithNodeCrypto(item.row.entry);
      if (!leaf.equals(stored)) mismatches.push({ index: i, ref: item.ref, leaf });
      else if (item.row.sealed === null) shredded.push({ ref: item.ref, index: i, keyId: item.row.key_id });
      else opened += checkEvent(item.row, keys, add, erasedKeys, adoptions) ? 1 : 0;
      continue;
    }
    readingLeaves++;
    if (item.ref === "") {
      gaps.push(i); // the map lost this leaf's reading id: named below, with the row that claims it if any
      continue;
    }
    const row = readingById.get(item.ref) as ReadingRow | undefined;
    if (row === undefined) {
      const gone = erasedAt.get(i) as { ref: string; key_id: number; entry: Uint8Array } | undefined;
      if (gone?.ref !== item.ref) {
        // named once the rows claiming this leaf are known: the map itself may have been edited
        suspects.push({
          leafIndex: i,
          ref: item.ref,
          stored,
          fallback: () =>
            add(
              "deleted",
              item.ref,
              i,
              "reading was deleted from the readings table (the tree still commits to it)",
            ),
        });
      } else if (!leafHashWithNodeCrypto(gone.entry).equals(stored)) {
        add("modified", item.ref, i, "kept entry of an erased reading does not match the tree's leaf hash");
      } else shredded.push({ ref: item.ref, index: i, keyId: gone.key_id });
      continue;
    }
    const opening = readingOpening(keys, row, i);
    if (opening === undefined) {
      add("modified", item.ref, i, `subject ${row.subject_id} has no key although its reading is stored`);
      continue;
    }
    opened++;
    const leaf = leafHashWithNodeCrypto(opening.entry);
    if (row.leaf_index !== i) {
      const claimed = row.leaf_index === null ? "no leaf" : `leaf ${row.leaf_index}`;
      const isReordered =
        leaf.equals(stored) ||
        (row.leaf_index !== null && bytesEqual(leaf, storedAt(row.leaf_index) ?? EMPTY_ROOT));
      suspects.push({
        leafIndex: i,
        ref: item.ref,
        stored,
        fallback: () =>
          isReordered
            ? add("reordered", item.ref, i, `reading is the tree's leaf ${i} but its row claims ${claimed}`)
            : add(
                "modified",
                item.ref,
                i,
                `reading (leaf ${i}, its row claims ${claimed}) does not match the tree`,
              ),
      });
    } else if (!leaf.equals(stored)) {
      mismatches.push({ index: i, ref: item.ref, leaf });
    }
  }
  for (; next < treeSize; next++) {
    gaps.push(next);
    pushStored(storedAt(next) ?? EMPTY_ROOT, next + 1);
  }
  for (; cpNext < checkpoints.length; cpNext++) {
    const cp = checkpoints[cpNext]!;
    add(
      "checkpoint",
      null,
      null,
      `checkpoint of size ${cp.size} is beyond the tree (size ${treeSize}): the log was truncated`,
    );
  }
  classifyMismatches(mismatches, add);
  for (const s of shredded) {
    if (!erasedKeys.has(s.keyId)) {
      add(
        "deleted",
        s.ref,
        s.index,
        `opening of leaf ${s.index} is gone but no logged subject_erased event covers key ${s.keyId}`,
      );
    }
  }
  const named = resolveMapEdits(db, keys, suspects, add);
  unmappedReadings(db, readingLeaves, gaps, named, add);
  for (const cp of checkpoints) {
    const v = verifyCheckpoint(cp.note, origin, trusted);
    if (!v.ok) add("checkpoint", null, null, `checkpoint of size ${cp.size}: ${v.reason}: ${v.detail}`);
    else if (v.checkpoint.size !== cp.size || !bytesEqual(v.checkpoint.root, cp.root)) {
      add("checkpoint", null, null, `checkpoint row of size ${cp.size} disagrees with its signed note`);
    }
  }
  try {
    const deep = tiles.audit(Math.min(treeSize, tiles.size()));
    if (deep.mismatch && deep.mismatch.level > 0) {
      const m = deep.mismatch;
      add("tree", null, null, `stored interior hash (level ${m.level}, index ${m.index}) is ${m.reason}`);
    }
  } catch (err) {
    add("tree", null, null, `stored hashes cannot be audited: ${(err as Error).message}`);
  }
  let tables: TablesAudit = { tables: [], deviceAdoptions: [], rejectionAdoptions: [] };
  try {
    tables = auditTables(db, keys, (f) => findings.push(f));
  } catch (err) {
    add(
      "table_unreadable",
      null,
      null,
      `the tables cannot be compared with the log: ${(err as Error).message}`,
    );
  }
  return {
    ok: findings.length === 0,
    origin,
    treeSize,
    records,
    opened,
    erased: shredded.length,
    checkpoints: checkpoints.length,
    findings,
    adoptions,
    device_adoptions: tables.deviceAdoptions,
    rejection_adoptions: tables.rejectionAdoptions,
    tables: tables.tables,
  };
}

/** Opens one event record and checks it against its entry; returns true if it opened. */
function checkEvent(
  row: EventRow,
  keys: SubjectKeys,
  add: Add,
  erasedKeys: Set<number>,
  adoptions: Adoption[],
): boolean {
  const i = row.leaf_index;
  let opened: EventOpening;
  try {
    opened = openEvent(keys, row);
  } catch (err) {
    add("modified", row.ref, i, (err as Error).message);
    return false;
  }
  if (opened.status === "no-key") {
    add("modified", row.ref, i, `subject key ${row.key_id} is gone but the sealed record remains`);
    return false;
  }
  if (opened.status === "unauthentic") {
    add("modified", row.ref, i, "sealed record does not authenticate (ciphertext modified or moved)");
    return false;
  }
  if (opened.status === "entry-mismatch") {
    add("modified", row.ref, i, "record does not match its committed entry");
    return true;
  }
  let rec: ReturnType<typeof decodeRecord>;
  try {
    rec = decodeRecord(opened.opening.record);
  } catch (err) {
    add("modified", row.ref, i, `record is malformed: ${(err as Error).message}`);
    return true;
  }
  if (rec.id !== row.ref || rec.type !== "event")
    add("modified", row.ref, i, `record names ${rec.type} ${rec.id}`);
  if (rec.fields.event === "subject_erased") {
    const data = rec.fields.data as { key_ids?: unknown } | null;
    if (Array.isArray(data?.key_ids)) for (const k of data.key_ids) erasedKeys.add(Number(k));
  }
  if (rec.fields.event === READINGS_ADOPTED) {
    const data = (rec.fields.data ?? {}) as Record<string, unknown>;
    adoptions.push({
      eventId: row.ref,
      leafIndex: i,
      atMs: Number(rec.fields.at_ms),
      count: Number(data.count),
      firstLeaf: Number(data.first_leaf),
      lastLeaf: Number(data.last_leaf),
      by: String(data.by),
      reason: String(data.reason),
    });
  }
  return true;
}

/** A record whose leaf hash is not the stored one: reordered if it is the stored leaf elsewhere. */
function classifyMismatches(
  list: readonly { index: number; ref: string; leaf: Uint8Array }[],
  add: Add,
): void {
  const storedWhere = new Map<string, number>();
  for (const m of list) storedWhere.set(base64Encode(m.leaf), m.index);
  for (const m of list) {
    const belongs = storedWhere.get(base64Encode(m.leaf));
    if (belongs !== undefined && belongs !== m.index) {
      add("reordered", m.ref, m.index, `record of leaf ${m.index} is stored as the tree's leaf ${belongs}`);
    } else {
      add("modified", m.ref, m.index, `record of leaf ${m.index} does not match the tree's leaf hash`);
    }
  }
}
