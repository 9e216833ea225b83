/**
 * Opens the tamper-evident log over an open database for the gateway and the CLI commands: loads the
 * key files, fixes/checks the log identity (origin, storage key) and records the signing key's vkey.
 */
import type { Database } from "better-sqlite3";
import type { Config } from "../../config.js";
import { openDatabase } from "../../db.js";
import { GatewayError } from "../../errors.js";
import { MIGRATIONS } from "../../migrations.js";
import type { Ed25519Signer } from "../verifier/signer.js";
import { CheckpointStore } from "./checkpoint-store.js";
import { loadGatewayKeys, logOrigin } from "./key-files.js";
import { type LogEvent, RecordLog } from "./record-log.js";
import { assertCurrentLogFormat } from "./tlog-schema.js";

/** Everything the log needs, over one connection. */
export interface Tlog {
  readonly db: Database;
  readonly origin: string;
  readonly signer: Ed25519Signer;
  readonly storageKey: Buffer;
  readonly records: RecordLog;
  readonly checkpoints: CheckpointStore;
  /** The verifier key to hand to auditors. */
  readonly vkey: string;
  /** True when the key files were created by this call. */
  readonly keysCreated: boolean;
}

/** Opens the log (see module comment). `createMissing`: create default key files on first start. */
export function openTlog(
  db: Database,
  config: Readonly<Pick<Config, "tlog" | "gateway">>,
  opts: { createMissing: boolean; now?: () => number },
): Tlog {
  assertCurrentLogFormat(db);
  const keys = loadGatewayKeys(config, { createMissing: opts.createMissing });
  const origin = logOrigin(config);
  const now = opts.now ?? Date.now;
  const vkey = keys.signer.verifier().toVkey();
  db.transaction(() => {
    RecordLog.checkIdentity(db, origin, keys.storageKey, now());
    registerSigningKey(db, vkey, now());
  }).immediate();
  return {
    db,
    origin,
    signer: keys.signer,
    storageKey: keys.storageKey,
    records: new RecordLog(db, keys.storageKey, { now }),
    checkpoints: new CheckpointStore(db),
    vkey,
    keysCreated: keys.created,
  };
}

/** Records a vkey in the signing-key history (idempotent). */
export function registerSigningKey(db: Database, vkey: string, nowMs: number): void {
  const keyId = vkey.split("+")[1]!;
  db.prepare(
    "INSERT INTO tlog_signing_keys (key_id, vkey, added_at_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
  ).run(keyId, vkey, nowMs);
}

/** Every vkey the log ever signed with, oldest first. */
export function signingKeyHistory(
  db: Database,
): { vkey: string; addedAtMs: number; retiredAtMs: number | null }[] {
  return (
    db
      .prepare("SELECT vkey, added_at_ms, retired_at_ms FROM tlog_signing_keys ORDER BY added_at_ms, key_id")
      .all() as {
      vkey: string;
      added_at_ms: number;
      retired_at_ms: number | null;
    }[]
  ).map((r) => ({ vkey: r.vkey, addedAtMs: r.added_at_ms, retiredAtMs: r.retired_at_ms }));
}

/** A CLI command's view of the log: config, database (migrated) and keys; `close()` when done. */
export interface CliTlog extends Tlog {
  readonly config: Readonly<Config>;
  close(): void;
}

/** Opens the database of `config` and the log for a CLI command (keys MUST exist; nothing is created). */
export function openTlogForCli(config: Readonly<Config>): CliTlog {
  const db = openDatabase(config.storage.path!, MIGRATIONS, { synchronous: config.storage.synchronous });
  try {
    const tlog = openTlog(db, config, { createMissing: false });
    return { ...tlog, config, close: () => db.close() };
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Appends one audit event from a CLI process (device bound/unbound …) when the log is enabled and its
 * keys exist; returns false (nothing appended) otherwise. Safe next to a running gateway: appends
 * serialize on SQLite's write lock and the next leaf index is read inside the transaction.
 */
export function appendCliEvent(db: Database, config: Readonly<Config>, event: LogEvent): boolean {
  if (!config.tlog.enabled) return false;
  let tlog: Tlog;
  try {
    tlog = openTlog(db, config, { createMissing: false });
  } catch (err) {
    if (err instanceof GatewayError && err.code === "KEY_FILE_MISSING") return false; // log never initialised
    throw err;
  }
  db.transaction(() => tlog.records.append([], [event])).immediate();
  return true;
}
