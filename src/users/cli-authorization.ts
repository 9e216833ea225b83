/**
 * The `--by` check of the state-changing `vitalog` commands (users, devices, subject erasure): the person
 * named must be a user the gateway vouches for (users/user-directory.ts: the table checked against the log),
 * enabled, whose role allows the action (users/roles.ts). A refusal is printed with its reason, exits 77
 * (EX_NOPERM), and is reported to the running daemon, if any, which counts it in
 * `vitalog_commands_refused_total` (control op `command_refused`, users/create-users.ts).
 *
 * Until the first user exists (no row and no logged user: a fresh installation), devices may be provisioned
 * and subjects erased by the login that runs the command, recorded as `--by` (or that login): there is nobody
 * to check against yet. The first user is an admin who adds themselves (`users add --id A --role admin --by A`,
 * recorded as a bootstrap); from then on every command is checked.
 */
import { openTlog } from "../batcher/tlog/open-tlog.js";
import type { Config } from "../config.js";
import { controlRequest } from "../control/control-socket.js";
import type { Db } from "../db.js";
import { ActorRefusal, authorize } from "./authorize.js";
import type { UserAction } from "./roles.js";
import { type DirectoryUser, UserDirectory } from "./user-directory.js";

/** The control op a refused command reports itself with. */
export const COMMAND_REFUSED_OP = "command_refused";
/** How long a refused command waits for the daemon to count it. */
const REPORT_TIMEOUT_MS = 2000;
/** Exit status of a refused command: sysexits EX_NOPERM. */
export const EXIT_REFUSED = 77;

/** The directory as the CLI checks it: over `db`, verified against the log when the log is on. */
export function loadUserDirectory(db: Db, config: Readonly<Config>): UserDirectory {
  const tlog = config.tlog.enabled ? openTlog(db, config, { createMissing: true }) : undefined;
  const directory = new UserDirectory(db, tlog && { db: tlog.db, keys: tlog.records.keys });
  directory.reload();
  return directory;
}

/**
 * Checks `by` for `action`; resolves the user, or `undefined` when the store is empty and `isOpenWhenEmpty`
 * (see the module comment). On a refusal, reports it to the daemon as `command` and rethrows it.
 */
export async function authorizeCli(
  config: Readonly<Config>,
  directory: UserDirectory,
  by: string,
  action: UserAction,
  command: string,
  opts: { isOpenWhenEmpty: boolean },
): Promise<DirectoryUser | undefined> {
  if (opts.isOpenWhenEmpty && directory.isEmpty) return undefined;
  try {
    return authorize(directory, by, action);
  } catch (err) {
    if (err instanceof ActorRefusal) await reportRefusal(config, command, err.code);
    throw err;
  }
}

/** Tells the running daemon, if any, of a refused command (best effort: a refusal stands either way). */
export async function reportRefusal(
  config: Readonly<Config>,
  command: string,
  reason: string,
): Promise<void> {
  try {
    await controlRequest(config.gateway.stateDir, COMMAND_REFUSED_OP, { command, reason }, REPORT_TIMEOUT_MS);
  } catch {
    // the daemon is busy or gone: the refusal is still printed and exits 77
  }
}

/** Prints a refusal (`{ ok: false, error, detail }`) and returns the exit status; rethrows anything else. */
export function printRefusal(err: unknown, out: NodeJS.WritableStream): number {
  if (!(err instanceof ActorRefusal)) throw err;
  out.write(`${JSON.stringify({ ok: false, error: err.code, detail: err.message })}\n`);
  return EXIT_REFUSED;
}
