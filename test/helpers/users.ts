/** Adds the people a test acts as to a gateway's user store, as `vitalog users add` does (logged). */
import type { Config } from "../../src/config.js";
import { openDatabase } from "../../src/db.js";
import { MIGRATIONS } from "../../src/migrations.js";
import { openUserStore } from "../../src/users/open-user-store.js";
import type { UserRole } from "../../src/users/roles.js";

export interface TestUser {
  readonly id: string;
  readonly role: UserRole;
}

/**
 * Adds `users` to the database of `config` on a connection of its own (the CLI's way: it waits out a running
 * gateway's commits), each change logged when the log is on.
 */
export async function addUsers(config: Readonly<Config>, users: readonly TestUser[]): Promise<void> {
  const db = openDatabase(config.storage.path!, MIGRATIONS, { synchronous: config.storage.synchronous });
  try {
    const store = openUserStore(db, config);
    for (const u of users) await store.add(u, Date.now(), { via: "cli", by: "test.admin" });
  } finally {
    db.close();
  }
}
