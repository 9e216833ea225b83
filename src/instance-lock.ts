/**
 * One gateway per database and per state directory, decided before anything is written.
 *
 * Two daemons on one database would append to one log and sign checkpoints over two different trees with
 * one key; two on one state directory would share its control socket and its keys. So a gateway takes an
 * exclusive lock beside its database (`<db>.lock`) and one in its state directory (`<stateDir>/gateway.lock`)
 * before it opens the database, and holds both until it stops. A second gateway finding either held stops
 * with ALREADY_RUNNING (exit 75), naming the holder.
 *
 * The lock must go with its holder (crash and SIGKILL included), and testing and taking it must be one step.
 * Node has no flock(2). Weighed and refused:
 * - a file created with O_EXCL outlives a crash: a later start cannot tell a dead holder's file from a live one;
 * - a Unix socket bound at a path: bind(2) fails on a dead daemon's file as on a live one's, and telling them
 *   apart by connect(2) before unlinking is the probe-unlink-bind race (two starters both find the file stale,
 *   the second unlinks the first's fresh socket, both run). An abstract socket (Linux) leaves no file, but any
 *   local user may bind its name first, and it is scoped to a network namespace: two containers sharing the
 *   database's volume would not see each other;
 * - `PRAGMA locking_mode=EXCLUSIVE` on the database itself would lock out the commit thread and the CLI.
 *
 * Chosen: the lock file is a small SQLite database of its own, held in a write transaction (`BEGIN IMMEDIATE`,
 * SQLite's RESERVED lock) for the gateway's life. SQLite locks with POSIX advisory locks (fcntl F_SETLK):
 * atomic test-and-set, dropped by the kernel when the process dies, shared by every process of one kernel
 * (containers included), and as reliable as the database's own locking on the same file system (local file
 * systems; not NFS). Within one process, where fcntl locks never conflict, SQLite's own table of locks per
 * inode makes a second connection conflict as another process would. A RESERVED lock still lets others read:
 * the holder commits its record (pid, host, state directory, database, start time) just before taking the
 * lock for good, and a second gateway reads it to say who holds it.
 */

import { randomUUID } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import { GatewayError } from "./errors.js";
import { createPrivateFile, makePrivateDirectory } from "./private-paths.js";

/** File name of the state directory's lock. */
export const STATE_LOCK_NAME = "gateway.lock";
/** Suffix of the database's lock, beside it. */
export const DATABASE_LOCK_SUFFIX = ".lock";
/** How long a holder's commit waits for readers of its record, and a reader for that commit. */
const RECORD_BUSY_MS = 2000;

/** Who holds a lock: what a second gateway reports. */
export interface LockHolder {
  pid: number;
  host: string;
  stateDir: string;
  database: string;
  startedAt: string;
}

type LockDb = Database.Database;

/**
 * The locks of one running gateway. MUST be acquired before the database is opened or anything is written
 * in the state directory; MUST be released only after the database is closed. Releasing twice is harmless.
 */
export class InstanceLock {
  readonly #held: LockDb[];

  private constructor(held: LockDb[]) {
    this.#held = held;
  }

  /**
   * Takes the state directory's lock, then the database's (creating both directories 0700 and refusing
   * insecure ones first, as opening the database would). Throws ALREADY_RUNNING, naming the holder, when
   * another gateway, in this process or another, holds either.
   */
  static acquire(where: { stateDir: string; database: string }, startedAtMs: number): InstanceLock {
    makePrivateDirectory(where.stateDir, "state directory");
    makePrivateDirectory(dirname(where.database), "database directory");
    const holder: LockHolder = {
      pid: process.pid,
      host: hostname(),
      stateDir: where.stateDir,
      database: where.database,
      startedAt: new Date(startedAtMs).toISOString(),
    };
    const stateLock = join(realpathSync(where.stateDir), STATE_LOCK_NAME);
    const databaseLock = `${realFile(where.database)}${DATABASE_LOCK_SUFFIX}`;
    const held: LockDb[] = [];
    try {
      held.push(take(stateLock, `state directory ${where.stateDir}`, holder));
      // a database named gateway in the state directory shares the state directory's lock file
      if (databaseLock !== stateLock) held.push(take(databaseLock, `database ${where.database}`, holder));
    } catch (err) {
      for (const db of held) release(db);
      throw err;
    }
    return new InstanceLock(held);
  }

  /** Lets the next gateway start. */
  release(): void {
    for (const db of this.#held.splice(0)) release(db);
  }
}

/** The path SQLite will open for `file` (symbolic links resolved), whether or not it exists yet. */
function realFile(file: string): string {
  if (existsSync(file)) return realpathSync(file);
  return join(realpathSync(dirname(file)), basename(file));
}

/** Holds the lock at `path` or throws ALREADY_RUNNING; `what` names what it guards in the message. */
function take(path: string, what: string, holder: LockHolder): LockDb {
  let db: LockDb;
  try {
    createPrivateFile(path);
    db = new Database(path);
  } catch (cause) {
    throw new GatewayError("STORE_UNAVAILABLE", `cannot open the lock file ${path}`, { cause });
  }
  const nonce = randomUUID();
  try {
    if (!tryBeginImmediate(db)) throw alreadyRunning(db, what, nonce);
    db.pragma(`busy_timeout = ${RECORD_BUSY_MS}`);
    db.exec(
      "CREATE TABLE IF NOT EXISTS holder (nonce TEXT NOT NULL, record TEXT NOT NULL) STRICT; DELETE FROM holder;",
    );
    db.prepare("INSERT INTO holder (nonce, record) VALUES (?, ?)").run(nonce, JSON.stringify(holder));
    db.exec("COMMIT");
    // between COMMIT and this BEGIN the lock was free: whoever took it meanwhile is the holder now
    if (!tryBeginImmediate(db)) throw alreadyRunning(db, what, nonce);
    return db;
  } catch (err) {
    release(db);
    if (err instanceof GatewayError) throw err;
    throw new GatewayError("STORE_UNAVAILABLE", `cannot use the lock file ${path}`, { cause: err });
  }
}

/** Takes SQLite's RESERVED lock without waiting; false when another connection holds it. */
function tryBeginImmediate(db: LockDb): boolean {
  db.pragma("busy_timeout = 0");
  try {
    db.exec("BEGIN IMMEDIATE");
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code === "SQLITE_BUSY") return false;
    throw err;
  }
}

function alreadyRunning(db: LockDb, what: string, ownNonce: string): GatewayError {
  const holder = readHolder(db, ownNonce);
  const who =
    holder === undefined
      ? "another gateway, whose details are not recorded yet"
      : `the gateway of pid ${holder.pid} on ${holder.host} (state directory ${holder.stateDir}, database ${holder.database}, started ${holder.startedAt})`;
  return new GatewayError(
    "ALREADY_RUNNING",
    `${what} is in use by ${who}: stop it first, or give this gateway its own gateway.stateDir and storage.path`,
    { details: holder },
  );
}

/** The committed record of the holder, unless it is missing, unreadable or our own (we lost a race). */
function readHolder(db: LockDb, ownNonce: string): LockHolder | undefined {
  try {
    db.pragma(`busy_timeout = ${RECORD_BUSY_MS}`);
    const row = db.prepare("SELECT nonce, record FROM holder").get() as
      | { nonce: string; record: string }
      | undefined;
    if (row === undefined || row.nonce === ownNonce) return undefined;
    return JSON.parse(row.record) as LockHolder;
  } catch {
    return undefined;
  }
}

function release(db: LockDb): void {
  if (!db.open) return;
  if (db.inTransaction) db.exec("ROLLBACK");
  db.close();
}
