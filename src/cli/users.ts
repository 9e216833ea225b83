/**
 * `vitalog users add|list|disable|enable|role --config FILE …`: the staff who may acknowledge, silence and
 * enter observations (users/user-store.ts), each with a role (users/roles.ts).
 *
 * Every change is made by an admin (`--by`, else the login that runs the command): a user the gateway vouches
 * for (the table checked against the log), enabled, whose role may manage users; nobody changes their own role.
 * The last enabled admin cannot be disabled (last_admin): nobody could manage users any more.
 * A refusal names its reason (unknown_user, user_disabled, user_not_permitted, self_role_change, last_admin), exits 77
 * and is counted by the running daemon (users/cli-authorization.ts). The first user of an empty store is an
 * admin who adds themselves: `users add --id A --role admin --by A`, logged with `bootstrap: true`.
 *
 * Every change is committed together with its log event (users/user-events.ts) when the log is enabled (the
 * log's keys are created on first use, as the daemon would), then the running daemon, if any, is told to
 * check the user table against the log again (control op `users_changed`): it acts on the users it verified,
 * never on the table as it finds it. When the daemon cannot be reached, or refuses, the change stands and the
 * command exits 75 (EX_TEMPFAIL): the daemon keeps the users it had until told again or restarted.
 */

import { type Config, loadConfig as loadConfigFile } from "../config.js";
import { controlRequest } from "../control/control-socket.js";
import { openDatabase } from "../db.js";
import { GatewayError } from "../errors.js";
import { USER_ID_PATTERN } from "../identifiers.js";
import { MIGRATIONS } from "../migrations.js";
import { ActorRefusal, assertNotLastAdmin, assertNotOwnRole } from "../users/authorize.js";
import { authorizeCli, loadUserDirectory, printRefusal, reportRefusal } from "../users/cli-authorization.js";
import { USERS_CHANGED_OP } from "../users/create-users.js";
import { openUserStore } from "../users/open-user-store.js";
import { isDisplayName, isUserRole, USER_ROLES, type UserRole } from "../users/roles.js";
import type { UserChangeActor } from "../users/user-events.js";
import type { User } from "../users/user-store.js";
import { cliActor, requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand, usageError } from "./options.js";

const VERBS = ["add", "list", "disable", "enable", "role"] as const;

export async function usersCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND_SPECS.users, argv);
  const verb = positionals[0] as (typeof VERBS)[number];
  if (positionals.length !== 1 || !VERBS.includes(verb)) throw usageError(COMMAND_SPECS.users);
  const config = loadConfigFile(requireFlag(values.config, "config"));
  const actor: UserChangeActor = cliActor(values.by, values.reason);
  const id = verb === "list" ? "" : userId(requireFlag(values.id, "id"));
  const db = openDatabase(config.storage.path!, MIGRATIONS, { synchronous: config.storage.synchronous });
  try {
    const users = openUserStore(db, config);
    const write = (o: unknown) => out.write(`${JSON.stringify(o)}\n`);
    if (verb === "list") {
      for (const u of users.list()) write(shown(u));
      return 0;
    }
    const directory = loadUserDirectory(db, config);
    const now = Date.now();
    const role = verb === "add" || verb === "role" ? roleOf(values.role) : undefined;
    if (values.name !== undefined && !isDisplayName(values.name))
      throw new GatewayError("USAGE", "--name must be 1–128 characters without control characters");
    let acting = actor;
    try {
      // the first admin of an empty store adds themselves: there is nobody yet to authorise them
      const isBootstrap =
        verb === "add" &&
        directory.isEmpty &&
        role === "admin" &&
        actor.by?.toLowerCase() === id.toLowerCase();
      if (isBootstrap) acting = { ...actor, isBootstrap: true };
      else if (directory.isEmpty) {
        await reportRefusal(config, `users_${verb}`, "unknown_user");
        throw new ActorRefusal(
          "unknown_user",
          "the user store is empty: its first user is an admin who adds themselves (users add --id ID --role admin --by ID)",
        );
      } else {
        await authorizeCli(config, directory, actor.by!, "manage_users", `users_${verb}`, {
          isOpenWhenEmpty: false,
        });
        try {
          if (verb === "role") assertNotOwnRole(actor.by!, id);
          if (verb === "disable") assertNotLastAdmin(directory.list(), id);
        } catch (err) {
          await reportRefusalOf(config, verb, err);
          throw err;
        }
      }
    } catch (err) {
      return printRefusal(err, out);
    }
    let shownUser: Record<string, unknown>;
    switch (verb) {
      case "add": {
        const name = values.name;
        shownUser = shown(await users.add({ id, role: role!, displayName: name }, now, acting));
        break;
      }
      case "role": {
        const changed = await users.setRole(id, role!, now, acting);
        shownUser = { ...shown(users.get(id)!), changed };
        break;
      }
      default: {
        const changed = await (verb === "disable" ? users.disable : users.enable).call(
          users,
          id,
          now,
          acting,
        );
        shownUser = { ...shown(users.get(id)!), changed };
      }
    }
    const told = await tellDaemon(config);
    write({ ...shownUser, ...told });
    return told.daemon === "unreachable" || told.daemon === "refused" ? 75 : 0;
  } finally {
    db.close();
  }
}

/** Reports a refusal of this command to the daemon (users/cli-authorization.ts). */
async function reportRefusalOf(config: Readonly<Config>, verb: string, err: unknown): Promise<void> {
  if (err instanceof ActorRefusal) await reportRefusal(config, `users_${verb}`, err.code);
}

/** Asks the running daemon, if any, to check the user table against the log again. */
async function tellDaemon(config: Readonly<Config>): Promise<Record<string, unknown>> {
  try {
    const reply = await controlRequest(config.gateway.stateDir, USERS_CHANGED_OP);
    if (reply === undefined) return { daemon: "not_running" };
    if (!reply.ok) return { daemon: "refused", error: reply.error, detail: reply.detail };
    return { daemon: "notified" };
  } catch (err) {
    return { daemon: "unreachable", detail: (err as Error).message };
  }
}

/** A user as the CLI prints it (times in ISO 8601). */
function shown(u: User) {
  return {
    user_id: u.id,
    role: u.role,
    display_name: u.displayName,
    enabled: u.isEnabled,
    created_at: new Date(u.createdAtMs).toISOString(),
    updated_at: new Date(u.updatedAtMs).toISOString(),
  };
}

function userId(id: string): string {
  if (!USER_ID_PATTERN.test(id))
    throw new GatewayError(
      "USAGE",
      `--id must be a user id (1–64 of A-Z a-z 0-9 . _ @ -), got ${JSON.stringify(id)}`,
    );
  return id;
}

function roleOf(role: string | undefined): UserRole {
  const r = requireFlag(role, "role");
  if (!isUserRole(r)) throw new GatewayError("USAGE", `--role must be one of ${USER_ROLES.join(", ")}`);
  return r;
}

/** Who is making the change: `--by`, else the login that ran the command (through sudo: the person, not root). */
