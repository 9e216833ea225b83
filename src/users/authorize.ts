/**
 * Whether the person a command names (`by`) may take an action: a user the directory vouches for
 * (users/user-directory.ts), enabled, whose role allows it (users/roles.ts). Shared by every state-changing
 * command, so every refusal has one of the same reasons (wire strings, only ever added to): `invalid_user`,
 * `unknown_user`, `user_disabled`, `user_not_permitted`, `self_role_change`, `last_admin`,
 * `user_store_unavailable`.
 */
import { USER_ID_PATTERN } from "../identifiers.js";
import { mayTake, type UserAction } from "./roles.js";

/** A refusal with its reason (`code`) and a sentence for the person refused. */
export class ActorRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The users an authorisation reads: MUST answer from a directory checked against the log when it is on. */
export interface AuthorizingUsers {
  get(id: string): { readonly id: string; readonly role: string; readonly isEnabled: boolean } | undefined;
}

/** The user `by` names when they may take `action`; throws {@link ActorRefusal} otherwise. */
export function authorize(users: AuthorizingUsers, by: unknown, action: UserAction) {
  if (typeof by !== "string" || !USER_ID_PATTERN.test(by))
    throw new ActorRefusal("invalid_user", "by: the user id of the person acting");
  let user: ReturnType<AuthorizingUsers["get"]>;
  try {
    user = users.get(by);
  } catch {
    throw new ActorRefusal("user_store_unavailable", "the user store cannot be read");
  }
  if (user === undefined)
    throw new ActorRefusal("unknown_user", `no user ${by} on this gateway (vitalog users add)`);
  if (!user.isEnabled) throw new ActorRefusal("user_disabled", `user ${user.id} is disabled`);
  if (!mayTake(user.role, action))
    throw new ActorRefusal("user_not_permitted", `role ${user.role} may not ${ACTION_TEXT[action]}`);
  return user;
}

/** Refuses a change of `target`'s role made by `target` themselves (ids compared regardless of case). */
export function assertNotOwnRole(by: string, target: string): void {
  if (by.toLowerCase() === target.toLowerCase())
    throw new ActorRefusal("self_role_change", "nobody may change their own role: another admin must");
}

/**
 * Refuses disabling `target` when they are the last enabled admin: nobody could manage users any more, and the
 * store is not empty, so no new admin could bootstrap either. (Demoting the last admin is already refused: only
 * an admin changes roles, and not their own.)
 */
export function assertNotLastAdmin(
  users: readonly { id: string; role: string; isEnabled: boolean }[],
  target: string,
): void {
  const admins = users.filter((u) => u.role === "admin" && u.isEnabled);
  if (admins.length === 1 && admins[0]!.id.toLowerCase() === target.toLowerCase())
    throw new ActorRefusal(
      "last_admin",
      `${admins[0]!.id} is the last enabled admin: add another admin first`,
    );
}

const ACTION_TEXT: Readonly<Record<UserAction, string>> = {
  answer_physiological_alarm: "acknowledge or silence a physiological alarm",
  answer_technical_alarm: "acknowledge or silence a technical alarm",
  enter_observation: "enter clinician observations",
  view_news2: "view NEWS2",
  change_limits: "change a subject's alarm limits",
  manage_users: "manage users",
  manage_devices: "manage devices",
  erase_subject: "erase a subject",
};
