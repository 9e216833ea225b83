import { openTlog } from "../batcher/tlog/open-tlog.js";
import type { Config } from "../config.js";
import type { Db } from "../db.js";
import { UserStore } from "./user-store.js";

/**
 * The user store over `db` with the database's tamper-evident log attached when the log is enabled (its
 * keys are created on first use, as the daemon would): what the `vitalog users` commands and the demo change
 * users through. Safe next to a running gateway: appends serialize on SQLite's write lock and the next leaf
 * index is read inside the transaction.
 */
export function openUserStore(db: Db, config: Readonly<Config>): UserStore {
  const users = new UserStore(db);
  if (config.tlog.enabled) {
    const tlog = openTlog(db, config, { createMissing: true });
    users.attachEventLog((events) => tlog.records.append([], events));
  }
  return users;
}
