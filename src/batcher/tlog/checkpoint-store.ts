/**
 * Signed checkpoints: storage (`tlog_checkpoints`) and the one function that signs a new one.
 *
 * [C2SP tlog-checkpoint] "A log MUST not sign any checkpoint which is inconsistent with any checkpoint it
 * previously signed." `signNextCheckpoint` enforces it with a compare-and-swap inside one IMMEDIATE
 * transaction: it reads the last signed checkpoint (from its signed note, not from a cache), proves the
 * current tree consistent with it ([RFC 9162 §2.1.4]) from the stored hashes, verifies that proof, and only
 * then signs and stores the new note. Concurrent signers (two processes) serialize on the write lock,
 * so neither can sign over a head the other did not see.
 */
import type { Database, Statement } from "better-sqlite3";
import { GatewayError } from "../../errors.js";
import { bytesEqual } from "../verifier/assert.js";
import { parseCheckpoint, signCheckpoint } from "../verifier/checkpoint.js";
import { verifyConsistency } from "../verifier/merkle-verify.js";
import { parseNote } from "../verifier/note.js";
import { keyIdHex, type Signer } from "../verifier/signer.js";
import type { TileStore } from "./tile-store.js";

/** A checkpoint as stored: the signed note verbatim plus its parsed size and root. */
export interface StoredCheckpoint {
  readonly size: number;
  readonly root: Uint8Array;
  /** The signed note (text, blank line, signature lines), exactly as signed. */
  readonly note: string;
  /** Hex key ID of the (first) signing key. */
  readonly keyId: string;
  readonly signedAtMs: number;
}

interface Row {
  size: number;
  root: Uint8Array;
  note: string;
  key_id: string;
  signed_at_ms: number;
}

const toStored = (r: Row): StoredCheckpoint => ({
  size: r.size,
  root: r.root,
  note: r.note,
  keyId: r.key_id,
  signedAtMs: r.signed_at_ms,
});

/** Read access to the signed checkpoints (also what an HTTP layer serves at `<prefix>/checkpoint`). */
export class CheckpointStore {
  readonly #latest: Statement<[], Row>;
  readonly #atLeast: Statement<[number], Row>;
  readonly #at: Statement<[number], Row>;
  readonly #all: Statement<[], Row>;
  readonly #insert: Statement<[number, Uint8Array, string, string, number]>;

  constructor(db: Database) {
    this.#latest = db.prepare("SELECT * FROM tlog_checkpoints ORDER BY size DESC LIMIT 1");
    this.#atLeast = db.prepare("SELECT * FROM tlog_checkpoints WHERE size >= ? ORDER BY size LIMIT 1");
    this.#at = db.prepare("SELECT * FROM tlog_checkpoints WHERE size = ?");
    this.#all = db.prepare("SELECT * FROM tlog_checkpoints ORDER BY size");
    this.#insert = db.prepare(
      "INSERT INTO tlog_checkpoints (size, root, note, key_id, signed_at_ms) VALUES (?, ?, ?, ?, ?)",
    );
  }

  latest(): StoredCheckpoint | undefined {
    const r = this.#latest.get();
    return r && toStored(r);
  }

  /** The checkpoint of exactly this size. */
  at(size: number): StoredCheckpoint | undefined {
    const r = this.#at.get(size);
    return r && toStored(r);
  }

  /** The smallest checkpoint of at least this size. */
  atLeast(size: number): StoredCheckpoint | undefined {
    const r = this.#atLeast.get(size);
    return r && toStored(r);
  }

  /** Every checkpoint, by size. */
  all(): StoredCheckpoint[] {
    return this.#all.all().map(toStored);
  }

  /** Stores a signed checkpoint (inside the caller's transaction). */
  insert(cp: StoredCheckpoint): void {
    this.#insert.run(cp.size, cp.root, cp.note, cp.keyId, cp.signedAtMs);
  }
}

/** Size and root as stated by a stored note's text (what was actually signed). */
export function signedHead(cp: StoredCheckpoint): { size: number; root: Uint8Array; origin: string } {
  const c = parseCheckpoint(parseNote(cp.note).text);
  return { size: c.size, root: c.root, origin: c.origin };
}

/**
 * Signs a checkpoint over the current tree if it grew past the last signed one (see the module
 * comment). Returns the new checkpoint, or undefined when there was nothing new to sign.
 * @throws GatewayError INTEGRITY_FAILURE when the tree is not consistent with the last checkpoint
 *   (nothing is signed), SIGNER_FAILURE when signing fails.
 */
export function signNextCheckpoint(args: {
  db: Database;
  tiles: TileStore;
  store: CheckpointStore;
  origin: string;
  signers: readonly Signer[];
  nowMs: number;
}): StoredCheckpoint | undefined {
  // A published checkpoint must never be lost to a power cut (a restarted log could otherwise re-grow
  // differently under it): this commit fsyncs the WAL, which makes every earlier commit durable too.
  const { db } = args;
  const previous = db.pragma("synchronous", { simple: true }) as number;
  db.pragma("synchronous = FULL");
  try {
    return db.transaction(() => signNextCheckpointIn(args)).immediate();
  } finally {
    db.pragma(`synchronous = ${previous}`);
  }
}

/**
 * {@link signNextCheckpoint} inside the caller's transaction (the commit thread's group commit, which commits
 * it with a full sync). MUST run inside `db.transaction`.
 */
export function signNextCheckpointIn(args: {
  db: Database;
  tiles: TileStore;
  store: CheckpointStore;
  origin: string;
  signers: readonly Signer[];
  nowMs: number;
}): StoredCheckpoint | undefined {
  const { db, tiles, store, origin, signers } = args;
  if (!db.inTransaction) throw new TypeError("signNextCheckpointIn runs inside a transaction");
  const last = store.latest();
  const size = tiles.size();
  if (size === 0 || (last !== undefined && size <= last.size)) {
    if (last !== undefined && size < last.size) {
      throw new GatewayError(
        "INTEGRITY_FAILURE",
        `tree size ${size} is smaller than the last signed checkpoint (${last.size}): the log was truncated`,
      );
    }
    return undefined;
  }
  const root = tiles.root();
  if (last !== undefined) {
    const head = signedHead(last);
    if (head.origin !== origin) {
      throw new GatewayError("INTEGRITY_FAILURE", `last checkpoint has origin ${head.origin}, not ${origin}`);
    }
    const proof = tiles.consistencyProof(head.size, size);
    // [RFC 9162 §2.1.4.2] verify before signing: never sign a head inconsistent with a signed one
    if (!verifyConsistency(head.size, size, proof, head.root, root)) {
      throw new GatewayError(
        "INTEGRITY_FAILURE",
        `tree of size ${size} is not consistent with the checkpoint signed at size ${head.size}; refusing to sign`,
      );
    }
  }
  let note: string;
  try {
    note = signCheckpoint({ origin, size, root, extensions: [] }, signers);
  } catch (cause) {
    throw new GatewayError("SIGNER_FAILURE", "checkpoint signing failed", { cause });
  }
  const cp: StoredCheckpoint = {
    size,
    root,
    note,
    keyId: keyIdHex(signers[0]!.keyId),
    signedAtMs: args.nowMs,
  };
  store.insert(cp);
  return cp;
}

/** True when `a` and `b` state the same tree head. */
export function sameHead(a: StoredCheckpoint, b: { size: number; root: Uint8Array }): boolean {
  return a.size === b.size && bytesEqual(a.root, b.root);
}
