/**
 * `vitalog users add|list|disable|enable|role --config FILE …`: the staff who may acknowledge, silence and
 * enter observations (users/user-store.ts), each with a role (users/roles.ts).
 *
 * Every change is committed together with its log event (users/user-events.ts) when the log is enabled (the
 * log's keys are created on first use, as the daemon would). The running daemon reads the store at each
 * command, so a change counts at once: nothing to tell it.
 */
import { userInfo } from "node:os";
import { loadConfig } from "../config.js";
import { openDatabase } from "../db.js";
import { GatewayError } from "../errors.js";
import { MIGRATIONS } from "../migrations.js";
import { openUserStore } from "../users/open-user-store.js";
import { isDisplayName, isUserRole, USER_ID_PATTERN, USER_ROLES, type UserRole } from "../users/roles.js";
import type { UserChangeActor } from "../users/user-events.js";
import type { User } from "../users/user-store.js";
import { parseFlags, requireFlag } from "./args.js";

const VERBS = ["add", "list", "disable", "enable", "role"] as const;
const USAGE =
  "usage: vitalog users add|list|disable|enable|role --config FILE [--id ID] [--role ROLE] [--name NAME] [--by USER] [--reason TEXT]";
const MAX_REASON_CHARS = 256;

export async function usersCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    config: { type: "string", short: "c" },
    id: { type: "string" },
    role: { type: "string" },
    name: { type: "string" },
    by: { type: "string" },
    reason: { type: "string" },
  });
  const verb = positionals[0] as (typeof VERBS)[number];
  if (positionals.length !== 1 || !VERBS.includes(verb)) throw new GatewayError("USAGE", USAGE);
  const config = loadConfig(requireFlag(values.config, "config"));
  const actor = actorOf(values.by, values.reason);
  const id = verb === "list" ? "" : userId(requireFlag(values.id, "id"));
  const db = openDatabase(config.storage.path!, MIGRATIONS, { synchronous: config.storage.synchronous });
  try {
    const users = openUserStore(db, config);
    const write = (o: unknown) => out.write(`${JSON.stringify(o)}\n`);
    const now = Date.now();
    switch (verb) {
      case "add": {
        const role = roleOf(values.role);
        const name = values.name;
        if (name !== undefined && !isDisplayName(name))
          throw new GatewayError("USAGE", "--name must be 1–128 characters without control characters");
        write(shown(await users.add({ id, role, displayName: name }, now, actor)));
        return 0;
      }
      case "list":
        for (const u of users.list()) write(shown(u));
        return 0;
      case "role": {
        const changed = await users.setRole(id, roleOf(values.role), now, actor);
        write({ ...shown(users.get(id)!), changed });
        return 0;
      }
      default: {
        const changed = await (verb === "disable" ? users.disable : users.enable).call(users, id, now, actor);
        write({ ...shown(users.get(id)!), changed });
        return 0;
      }
    }
  } finally {
    db.close();
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
function actorOf(by: string | undefined, reason: string | undefined): UserChangeActor {
  const person = by ?? process.env.SUDO_USER ?? userInfo().username;
  if (!USER_ID_PATTERN.test(person)) {
    throw new GatewayError(
      "USAGE",
      `--by must be a user id (1–64 of A-Z a-z 0-9 . _ @ -), got ${JSON.stringify(person)}`,
    );
  }
  if (reason !== undefined && (reason.length === 0 || reason.length > MAX_REASON_CHARS)) {
    throw new GatewayError("USAGE", `--reason must be 1–${MAX_REASON_CHARS} characters`);
  }
  return { via: "cli", by: person, ...(reason !== undefined ? { reason } : {}) };
}
