/**
 * Per-subject record keys (crypto-shredding): one random AES-256 key per subject, stored wrapped by the
 * gateway's storage key in `tlog_subject_keys`. The key derives the salts of the subject's readings
 * (record-crypto.ts `saltDeriver`) and seals its event records. Erasing a subject destroys its wrapped
 * key; its salts and sealed records can then never be recovered, while the tree and every other
 * subject's proofs are untouched.
 *
 * Contract: all methods are synchronous and run inside the caller's transaction when they write. The
 * cache of unwrapped keys is dropped whenever another connection committed (PRAGMA data_version), so an
 * erasure by `vitalog subjects erase` in another process is honoured at the gateway's next commit.
 */
import { randomBytes } from "node:crypto";
import type { Database, Statement } from "better-sqlite3";
import { GatewayError } from "../../errors.js";
import { type SaltDeriver, saltDeriver, storageMac, unwrapKey, wrapKey } from "./record-crypto.js";

/** Pseudo-subject whose key seals gateway-level events (no patient involved). Not a valid subject id. */
export const GATEWAY_SUBJECT = "_gateway";

const TAG_LABEL = "vitalog/subject-tag/v1";

interface KeyRow {
  key_id: number;
  wrapped_key: Uint8Array | null;
}

/** Unwrapped key of one subject. */
export interface SubjectKey {
  readonly keyId: number;
  readonly key: Buffer;
  /** The salt of this subject's reading at a leaf index (record-crypto.ts `saltDeriver`). */
  readonly saltAt: (leafIndex: number) => Buffer;
  /** The salts of several leaves in one AES call, concatenated in order (the log's hot path). */
  readonly saltsAt: (leafIndexes: readonly number[]) => Buffer;
}

function subjectKey(keyId: number, key: Buffer): SubjectKey {
  let derive: SaltDeriver | undefined;
  return {
    keyId,
    key,
    saltAt: (i) => {
      derive ??= saltDeriver(key);
      return derive(i);
    },
    saltsAt: (indexes) => {
      derive ??= saltDeriver(key);
      return derive.many(indexes);
    },
  };
}

/** The subject key table over one connection. */
export class SubjectKeys {
  readonly #db: Database;
  readonly #storageKey: Buffer;
  readonly #bySubject: Statement<[string], KeyRow>;
  readonly #byId: Statement<[number], KeyRow>;
  readonly #insert: Statement<[string, Buffer, number]>;
  readonly #setWrapped: Statement<[Buffer, number]>;
  readonly #isTombstoned: Statement<[Buffer], number>;
  readonly #cache = new Map<string, SubjectKey>();
  readonly #byIdCache = new Map<number, Buffer>();
  #created: number[] = [];
  #dataVersion = -1;

  constructor(db: Database, storageKey: Buffer) {
    this.#db = db;
    this.#storageKey = storageKey;
    this.#bySubject = db.prepare("SELECT key_id, wrapped_key FROM tlog_subject_keys WHERE subject_id = ?");
    this.#byId = db.prepare("SELECT key_id, wrapped_key FROM tlog_subject_keys WHERE key_id = ?");
    this.#insert = db.prepare(
      "INSERT INTO tlog_subject_keys (subject_id, subject_tag, wrapped_key, created_at_ms) VALUES (?, ?, X'', ?)",
    );
    this.#setWrapped = db.prepare("UPDATE tlog_subject_keys SET wrapped_key = ? WHERE key_id = ?");
    this.#isTombstoned = db
      .prepare<[Buffer], number>(
        "SELECT EXISTS (SELECT 1 FROM tlog_subject_keys WHERE subject_tag = ? AND erased_at_ms IS NOT NULL)",
      )
      .pluck();
  }

  /** Storage-key MAC of a subject id: lets the key holder recognise a subject without storing its id. */
  tag(subjectId: string): Buffer {
    return storageMac(this.#storageKey, TAG_LABEL, subjectId);
  }

  /** Drops cached keys if another connection committed, or if keys created in a rolled-back tx vanished. */
  revalidate(): void {
    const v = this.#db.pragma("data_version", { simple: true }) as number;
    let drop = v !== this.#dataVersion;
    if (!drop && this.#created.length > 0)
      drop = this.#created.some((id) => this.#byId.get(id) === undefined);
    this.#created = [];
    this.#dataVersion = v;
    if (drop) {
      this.#cache.clear();
      this.#byIdCache.clear();
    }
  }

  /**
   * The subject's active key, created (inside the caller's transaction) when it has none. Throws SUBJECT_ERASED
   * for a subject erased before (its tombstone's tag): nothing new is kept for an erased subject, so a binding,
   * an entry or an alert of it rolls back instead of starting a second record under a new key.
   */
  keyFor(subjectId: string, nowMs: number): SubjectKey {
    const hit = this.#cache.get(subjectId);
    if (hit) return hit;
    const row = this.#bySubject.get(subjectId);
    let out: SubjectKey;
    if (row?.wrapped_key) {
      out = subjectKey(row.key_id, this.#unwrap(row.key_id, row.wrapped_key));
    } else {
      const tag = this.tag(subjectId);
      if (this.#isTombstoned.get(tag) === 1) {
        throw new GatewayError(
          "SUBJECT_ERASED",
          "the subject's record was erased: nothing new is kept for it",
        );
      }
      const key = randomBytes(32);
      const keyId = Number(this.#insert.run(subjectId, tag, nowMs).lastInsertRowid);
      this.#setWrapped.run(wrapKey(this.#storageKey, keyId, key), keyId);
      this.#created.push(keyId);
      out = subjectKey(keyId, key);
    }
    this.#cache.set(subjectId, out);
    this.#byIdCache.set(out.keyId, out.key);
    return out;
  }

  /** The subject's active key without creating one: undefined when it has none (or it was erased). */
  existingKeyFor(subjectId: string): SubjectKey | undefined {
    const hit = this.#cache.get(subjectId);
    if (hit) return hit;
    const row = this.#bySubject.get(subjectId);
    if (!row?.wrapped_key) return undefined;
    const out = subjectKey(row.key_id, this.#unwrap(row.key_id, row.wrapped_key));
    this.#cache.set(subjectId, out);
    this.#byIdCache.set(out.keyId, out.key);
    return out;
  }

  /** The key with this id, or undefined when it was erased (or never existed). */
  keyById(keyId: number): Buffer | undefined {
    const hit = this.#byIdCache.get(keyId);
    if (hit) return hit;
    const row = this.#byId.get(keyId);
    if (!row?.wrapped_key) return undefined;
    const key = this.#unwrap(keyId, row.wrapped_key);
    this.#byIdCache.set(keyId, key);
    return key;
  }

  #unwrap(keyId: number, wrapped: Uint8Array): Buffer {
    const key = unwrapKey(this.#storageKey, keyId, wrapped);
    if (key === undefined) {
      throw new GatewayError(
        "INTEGRITY_FAILURE",
        `subject key ${keyId} does not unwrap with the storage key (wrong storage key file, or tampered)`,
      );
    }
    return key;
  }

  /**
   * Crypto-shreds every key of `subjectId` (inside the caller's transaction): the wrapped key and the
   * subject id are overwritten with NULL. Returns the erased key ids (empty if the subject is unknown).
   */
  erase(subjectId: string, nowMs: number): number[] {
    const ids = (
      this.#db.prepare("SELECT key_id FROM tlog_subject_keys WHERE subject_id = ?").all(subjectId) as {
        key_id: number;
      }[]
    ).map((r) => r.key_id);
    this.#db
      .prepare(
        "UPDATE tlog_subject_keys SET wrapped_key = NULL, subject_id = NULL, erased_at_ms = ? WHERE subject_id = ?",
      )
      .run(nowMs, subjectId);
    this.#cache.delete(subjectId);
    for (const id of ids) this.#byIdCache.delete(id);
    return ids;
  }
}
