import { createHmac, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
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
 */
export class DeviceRegistry {
  readonly #db: Db;
  readonly #verifyPassword: (password: string, stored: string) => Promise<boolean>;
  readonly #macKey = randomBytes(32);
  readonly #verified = new Map<string, VerifiedCredential>();
  /** Compared against when a device has no remembered credential, so both cases cost the same. */
  readonly #noCredential = randomBytes(32);
  readonly #get;
  readonly #getHash;
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
    this.#remember(input.id, hash, input.password);
    return "updated";
  }

  /** Removes a device; returns false when it did not exist. Its stored readings are kept. */
  remove(id: string): boolean {
    this.#verified.delete(id);
    return this.#delete.run(id).changes > 0;
  }

  /**
   * True when the device exists and the password matches. Never throws for bad input. An unknown id
   * costs the same scrypt as a known one (against {@link DUMMY_PASSWORD_HASH}).
   */
  async verify(id: string, password: string): Promise<boolean> {
    const row = this.#getHash.get(id);
    const matches = await this.#verifyPassword(password, row?.password_hash ?? DUMMY_PASSWORD_HASH);
    if (!row || !matches) return false;
    this.#remember(id, row.password_hash, password);
    return true;
  }

  /**
   * True when `password` is the one this device last proved (or was provisioned with) in this process and
   * its stored hash has not changed since: a keyed-hash comparison, microseconds, no scrypt. False says
   * nothing; the caller goes on to {@link verify}. The same work is done whether or not the id exists or has
   * a remembered credential.
   */
  isRecentlyVerified(id: string, password: string): boolean {
    const row = this.#getHash.get(id);
    const known = this.#verified.get(id);
    const isSame = timingSafeEqual(this.#mac(id, password), known?.mac ?? this.#noCredential);
    if (!known || !isSame) return false;
    if (row?.password_hash === known.storedHash) return true;
    // rotated or removed (perhaps by the CLI, another process): forget it
    this.#verified.delete(id);
    return false;
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

function toDevice(row: DeviceRow): Device {
  return { id: row.id, subjectId: row.subject_id, model: row.model, createdAtMs: row.created_at_ms };
}

function assertIds(id: string, subjectId: string): void {
  if (!DEVICE_ID_PATTERN.test(id)) throw new RangeError(`invalid device id ${JSON.stringify(id)}`);
  if (!SUBJECT_ID_PATTERN.test(subjectId))
    throw new RangeError(`invalid subject id ${JSON.stringify(subjectId)}`);
}
