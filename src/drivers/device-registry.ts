import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import type { Db } from "../db.js";
import { GatewayError } from "../errors.js";
import { DEVICE_ID_PATTERN, SUBJECT_ID_PATTERN } from "../identifiers.js";

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

/** A fresh random device password: 24 bytes, base64url (192 bits). */
export function generatePassword(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * Provisioned devices and their credentials. Passwords are stored only as scrypt hashes.
 * Reads go to the database every time so that provisioning from the CLI takes effect at once.
 */
export class DeviceRegistry {
  readonly #db: Db;
  readonly #get;
  readonly #getHash;
  readonly #list;
  readonly #insert;
  readonly #update;
  readonly #delete;

  constructor(db: Db) {
    this.#db = db;
    this.#get = db.prepare<[string], DeviceRow>(
      "SELECT id, subject_id, model, created_at_ms FROM devices WHERE id = ?",
    );
    this.#getHash = db.prepare<[string], { password_hash: string }>(
      "SELECT password_hash FROM devices WHERE id = ?",
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
  ) {
    assertIds(input.id, input.subjectId);
    const hash = await hashPassword(input.password);
    try {
      this.#insert.run(input.id, input.subjectId, hash, input.model ?? null, nowMs, nowMs);
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
      await this.add(input, nowMs);
      return "added";
    }
    const samePassword = await this.verify(input.id, input.password);
    if (samePassword && current.subjectId === input.subjectId && current.model === (input.model ?? null)) {
      return "unchanged";
    }
    const hash = samePassword
      ? this.#getHash.get(input.id)!.password_hash
      : await hashPassword(input.password);
    this.#update.run(input.subjectId, hash, input.model ?? null, nowMs, input.id);
    return "updated";
  }

  /** Removes a device; returns false when it did not exist. Its stored readings are kept. */
  remove(id: string): boolean {
    return this.#delete.run(id).changes > 0;
  }

  /** True when the device exists and the password matches. Never throws for bad input. */
  async verify(id: string, password: string): Promise<boolean> {
    const row = this.#getHash.get(id);
    if (!row) return false;
    return verifyPassword(password, row.password_hash);
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

function toDevice(row: DeviceRow): Device {
  return { id: row.id, subjectId: row.subject_id, model: row.model, createdAtMs: row.created_at_ms };
}

function assertIds(id: string, subjectId: string): void {
  if (!DEVICE_ID_PATTERN.test(id)) throw new RangeError(`invalid device id ${JSON.stringify(id)}`);
  if (!SUBJECT_ID_PATTERN.test(subjectId))
    throw new RangeError(`invalid subject id ${JSON.stringify(subjectId)}`);
}
