/**
 * Adds the people a test acts as to a gateway's user store, as `vitalog users add` does (logged): by the
 * ward's admin ({@link TEST_ADMIN}), who is added first as the bootstrap admin when the store lacks them, then
 * tells the running daemon, if any, to check the users again (`users_changed`), as the CLI does.
 */
import type { Config } from "../../src/config.js";
import { controlRequest } from "../../src/control/control-socket.js";
import { openDatabase } from "../../src/db.js";
import { MIGRATIONS } from "../../src/migrations.js";
import { USERS_CHANGED_OP } from "../../src/users/create-users.js";
import { openUserStore } from "../../src/users/open-user-store.js";
import type { UserRole } from "../../src/users/roles.js";

export interface TestUser {
  readonly id: string;
  readonly role: UserRole;
}

/** The admin who adds the test users (and may add more from the CLI with `--by ward.admin`). */
export const TEST_ADMIN = "ward.admin";

/**
 * Adds `users` to the database of `config` on a connection of its own (the CLI's way: it waits out a running
 * gateway's commits), each change logged when the log is on.
 */
export async function addUsers(config: Readonly<Config>, users: readonly TestUser[]): Promise<void> {
  const db = openDatabase(config.storage.path!, MIGRATIONS, { synchronous: config.storage.synchronous });
  try {
    const store = openUserStore(db, config);
    if (store.get(TEST_ADMIN) === undefined)
      await store.add({ id: TEST_ADMIN, role: "admin" }, Date.now(), {
        via: "cli",
        by: TEST_ADMIN,
        isBootstrap: true,
      });
    for (const u of users) await store.add(u, Date.now(), { via: "cli", by: TEST_ADMIN });
  } finally {
    db.close();
  }
  const reply = await controlRequest(config.gateway.stateDir, USERS_CHANGED_OP);
  if (reply !== undefined && !reply.ok) throw new Error(`users_changed refused: ${JSON.stringify(reply)}`);
}
