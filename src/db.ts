import { dirname } from "node:path";
import Database from "better-sqlite3";
import { GatewayError } from "./errors.js";
import { createPrivateFile, makePrivateDirectory } from "./private-paths.js";

export type Db = Database.Database;

/** One numbered schema step. `sql` runs inside the migration's transaction. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export interface OpenOptions {
  /** "full": fsync at every commit (power-loss safe); "normal": process-crash safe only (WAL). */
  synchronous?: "full" | "normal";
  readonly?: boolean;
  /** How long a statement waits for another connection's lock before SQLITE_BUSY (default 5000). */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed) a SQLite database in WAL mode and applies the given migrations in
 * order, tracked with PRAGMA user_version. Refuses a database newer than this build.
 *
 * For writing, the database's directory is created 0700 and refused when its group or others may write it
 * (DIRECTORY_INSECURE); a new database file is created 0600 before SQLite opens it, so its WAL and
 * shared-memory files, which SQLite creates with the database file's mode, are 0600 too (private-paths.ts).
 */
export function openDatabase(file: string, migrations: readonly Migration[], options: OpenOptions = {}): Db {
  if (!options.readonly && file !== ":memory:" && file !== "") {
    try {
      makePrivateDirectory(dirname(file), "database directory");
      createPrivateFile(file);
    } catch (cause) {
      if (cause instanceof GatewayError) throw cause;
      throw new GatewayError("STORE_UNAVAILABLE", `cannot create database ${file}`, { cause });
    }
  }
  let db: Db;
  try {
    db = new Database(file, {
      readonly: options.readonly ?? false,
      fileMustExist: options.readonly ?? false,
    });
  } catch (cause) {
    throw new GatewayError("STORE_UNAVAILABLE", `cannot open database ${file}`, { cause });
  }
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
  if (options.readonly) return db;
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
  db.pragma("foreign_keys = ON");
  migrate(db, migrations);
  return db;
}

/**
 * True when `err` is SQLite refusing for a lock another connection holds (or held across this transaction's
 * snapshot): transient, worth retrying shortly. The gateway's commit thread is such a connection.
 */
export function isSqliteBusy(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === "SQLITE_BUSY" || code === "SQLITE_BUSY_SNAPSHOT" || code === "SQLITE_LOCKED";
}

/**
 * Runs `fn` in an IMMEDIATE transaction, waiting out another connection's write lock (the gateway's group
 * commits) for up to `waitMs` before the busy error is thrown. For changes made by the main connection or
 * a CLI beside a running gateway, whose own busy timeout is short.
 */
export async function immediateWhenFree<T>(db: Db, fn: () => T, waitMs: number): Promise<T> {
  const run = db.transaction(fn);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return run.immediate();
    } catch (err) {
      if (!isSqliteBusy(err) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

export function migrate(db: Db, migrations: readonly Migration[]): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new GatewayError(
      "MIGRATION_FAILED",
      `database schema version ${current} is newer than this build knows (${latest}); refusing to run`,
    );
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      }).immediate();
    } catch (cause) {
      throw new GatewayError("MIGRATION_FAILED", `migration ${m.version} (${m.name}) failed`, { cause });
    }
  }
}
