/**
 * The log events that record the user store's changes. The `users` table is what the gateway checks an
 * acknowledgement's `by` against; these events are what it can prove: `audit` replays them in log order and
 * names every difference from the table (audit-users.ts: a user inserted, enabled, given another role or a
 * password behind the gateway's back).
 *
 * Users are staff, not patients: every event is sealed under the gateway subject (`subjectId` null), so no
 * patient erasure shreds it. `data` never holds a password: `credential` is the SHA-256 of the stored
 * password hash string (null while the user has none).
 *
 *   user_added         { user, role, display_name, enabled, credential, via, by?, reason?, bootstrap? }
 *   user_role_changed  { user, role, former_role, via, by?, reason? }
 *   user_disabled      { user, via, by?, reason? }
 *   user_enabled       { user, via, by?, reason? }
 *
 * `user` is the id as stored (ids are unique regardless of case). `via` names the path the change took:
 * "cli" (a `vitalog users` command). `bootstrap: true` marks the first admin, who added themselves to an empty
 * store (users/cli-authorization.ts). Wire names are only ever added to.
 */
import { createHash } from "node:crypto";

export const USER_ADDED = "user_added";
export const USER_ROLE_CHANGED = "user_role_changed";
export const USER_DISABLED = "user_disabled";
export const USER_ENABLED = "user_enabled";

/** The event types above, for readers that replay them. */
export const USER_EVENT_TYPES: ReadonlySet<string> = new Set([
  USER_ADDED,
  USER_ROLE_CHANGED,
  USER_DISABLED,
  USER_ENABLED,
]);

export type UserChangeVia = "cli";

/** Who made a change and why, as recorded. */
export interface UserChangeActor {
  readonly via: UserChangeVia;
  readonly by?: string | undefined;
  readonly reason?: string | undefined;
  /** The first admin adding themselves to an empty store: there was nobody to authorise them. */
  readonly isBootstrap?: boolean | undefined;
}

/** An event as handed to the log writer (`LogEvent` shape). */
export interface UserLogEvent {
  readonly type: string;
  readonly atMs: number;
  readonly subjectId: null;
  readonly deviceId: null;
  readonly data: Readonly<Record<string, unknown>>;
}

/** SHA-256 (hex) of a stored password hash string, as logged in `credential`; null when there is none. */
export function userCredentialDigest(passwordHash: string | null): string | null {
  return passwordHash === null ? null : createHash("sha256").update(passwordHash, "utf8").digest("hex");
}

function event(
  type: string,
  atMs: number,
  data: Record<string, unknown>,
  actor: UserChangeActor,
): UserLogEvent {
  return {
    type,
    atMs,
    subjectId: null,
    deviceId: null,
    data: {
      ...data,
      via: actor.via,
      ...(actor.by !== undefined ? { by: actor.by } : {}),
      ...(actor.reason !== undefined ? { reason: actor.reason } : {}),
      ...(actor.isBootstrap === true ? { bootstrap: true } : {}),
    },
  };
}

export function userAdded(
  u: { id: string; role: string; displayName: string | null; passwordHash: string | null },
  actor: UserChangeActor,
  atMs: number,
): UserLogEvent {
  const data = {
    user: u.id,
    role: u.role,
    display_name: u.displayName,
    enabled: true,
    credential: userCredentialDigest(u.passwordHash),
  };
  return event(USER_ADDED, atMs, data, actor);
}

export function userRoleChanged(
  u: { id: string; role: string; formerRole: string },
  actor: UserChangeActor,
  atMs: number,
): UserLogEvent {
  return event(USER_ROLE_CHANGED, atMs, { user: u.id, role: u.role, former_role: u.formerRole }, actor);
}

export function userDisabled(id: string, actor: UserChangeActor, atMs: number): UserLogEvent {
  return event(USER_DISABLED, atMs, { user: id }, actor);
}

export function userEnabled(id: string, actor: UserChangeActor, atMs: number): UserLogEvent {
  return event(USER_ENABLED, atMs, { user: id }, actor);
}
