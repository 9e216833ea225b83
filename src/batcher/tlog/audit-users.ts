/**
 * `vitalog audit`: the `users` table against the user events (users/user-events.ts), replayed in log order:
 * `user_added` sets a user's role, display name, enabled state and credential, `user_role_changed` the
 * role, `user_disabled` / `user_enabled` the enabled state. Every row must be a user the log holds, with the
 * same role, display name, enabled state and credential (`userCredentialDigest(password_hash)`), and every
 * user the log holds must have its row (users are never deleted). Ids are compared regardless of case, as
 * the table's primary key does.
 *
 * What this catches is what would let someone act as another, or as nobody: a user inserted, re-enabled,
 * promoted to another role or given a password behind the gateway's back, or deleted to hide who acted.
 * User events are sealed under the gateway subject, which is never erased: nothing here is shredded.
 */
import type { Database } from "better-sqlite3";
import {
  USER_ADDED,
  USER_DISABLED,
  USER_ENABLED,
  USER_EVENT_TYPES,
  USER_ROLE_CHANGED,
  userCredentialDigest,
} from "../../users/user-events.js";
import type { LoggedEvent } from "./audit-events.js";
import { type Finding, showValue, type TableCheck } from "./audit-findings.js";

/** A user as the log's events make it. */
export interface LoggedUser {
  readonly id: string;
  readonly role: unknown;
  readonly displayName: unknown;
  readonly isEnabled: boolean;
  readonly credential: unknown;
  /** The leaf of the event that changed the user last. */
  readonly leaf: number;
}

/** A `users` row as compared with its logged user. */
export interface UserRow {
  id: string;
  role: string;
  display_name: string | null;
  is_enabled: number;
  password_hash: string | null;
}

const TABLE = "users";
/** The columns {@link userRowDiffs} compares. */
export const USER_ROW_COLUMNS = "id, role, display_name, is_enabled, password_hash";

/**
 * The user events replayed in log order: what each user is by the log (`users`, keyed by the id in lower
 * case). Shared by `vitalog audit` and the daemon's verified user directory (users/user-directory.ts).
 */
export class UserEventReplay {
  readonly users = new Map<string, LoggedUser>();

  /** Applies one logged event (others are ignored); returns why it cannot apply, or undefined. */
  apply(e: LoggedEvent): string | undefined {
    if (!USER_EVENT_TYPES.has(e.type)) return undefined;
    const id = e.data.user;
    if (typeof id !== "string") throw new Error("it names no user");
    const key = id.toLowerCase();
    const before = this.users.get(key);
    if (e.type === USER_ADDED) {
      this.users.set(key, {
        id,
        role: e.data.role,
        displayName: e.data.display_name ?? null,
        isEnabled: e.data.enabled !== false,
        credential: e.data.credential ?? null,
        leaf: e.leafIndex,
      });
      // the store refuses an id it holds already: a second addition was logged over a deleted row
      return before === undefined
        ? undefined
        : `user added again, though the log holds it since leaf ${before.leaf}: its row was deleted behind the gateway's back`;
    }
    if (before === undefined) return `logged ${e.type} of a user the log never added`;
    if (e.type === USER_ROLE_CHANGED)
      this.users.set(key, { ...before, role: e.data.role, leaf: e.leafIndex });
    else if (e.type === USER_DISABLED)
      this.users.set(key, { ...before, isEnabled: false, leaf: e.leafIndex });
    else if (e.type === USER_ENABLED) this.users.set(key, { ...before, isEnabled: true, leaf: e.leafIndex });
    return undefined;
  }
}

/** How a `users` row differs from the user its events make (empty when it matches). */
export function userRowDiffs(u: LoggedUser, r: UserRow): string[] {
  const diffs: string[] = [];
  if (u.id !== r.id) diffs.push(`id: logged ${showValue(u.id)}, stored ${showValue(r.id)}`);
  if (u.role !== r.role) diffs.push(`role: logged ${showValue(u.role)}, stored ${showValue(r.role)}`);
  if (u.displayName !== r.display_name)
    diffs.push(`display name: logged ${showValue(u.displayName)}, stored ${showValue(r.display_name)}`);
  if (u.isEnabled !== (r.is_enabled === 1))
    diffs.push(
      `logged ${u.isEnabled ? "enabled" : "disabled"}, stored ${r.is_enabled === 1 ? "enabled" : "disabled"}`,
    );
  if (u.credential !== userCredentialDigest(r.password_hash))
    diffs.push("its credential (password hash) is not the logged one");
  return diffs;
}

export function usersCheck(db: Database): TableCheck {
  const replay = new UserEventReplay();
  const logged = replay.users;
  const early: Finding[] = [];
  const mismatch = (ref: string | null, leafIndex: number | null, detail: string): Finding => ({
    kind: "user_mismatch",
    ref,
    leafIndex,
    detail,
    table: TABLE,
  });
  return {
    onEvent(e: LoggedEvent) {
      const problem = replay.apply(e);
      if (problem !== undefined) early.push(mismatch(String(e.data.user), e.leafIndex, problem));
    },
    finish(add) {
      for (const f of early) add(f);
      const exists = db
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
        .pluck()
        .get(TABLE);
      if (exists === undefined) {
        // a database from before the user store, with no user logged, has nothing to compare
        if (logged.size > 0)
          add({
            kind: "table_unreadable",
            ref: null,
            leafIndex: null,
            detail: `the ${TABLE} table is missing, but the log holds ${logged.size} user(s)`,
            table: TABLE,
          });
        return [{ table: TABLE, rows: 0, verified: 0, pending: 0, erased: 0 }];
      }
      const rows = db.prepare(`SELECT ${USER_ROW_COLUMNS} FROM ${TABLE} ORDER BY id`).all() as UserRow[];
      let verified = 0;
      for (const r of rows) {
        const key = r.id.toLowerCase();
        const u = logged.get(key);
        logged.delete(key);
        if (u === undefined) {
          add(
            mismatch(
              r.id,
              null,
              "user row has no logged user_added: inserted behind the gateway's back (or added while the log was off)",
            ),
          );
          continue;
        }
        const diffs = userRowDiffs(u, r);
        if (diffs.length > 0) add(mismatch(r.id, u.leaf, diffs.join("; ")));
        else verified++;
      }
      for (const u of logged.values()) add(mismatch(u.id, u.leaf, "logged user has no row: deleted"));
      return [{ table: TABLE, rows: rows.length, verified, pending: 0, erased: 0 }];
    },
  };
}
