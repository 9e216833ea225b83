/**
 * `vitalog audit` (issue #3 §7): recomputes the whole tree from storage and checks every checkpoint,
 * naming each reading that was modified, deleted, inserted or reordered behind the gateway's back.
 *
 * One streaming pass over `tlog_records` in leaf order (O(n) time, O(log n) memory plus findings):
 * - each sealed record is opened with its subject key, its commitment recomputed and compared with the
 *   stored entry, the entry's leaf hash with the stored level-0 hash, and the record with the plaintext
 *   `readings` row it belongs to;
 * - the tree is rebuilt from the records' entries (a stored leaf hash stands in where a record is gone,
 *   so one deletion is named once instead of failing everything after it) and its root compared with every
 *   signed checkpoint at that checkpoint's size; each checkpoint note's signature is verified;
 * - `TileStore.audit` checks every stored interior hash against a recomputation from the leaves.
 * Erased subjects' records (sealed = NULL) are expected only for keys shredded by a logged
 * `subject_erased` event; any other missing opening is a finding.
 */
import type { Database } from "better-sqlite3";
import { bytesEqual } from "./assert.js";
import { base64Encode } from "./base64.js";
import { decodeRecord, readingRecordText } from "./canonical-record.js";
import { verifyCheckpoint } from "./checkpoint.js";
import { CheckpointStore } from "./checkpoint-store.js";
import { EMPTY_ROOT, nodeHash } from "./merkle.js";
import { commitEntryFast, leafHashFast, openRecord } from "./record-crypto.js";
import { type ReadingRow, readingFromRow } from "./record-log.js";
import type { Verifier } from "./signer.js";
import { SubjectKeys } from "./subject-keys.js";
import { storedIndex, TileStore } from "./tile-store.js";

export type FindingKind = "modified" | "deleted" | "inserted" | "reordered" | "checkpoint" | "tree";

/** One problem, naming the reading (or event) id when it is known. */
export interface Finding {
  readonly kind: FindingKind;
  readonly ref: string | null;
  readonly leafIndex: number | null;
  readonly detail: string;
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
}

interface Row {
  leaf_index: number;
  ref: string;
  type: string;
  key_id: number;
  entry: Uint8Array;
  sealed: Uint8Array | null;
  r_id: string | null;
}

interface Mismatch {
  index: number;
  ref: string;
  keyId: number;
  entry: Uint8Array;
  sealed: Uint8Array | null;
}

/** Runs the audit. `trusted`: the log keys whose signatures count (history + configured key). */
export function auditLog(
  db: Database,
  storageKey: Buffer,
  origin: string,
  trusted: readonly Verifier[],
): AuditReport {
  const findings: Finding[] = [];
  const add = (kind: FindingKind, ref: string | null, leafIndex: number | null, detail: string) =>
    findings.push({ kind, ref, leafIndex, detail });
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
  const getLeaf = db.prepare("SELECT hash FROM tlog_hashes WHERE id = ?").pluck();
  const storedLeaf = (i: number) => getLeaf.get(storedIndex(0, i)) as Uint8Array | undefined;
  const reading = db.prepare("SELECT * FROM readings WHERE id = ?");
  const erasedKeys = new Set<number>();
  const shredded: { ref: string; index: number; keyId: number }[] = [];
  const mismatches: Mismatch[] = [];
  const missingLeaves: number[] = [];
  const frontier: { level: number; hash: Uint8Array }[] = [];
  let cpNext = 0;
  let records = 0;
  let opened = 0;
  let expect = 0;

  const fold = () => {
    if (frontier.length === 0) return EMPTY_ROOT;
    let acc = frontier[frontier.length - 1]!.hash;
    for (let k = frontier.length - 2; k >= 0; k--) acc = nodeHash(frontier[k]!.hash, acc);
    return acc;
  };
  const push = (leaf: Uint8Array, leaves: number) => {
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
          `tree recomputed from storage does not match the checkpoint signed at size ${cp.size}`,
        );
      }
    }
  };
  const gap = (until: number) => {
    for (; expect < until; expect++) {
      const h = storedLeaf(expect);
      missingLeaves.push(expect);
      if (h === undefined) {
        add("deleted", null, expect, `leaf ${expect} has neither a record nor a stored hash`);
        return;
      }
      push(h, expect + 1);
    }
  };

  const scan = db.prepare(
    `SELECT t.leaf_index, t.ref, t.type, t.key_id, t.entry, t.sealed, r.id AS r_id
       FROM tlog_records t LEFT JOIN readings r ON r.id = t.ref ORDER BY t.leaf_index`,
  );
  for (const row of scan.iterate() as IterableIterator<Row>) {
    records++;
    const i = row.leaf_index;
    if (i >= treeSize) {
      const covered = checkpoints.some((c) => c.size > i);
      add(
        covered ? "deleted" : "inserted",
        row.ref,
        i,
        covered
          ? `leaf ${i} was removed from the tree (tree truncated to ${treeSize}) although a signed checkpoint covers it`
          : `record at leaf ${i} is not in the tree (size ${treeSize})`,
      );
      continue;
    }
    gap(i);
    expect = i + 1;
    const leaf = leafHashFast(row.entry);
    const stored = storedLeaf(i);
    if (stored === undefined || !leaf.equals(stored)) {
      mismatches.push({ index: i, ref: row.ref, keyId: row.key_id, entry: row.entry, sealed: row.sealed });
    } else if (row.sealed === null) {
      shredded.push({ ref: row.ref, index: i, keyId: row.key_id });
    } else {
      opened += checkRecord(row, i, keys, reading, add, erasedKeys) ? 1 : 0;
    }
    push(leaf, i + 1);
  }
  gap(treeSize);
  for (; cpNext < checkpoints.length; cpNext++) {
    const cp = checkpoints[cpNext]!;
    add(
      "checkpoint",
      null,
      null,
      `checkpoint of size ${cp.size} is beyond the tree (size ${treeSize}): the log was truncated`,
    );
  }

  classifyMismatches(mismatches, storedLeaf, keys, add);
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
  // readings that have no record: inserted behind the gateway's back, or their record was deleted
  const orphans = db
    .prepare(
      "SELECT id FROM readings WHERE NOT EXISTS (SELECT 1 FROM tlog_records t WHERE t.ref = readings.id) ORDER BY row_id",
    )
    .pluck()
    .all() as string[];
  for (const id of orphans) {
    if (missingLeaves.length > 0) {
      add(
        "deleted",
        id,
        null,
        `reading has no log record (record deleted; leaves without a record: ${missingLeaves.slice(0, 10).join(", ")})`,
      );
    } else {
      add("inserted", id, null, "reading is not in the log (inserted behind the gateway's back)");
    }
  }
  for (const cp of checkpoints) {
    const v = verifyCheckpoint(cp.note, origin, trusted);
    if (!v.ok) add("checkpoint", null, null, `checkpoint of size ${cp.size}: ${v.reason}: ${v.detail}`);
    else if (v.checkpoint.size !== cp.size || !bytesEqual(v.checkpoint.root, cp.root)) {
      add("checkpoint", null, null, `checkpoint row of size ${cp.size} disagrees with its signed note`);
    }
  }
  try {
    const deep = tiles.audit(Math.min(treeSize, tiles.size()));
    if (deep.mismatch) {
      const m = deep.mismatch;
      if (m.level > 0)
        add("tree", null, null, `stored interior hash (level ${m.level}, index ${m.index}) is ${m.reason}`);
    }
  } catch (err) {
    add("tree", null, null, `stored hashes cannot be audited: ${(err as Error).message}`);
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
  };
}

/** Opens one record and checks it against its entry and its readings row; returns true if opened. */
function checkRecord(
  row: Row,
  i: number,
  keys: SubjectKeys,
  reading: { get(id: string): unknown },
  add: (kind: FindingKind, ref: string | null, leafIndex: number | null, detail: string) => void,
  erasedKeys: Set<number>,
): boolean {
  let key: Buffer | undefined;
  try {
    key = keys.keyById(row.key_id);
  } catch (err) {
    add("modified", row.ref, i, (err as Error).message);
    return false;
  }
  if (key === undefined) {
    add("modified", row.ref, i, `subject key ${row.key_id} is gone but the sealed record remains`);
    return false;
  }
  const opening = openRecord(key, i, row.entry, row.sealed!);
  if (opening === undefined) {
    add("modified", row.ref, i, "sealed record does not authenticate (ciphertext modified or moved)");
    return false;
  }
  if (!commitEntryFast(opening.salt, opening.record).equals(row.entry)) {
    add("modified", row.ref, i, "record does not match its committed entry");
    return true;
  }
  let rec: ReturnType<typeof decodeRecord>;
  try {
    rec = decodeRecord(opening.record);
  } catch (err) {
    add("modified", row.ref, i, `record is malformed: ${(err as Error).message}`);
    return true;
  }
  if (rec.id !== row.ref || rec.type !== row.type)
    add("modified", row.ref, i, `record names ${rec.type} ${rec.id}`);
  if (rec.type === "event") {
    if (rec.fields.event === "subject_erased") {
      const data = rec.fields.data as { key_ids?: unknown } | null;
      if (Array.isArray(data?.key_ids)) for (const k of data.key_ids) erasedKeys.add(Number(k));
    }
    return true;
  }
  if (row.r_id === null) {
    add(
      "deleted",
      row.ref,
      i,
      "reading was deleted from the readings table (its log record still proves it)",
    );
    return true;
  }
  const stored = readingRecordText(readingFromRow(reading.get(row.ref) as ReadingRow));
  const committed = Buffer.from(opening.record).toString("utf8");
  if (stored !== committed) {
    add(
      "modified",
      row.ref,
      i,
      `stored reading differs from the committed record in ${diffFields(stored, committed)}`,
    );
  }
  return true;
}

function diffFields(a: string, b: string): string {
  const x = JSON.parse(a) as Record<string, unknown>;
  const y = JSON.parse(b) as Record<string, unknown>;
  const keys = Object.keys(y).filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]));
  return keys.length > 0 ? keys.join(", ") : "encoding";
}

/** A record whose entry is not the leaf at its index: moved (reordered) if it is the leaf elsewhere. */
function classifyMismatches(
  list: readonly Mismatch[],
  storedLeaf: (i: number) => Uint8Array | undefined,
  keys: SubjectKeys,
  add: (kind: FindingKind, ref: string | null, leafIndex: number | null, detail: string) => void,
): void {
  const where = new Map<string, number>();
  for (const m of list) {
    const h = storedLeaf(m.index);
    if (h) where.set(base64Encode(h), m.index);
  }
  for (const m of list) {
    const belongs = where.get(base64Encode(leafHashFast(m.entry)));
    if (belongs !== undefined && belongs !== m.index) {
      const key = keys.keyById(m.keyId);
      const sealedOk =
        m.sealed !== null && key !== undefined && openRecord(key, belongs, m.entry, m.sealed) !== undefined;
      add(
        "reordered",
        m.ref,
        m.index,
        `record stored at leaf ${m.index} is the tree's leaf ${belongs}${sealedOk ? "" : " (and its sealed record does not open there)"}`,
      );
    } else {
      add("modified", m.ref, m.index, `entry of leaf ${m.index} does not match the tree's leaf hash`);
    }
  }
}
