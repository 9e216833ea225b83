import { createHmac, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { type Db, immediateWhenFree } from "../db.js";
import { GatewayError } from "../errors.js";
import { DEVICE_ID_PATTERN, SUBJECT_ID_PATTERN } from "../identifiers.js";
import {
  type DeviceChangeActor,
  type DeviceLogEvent,
  deviceBound,
  deviceCredentialChanged,
  deviceUnbound,
} from "./device-events.js";

/**
 * Appends device events to the tamper-evident log; called inside the transaction that changes the
 * `devices` table, so the change and its record commit together or not at all.
 */
export type DeviceEventLog = (events: readonly DeviceLogEvent[]) => void;

export const DEVICE_REGISTRY_SQL = `
CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  subject_id TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  model TEXT,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;
`;

/** A provisioned device, bound to one subject (patient or asset). */
export interface Device {
  id: string;
  subjectId: string;
  model: string | null;
  createdAtMs: number;
}

/** How long a change waits for a database busy with other writers before it fails. */
const BUSY_RETRY_MS = 5000;

// scrypt cost: N=2^14, r=8, p=1 (16 MiB, ~50 ms on a Pi-class core); parameters are stored per hash
const SCRYPT = { N: 16384, r: 8, p: 1, keyLen: 32, maxmem: 64 * 1024 * 1024 };

function scryptAsync(
  password: string,
  salt: Buffer,
  N: number,
  r: number,
  p: number,
  len: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, len, { N, r, p, maxmem: SCRYPT.maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** Hashes a password as `scrypt$N$r$p$salt_b64$hash_b64`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keyLen);
  return ["scrypt", SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString("base64"), key.toString("base64")].join("$");
}

/** Constant-time check of a password against a stored hash; false for any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, "base64");
  const expected = Buffer.from(parts[5]!, "base64");
  if (!(N > 1 && r > 0 && p > 0 && expected.length >= 16)) return false;
  const key = await scryptAsync(password, salt, N, r, p, expected.length);
  return timingSafeEqual(key, expected);
}

/**
 * An scrypt hash, with the cost parameters of {@link hashPassword}, of a random password that was thrown
 * away. An unknown device id is verified against it, so refusing an unknown id costs the same scrypt as
 * refusing a known id's wrong password, and the time of a refusal does not tell which ids exist.
 */
export const DUMMY_PASSWORD_HASH =
  "scrypt$16384$8$1$p3GdIqVoRyxbjAx7may1AQ==$yWHNnfbZekZLko+/TiJVYsyViuC2MpG/x7bfr63BLYs=";

/** A fresh random device password: 24 bytes, base64url (192 bits). */
export function generatePassword(): string {
  return randomBytes(24).toString("base64url");
}

/** A password a device authenticated with, as a keyed hash, and the stored hash it matched then. */
interface VerifiedCredential {
  storedHash: string;
  mac: Buffer;
}

/**
 * Provisioned devices and their credentials. Passwords are stored only as scrypt hashes.
 * Reads go to the database every time so that provisioning from the CLI takes effect at once.
 *
 * The registry also remembers, in memory, the password each device last proved with a full scrypt
 * verification (or was provisioned with in this process), as an HMAC under a key drawn at start: a device
 * that presents the same password again while its stored hash is unchanged is recognised without an
 * scrypt. That is what lets a device connect during an authentication storm aimed at its id or its
 * address (the storm's wrong passwords still cost a full verification each, and are throttled). Rotating
 * or removing the password (a changed or missing stored hash) ends the recognition at once.
 *
 * Every change to a binding or a credential is recorded in the tamper-evident log (device-events.ts) in the
 * same transaction as the row, once an event log is attached ({@link attachEventLog}; the gateway attaches
 * its log, the CLI the database's). Without one (log disabled) the table changes alone.
 */
export class DeviceRegistry {
  readonly #db: Db;
  #eventLog: DeviceEventLog | undefined;
  readonly #verifyPassword: (password: string, stored: string) => Promise<boolean>;
  readonly #macKey = randomBytes(32);
  readonly #verified = new Map<string, VerifiedCredential>();
  /** Compared against when a device has no remembered credential, so both cases cost the same. */
  readonly #noCredential = randomBytes(32);
  readonly #get;
  readonly #getHash;
  readonly #getFull;
  readonly #list;
  readonly #insert;
  readonly #update;
  readonly #delete;

  /**
   * `verifyPassword` replaces the scrypt check (tests observe which stored hash a verification used);
   * default {@link verifyPassword}.
   */
  constructor(
    db: Db,
    opts: { verifyPassword?: (password: string, stored: string) => Promise<boolean> } = {},
  ) {
    this.#db = db;
    this.#verifyPassword = opts.verifyPassword ?? verifyPassword;
    this.#get = db.prepare<[string], DeviceRow>(
      "SELECT id, subject_id, model, created_at_ms FROM devices WHERE id = ?",
    );
    this.#getHash = db.prepare<[string], { password_hash: string }>(
      "SELECT password_hash FROM devices WHERE id = ?",
    );
    this.#getFull = db.prepare<[string], FullDeviceRow>(
      "SELECT id, subject_id, model, created_at_ms, password_hash FROM devices WHERE id = ?",
    );
    this.#list = db.prepare<[], DeviceRow>(
      "SELECT id, subject_id, model, created_at_ms FROM devices ORDER BY id",
    );
    this.#insert = db.prepare(
      "INSERT INTO devices (id, subject_id, password_hash, model, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#update = db.prepare(
      "UPDATE devices SET subject_id = ?, password_hash = ?, model = ?, updated_at_ms = ? WHERE id = ?",
    );
    this.#delete = db.prepare("DELETE FROM devices WHERE id = ?");
  }

  /** From now on, every change is logged through `log` in its own transaction (see the class comment). */
  attachEventLog(log: DeviceEventLog): void {
    this.#eventLog = log;
  }

  /**
   * Runs `change` and logs the events it returns, in one immediate transaction. The database may be busy
   * with a group commit (the gateway's connection waits only briefly for its lock): retried for a while.
   */
  async #commit<T>(change: () => { result: T; events: readonly DeviceLogEvent[] }): Promise<T> {
    return immediateWhenFree(
      this.#db,
      () => {
        const { result, events } = change();
        if (this.#eventLog && events.length > 0) this.#eventLog(events);
        return result;
      },
      BUSY_RETRY_MS,
    );
  }

  /** A device's binding and stored credential in one read (undefined when unknown): what a session must still match. */
  registration(id: string): { subjectId: string; model: string | null; credential: string } | undefined {
    const row = this.#getFull.get(id);
    return row && { subjectId: row.subject_id, model: row.model, credential: row.password_hash };
  }

  /** The stored scrypt hash of a device's password (undefined when unknown): sessions remember it. */
  credentialOf(id: string): string | undefined {
    return this.#getHash.get(id)?.password_hash;
  }

  get(id: string): Device | undefined {
    const row = this.#get.get(id);
    return row && toDevice(row);
  }

  list(): Device[] {
    return this.#list.all().map(toDevice);
  }

  /** Adds a device; throws DEVICE_EXISTS if the id is taken. Returns the stored device. */
  async add(
    input: { id: string; subjectId: string; password: string; model?: string | undefined },
    nowMs: number,
    actor: DeviceChangeActor = { via: "cli" },
  ) {
    assertIds(input.id, input.subjectId);
    const hash = await hashPassword(input.password);
    const model = input.model ?? null;
    try {
      await this.#commit(() => {
        this.#insert.run(input.id, input.subjectId, hash, model, nowMs, nowMs);
        const bound = { deviceId: input.id, subjectId: input.subjectId, model, passwordHash: hash };
        return { result: undefined, events: [deviceBound(bound, actor, nowMs)] };
      });
      this.#remember(input.id, hash, input.password);
    } catch (cause) {
      if ((cause as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
        throw new GatewayError("DEVICE_EXISTS", `device ${input.id} is already provisioned`, { cause });
      }
      throw cause;
    }
    return this.get(input.id)!;
  }

  /**
   * Inserts or updates a device declared in the config file. Re-hashes only when the password
   * changed. Returns what happened so the caller can record binding changes.
   */
  async upsert(
    input: { id: string; subjectId: string; password: string; model?: string | undefined },
    nowMs: number,
  ): Promise<"added" | "updated" | "unchanged"> {
    assertIds(input.id, input.subjectId);
    const current = this.get(input.id);
    if (!current) {
      await this.add(input, nowMs, { via: "config" });
      return "added";
    }
    const samePassword = await this.verify(input.id, input.password);
    if (samePassword && current.subjectId === input.subjectId && current.model === (input.model ?? null)) {
      return "unchanged";
    }
    const hash = samePassword
      ? this.#getHash.get(input.id)!.password_hash
      : await hashPassword(input.password);
    const next = { subjectId: input.subjectId, model: input.model ?? null, hash };
    await this.#change(input.id, () => next, { via: "config" }, nowMs);
    this.#remember(input.id, hash, input.password);
    return "updated";
  }

  /**
   * Binds a provisioned device to another subject (and optionally model), keeping its password: logged as
   * unbound from the former subject, bound to the new one. Throws DEVICE_UNKNOWN. Returns whether anything
   * changed.
   */
  async bind(
    input: { id: string; subjectId: string; model?: string | null | undefined },
    nowMs: number,
    actor: DeviceChangeActor,
  ): Promise<boolean> {
    assertIds(input.id, input.subjectId);
    this.#requireRow(input.id);
    return this.#change(
      input.id,
      (before) => ({
        subjectId: input.subjectId,
        model: input.model === undefined ? before.model : input.model,
        hash: before.password_hash,
      }),
      actor,
      nowMs,
    );
  }

  /** Gives a provisioned device a new password (its sessions must re-authenticate). Throws DEVICE_UNKNOWN. */
  async setPassword(id: string, password: string, nowMs: number, actor: DeviceChangeActor): Promise<void> {
    this.#requireRow(id);
    const hash = await hashPassword(password);
    // the binding is the one in force when the change commits: a re-binding meanwhile is kept
    await this.#change(
      id,
      (before) => ({ subjectId: before.subject_id, model: before.model, hash }),
      actor,
      nowMs,
    );
    this.#remember(id, hash, password);
  }

  /** Removes a device; returns false when it did not exist. Its stored readings are kept. */
  remove(
    id: string,
    nowMs: number = Date.now(),
    actor: DeviceChangeActor = { via: "cli" },
  ): Promise<boolean> {
    this.#verified.delete(id);
    return this.#commit(() => {
      const row = this.#getFull.get(id);
      if (row === undefined) return { result: false, events: [] };
      this.#delete.run(id);
      const former = { deviceId: id, subjectId: row.subject_id };
      return { result: true, events: [deviceUnbound(former, "removed", actor, nowMs)] };
    });
  }

  /** Updates a row to `next`, logging what changed (binding and credential), in one transaction. */
  /**
   * Updates a row to what `next` makes of the row as it stands inside the transaction (so two changes at once
   * never undo each other), logging what changed (binding and credential). Resolves whether anything changed.
   */
  #change(
    id: string,
    next: (before: FullDeviceRow) => { subjectId: string; model: string | null; hash: string },
    actor: DeviceChangeActor,
    nowMs: number,
  ): Promise<boolean> {
    return this.#commit(() => {
      const before = this.#requireRow(id);
      const after = next(before);
      const events: DeviceLogEvent[] = [];
      if (before.subject_id !== after.subjectId || before.model !== after.model) {
        events.push(deviceUnbound({ deviceId: id, subjectId: before.subject_id }, "rebound", actor, nowMs));
        const bound = {
          deviceId: id,
          subjectId: after.subjectId,
          model: after.model,
          passwordHash: after.hash,
        };
        events.push(deviceBound(bound, actor, nowMs));
      } else if (before.password_hash !== after.hash) {
        const changed = { deviceId: id, subjectId: after.subjectId, passwordHash: after.hash };
        events.push(deviceCredentialChanged(changed, actor, nowMs));
      }
      if (events.length > 0) this.#update.run(after.subjectId, after.hash, after.model, nowMs, id);
      return { result: events.length > 0, events };
    });
  }

  #requireRow(id: string): FullDeviceRow {
    const row = this.#getFull.get(id);
    if (row === undefined) throw new GatewayError("DEVICE_UNKNOWN", `no device ${id}`);
    return row;
  }

  /**
   * True when the device exists and the password matches. Never throws for bad input. An unknown id
   * costs the same scrypt as a known one (against {@link DUMMY_PASSWORD_HASH}).
   */
  async verify(id: string, password: string): Promise<boolean> {
    return (await this.verifiedCredential(id, password)) !== undefined;
  }

  /**
   * {@link verify}, returning the stored hash the password matched (undefined when it matched none). A
   * session remembers that hash: the row may get a new one while the scrypt runs, and a session proved
   * against the old hash must not pass for one proved against the new.
   */
  async verifiedCredential(id: string, password: string): Promise<string | undefined> {
    const row = this.#getHash.get(id);
    const matches = await this.#verifyPassword(password, row?.password_hash ?? DUMMY_PASSWORD_HASH);
    if (!row || !matches) return undefined;
    this.#remember(id, row.password_hash, password);
    return row.password_hash;
  }

  /**
   * True when `password` is the one this device last proved (or was provisioned with) in this process and
   * its stored hash has not changed since: a keyed-hash comparison, microseconds, no scrypt. False says
   * nothing; the caller goes on to {@link verify}. The same work is done whether or not the id exists or has
   * a remembered credential.
   */
  isRecentlyVerified(id: string, password: string): boolean {
    return this.recentlyVerifiedCredential(id, password) !== undefined;
  }

  /** {@link isRecentlyVerified}, returning the stored hash it matched (undefined when none). */
  recentlyVerifiedCredential(id: string, password: string): string | undefined {
    const row = this.#getHash.get(id);
    const known = this.#verified.get(id);
    const isSame = timingSafeEqual(this.#mac(id, password), known?.mac ?? this.#noCredential);
    if (!known || !isSame) return undefined;
    if (row?.password_hash === known.storedHash) return known.storedHash;
    // rotated or removed (perhaps by the CLI, another process): forget it
    this.#verified.delete(id);
    return undefined;
  }

  #remember(id: string, storedHash: string, password: string): void {
    this.#verified.set(id, { storedHash, mac: this.#mac(id, password) });
  }

  #mac(id: string, password: string): Buffer {
    // "\0" cannot occur in a device id, so (id, password) pairs never collide
    return createHmac("sha256", this.#macKey).update(id).update("\0").update(password).digest();
  }

  /** The database this registry lives in (for callers composing transactions). */
  get db(): Db {
    return this.#db;
  }
}

interface DeviceRow {
  id: string;
  subject_id: string;
  model: string | null;
  created_at_ms: number;
}

interface FullDeviceRow extends DeviceRow {
  password_hash: string;
}

function toDevice(row: DeviceRow): Device {
  return { id: row.id, subjectId: row.subject_id, model: row.model, createdAtMs: row.created_at_ms };
}

function assertIds(id: string, subjectId: string): void {
  if (!DEVICE_ID_PATTERN.test(id)) throw new RangeError(`invalid device id ${JSON.stringify(id)}`);
  if (!SUBJECT_ID_PATTERN.test(subjectId))
    throw new RangeError(`invalid subject id ${JSON.stringify(subjectId)}`);
}
