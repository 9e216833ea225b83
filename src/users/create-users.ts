/**
 * The daemon's user directory (users/user-directory.ts) and its two control ops:
 *
 *   { "op": "users_changed" }                      → { "users": N, "refused": [ids] }
 *   { "op": "command_refused", "command", "reason" } → {}
 *
 * `users_changed` is sent by `vitalog users` after its change commits: the daemon reads the table again and
 * checks the new rows against the log; a row that does not match is refused (logged as tampering) and whoever
 * it names is `unknown_user` from then on. `command_refused` is sent by a state-changing command the CLI
 * refused (users/cli-authorization.ts), counted in `vitalog_commands_refused_total` by command and reason;
 * only the commands and reasons below are counted (a label set bounded whatever a caller sends).
 */

import type { Tlog } from "../batcher/tlog/open-tlog.js";
import type { Clock } from "../clock.js";
import type { ControlOps } from "../core/ports.js";
import { ControlRefusal } from "../core/ports.js";
import type { Db } from "../db.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { COMMAND_REFUSED_OP } from "./cli-authorization.js";
import { UserDirectory } from "./user-directory.js";

export const USERS_CHANGED_OP = "users_changed";

/** The CLI commands that report their refusals (wire strings, only ever added to). */
export const CLI_COMMANDS: ReadonlySet<string> = new Set([
  "users_add",
  "users_role",
  "users_disable",
  "users_enable",
  "devices_add",
  "devices_bind",
  "devices_passwd",
  "devices_remove",
  "subjects_erase",
]);

/** The reasons a CLI command is refused for (users/authorize.ts). */
export const CLI_REFUSAL_REASONS: ReadonlySet<string> = new Set([
  "invalid_user",
  "unknown_user",
  "user_disabled",
  "user_not_permitted",
  "self_role_change",
  "last_admin",
  "user_store_unavailable",
]);

/**
 * Loads the directory (checked against `tlog` when the log is on) and registers its ops. Called by the
 * composition root, once; it hands the directory to everything that checks a `by`.
 */
export function createUserDirectory(
  gw: { readonly db: Db; readonly control: ControlOps; readonly metrics: Metrics; readonly clock: Clock },
  tlog: Tlog | undefined,
  log: Logger,
): UserDirectory {
  const directory = new UserDirectory(gw.db, tlog && { db: tlog.db, keys: tlog.records.keys }, () =>
    gw.clock.now(),
  );
  const reload = () => {
    const loaded = directory.reload();
    for (const r of loaded.refused)
      log.error({ user: r.id, detail: r.detail }, "user row does not match the log: refused (tampering)");
    return loaded;
  };
  reload();
  gw.control.handle(USERS_CHANGED_OP, async () => {
    const loaded = reload();
    return { users: loaded.users, refused: loaded.refused.map((r) => r.id) };
  });
  // the family the alarm commands count their refusals in (rules/commands.ts)
  const refused = gw.metrics.counter(
    "vitalog_commands_refused_total",
    "Alarm commands (ack, silence, observe) refused, by command and reason",
  );
  gw.control.handle(COMMAND_REFUSED_OP, async (args) => {
    const { command, reason } = args;
    if (typeof command !== "string" || !CLI_COMMANDS.has(command))
      throw new ControlRefusal("bad_request", "command: a state-changing vitalog command");
    if (typeof reason !== "string" || !CLI_REFUSAL_REASONS.has(reason))
      throw new ControlRefusal("bad_request", "reason: a refusal reason");
    refused({ command, reason });
    log.warn({ command, reason }, "cli command refused");
    return {};
  });
  return directory;
}
