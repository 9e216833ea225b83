/**
 * The gateway's one user store: the staff who may act on alarms and patients, each with a role
 * (users/roles.ts). An acknowledgement, a silence, a clinician observation or a CLI change names a user of
 * this store (`by`), who must be enabled and whose role must allow the action (users/authorize.ts).
 *
 * Contract:
 * - Every change (add, role change, disable, enable) MUST commit in one transaction with its log event
 *   (users/user-events.ts) once an event log is attached ({@link UserStore.attachEventLog}; the CLI attaches
 *   the database's log, users/open-user-store.ts). Without one (log disabled) the table changes alone.
 * - Reads go to the database every time. This store is what changes users; who may act is decided on the
 *   rows checked against the log (users/user-directory.ts): the daemon holds those it verified and reads the
 *   table again when `vitalog users` tells it (`users_changed`).
 * - Ids are unique regardless of case (`Nurse.Jane` is `nurse.jane`); what is recorded is the id as stored.
 * - Users are never deleted: a user named in the audit trail stays resolvable; leaving is `disable`.
 *
 * The table is made to grow: the ward station adds a password hash (the `password_hash` column is here
 * already, null until then; its digest is logged as `credential`), logins and sessions in tables of their
 * own, and further columns with `ALTER TABLE … ADD COLUMN` migrations.
 */

import { type Db, immediateWhenFree } from "../db.js";
import { GatewayError } from "../errors.js";
import { USER_ID_PATTERN } from "../identifiers.js";
import { isDisplayName, isUserRole, type UserRole } from "./roles.js";
import {
  type UserChangeActor,
  type UserLogEvent,
  userAdded,
  userDisabled,
  userEnabled,
  userRoleChanged,
} from "./user-events.js";

export const USER_STORE_SQL = `
CREATE TABLE users (
  id TEXT PRIMARY KEY COLLATE NOCASE,
  role TEXT NOT NULL,
  display_name TEXT,
  is_enabled INTEGER NOT NULL CHECK (is_enabled IN (0, 1)),
  password_hash TEXT,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;
`;

/**
 * Appends user events to the tamper-evident log; called inside the transaction that changes the `users`
 * table, so the change and its record commit together or not at all.
 */
export type UserEventLog = (events: readonly UserLogEvent[]) => void;

/** A user as stored. `role` is a string: a row written by a later release may hold a role this one lacks. */
export interface User {
  readonly id: string;
  readonly role: string;
  readonly displayName: string | null;
  readonly isEnabled: boolean;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

interface UserRow {
  id: string;
  role: string;
  display_name: string | null;
  is_enabled: number;
  created_at_ms: number;
  updated_at_ms: number;
}

/** How long a change waits for a database busy with other writers before it fails. */
const BUSY_RETRY_MS = 5000;

const COLUMNS = "id, role, display_name, is_enabled, created_at_ms, updated_at_ms";

export class UserStore {
  readonly #db: Db;
  #eventLog: UserEventLog | undefined;
  readonly #get;
  readonly #list;
  readonly #insert;
  readonly #setRole;
  readonly #setEnabled;

  constructor(db: Db) {
    this.#db = db;
    this.#get = db.prepare<[string], UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = ?`);
    this.#list = db.prepare<[], UserRow>(`SELECT ${COLUMNS} FROM users ORDER BY id`);
    this.#insert = db.prepare(
      "INSERT INTO users (id, role, display_name, is_enabled, password_hash, created_at_ms, updated_at_ms) VALUES (?, ?, ?, 1, NULL, ?, ?)",
    );
    this.#setRole = db.prepare("UPDATE users SET role = ?, updated_at_ms = ? WHERE id = ?");
    this.#setEnabled = db.prepare("UPDATE users SET is_enabled = ?, updated_at_ms = ? WHERE id = ?");
  }

  /** From now on, every change is logged through `log` in its own transaction (see the contract). */
  attachEventLog(log: UserEventLog): void {
    this.#eventLog = log;
  }

  /** The user with this id, compared regardless of case; undefined when there is none. */
  get(id: string): User | undefined {
    const row = this.#get.get(id);
    return row && toUser(row);
  }

  list(): User[] {
    return this.#list.all().map(toUser);
  }

  /** Adds an enabled user; throws USER_EXISTS when the id is taken (in any case). */
  async add(
    input: { id: string; role: UserRole; displayName?: string | undefined },
    nowMs: number,
    actor: UserChangeActor,
  ): Promise<User> {
    assertUserId(input.id);
    assertRole(input.role);
    const displayName = input.displayName ?? null;
    if (displayName !== null && !isDisplayName(displayName))
      throw new RangeError("a display name is 1–128 characters without control characters");
    await this.#commit(() => {
      const existing = this.#get.get(input.id);
      if (existing !== undefined)
        throw new GatewayError("USER_EXISTS", `user ${existing.id} already exists (ids ignore case)`);
      this.#insert.run(input.id, input.role, displayName, nowMs, nowMs);
      const added = { id: input.id, role: input.role, displayName, passwordHash: null };
      return { result: undefined, events: [userAdded(added, actor, nowMs)] };
    });
    return this.get(input.id)!;
  }

  /** Gives a user another role; throws USER_UNKNOWN. Resolves whether anything changed. */
  setRole(id: string, role: UserRole, nowMs: number, actor: UserChangeActor): Promise<boolean> {
    assertRole(role);
    return this.#commit(() => {
      const before = this.#require(id);
      if (before.role === role) return { result: false, events: [] };
      this.#setRole.run(role, nowMs, before.id);
      const changed = { id: before.id, role, formerRole: before.role };
      return { result: true, events: [userRoleChanged(changed, actor, nowMs)] };
    });
  }

  /** Disables a user (they can no longer act); throws USER_UNKNOWN. Resolves whether anything changed. */
  disable(id: string, nowMs: number, actor: UserChangeActor): Promise<boolean> {
    return this.#setEnabledTo(id, false, nowMs, actor);
  }

  /** Enables a disabled user again; throws USER_UNKNOWN. Resolves whether anything changed. */
  enable(id: string, nowMs: number, actor: UserChangeActor): Promise<boolean> {
    return this.#setEnabledTo(id, true, nowMs, actor);
  }

  #setEnabledTo(id: string, isEnabled: boolean, nowMs: number, actor: UserChangeActor): Promise<boolean> {
    return this.#commit(() => {
      const before = this.#require(id);
      if ((before.is_enabled === 1) === isEnabled) return { result: false, events: [] };
      this.#setEnabled.run(isEnabled ? 1 : 0, nowMs, before.id);
      const logged = isEnabled ? userEnabled(before.id, actor, nowMs) : userDisabled(before.id, actor, nowMs);
      return { result: true, events: [logged] };
    });
  }

  #require(id: string): UserRow {
    const row = this.#get.get(id);
    if (row === undefined) throw new GatewayError("USER_UNKNOWN", `no user ${id}`);
    return row;
  }

  /**
   * Runs `change` and logs the events it returns, in one immediate transaction (the row is read inside it,
   * so two changes at once never undo each other). A database busy with the gateway's group commits is
   * waited for a while.
   */
  async #commit<T>(change: () => { result: T; events: readonly UserLogEvent[] }): Promise<T> {
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
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    role: row.role,
    displayName: row.display_name,
    isEnabled: row.is_enabled === 1,
    createdAtMs: row.created_at_ms,
    updatedAtMs: row.updated_at_ms,
  };
}

function assertUserId(id: string): void {
  if (!USER_ID_PATTERN.test(id))
    throw new RangeError(
      `a user id is 1–64 of A-Z a-z 0-9 . _ @ - (starting with a letter or digit): ${JSON.stringify(id)}`,
    );
}

function assertRole(role: string): void {
  if (!isUserRole(role)) throw new RangeError(`unknown role ${JSON.stringify(role)}`);
}
