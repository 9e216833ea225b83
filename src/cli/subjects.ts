import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { eraseSubject } from "../batcher/tlog/erasure.js";
import { openTlogForCli } from "../batcher/tlog/open-tlog.js";
import { type Config, loadConfig } from "../config.js";
import { controlRequest } from "../control/control-socket.js";
import { openDatabase } from "../db.js";
import { GatewayError } from "../errors.js";
import { SUBJECT_ID_PATTERN, USER_ID_PATTERN } from "../identifiers.js";
import { MIGRATIONS } from "../migrations.js";
import { SUBJECT_ERASE_OP } from "../rules/subject-lifecycle.js";
import { authorizeCli, loadUserDirectory, printRefusal } from "../users/cli-authorization.js";
import { requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand, usageError } from "./options.js";

/** How long the WAL checkpoint that removes the last copies is retried while a running daemon reads. */
const CHECKPOINT_WAIT_MS = 5000;

/**
 * `vitalog subjects erase <subject> --config FILE --yes [--by USER]`: erases the subject (irreversible).
 * `--by` (else the login that runs the command) must be an enabled admin the gateway vouches for; a refusal
 * erases nothing and exits 77 (users/cli-authorization.ts).
 *
 * A running daemon is asked first (control op `subject_erase`): it ends every alarm of the subject ("patient
 * record erased"), makes nothing new for it, commits those resolutions and clears the subject's retained MQTT
 * topics. Then this command purges the alert tables, the outbox and the clinician observations, and crypto-shreds
 * the subject's log record (batcher/tlog/erasure.ts). Without a daemon it does the same alone. When the daemon's state
 * is unknown (it cannot be reached, or refuses for a reason of its own) nothing is erased and the command exits 75
 * (EX_TEMPFAIL): erasing under a daemon that still alarms for the patient would leave it escalating.
 */
export async function subjectsCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND_SPECS.subjects, argv);
  if (positionals[0] !== "erase" || positionals.length !== 2) throw usageError(COMMAND_SPECS.subjects);
  if (!values.yes) throw new GatewayError("USAGE", "erasure is irreversible: add --yes to confirm");
  const subjectId = positionals[1]!;
  if (!SUBJECT_ID_PATTERN.test(subjectId)) throw usageError(COMMAND_SPECS.subjects, "invalid subject id");
  const by = values.by ?? process.env.SUDO_USER ?? userInfo().username;
  if (!USER_ID_PATTERN.test(by)) {
    throw new GatewayError(
      "USAGE",
      `--by must be a user id (1–64 of A-Z a-z 0-9 . _ @ -), got ${JSON.stringify(by)}`,
    );
  }
  const config = loadConfig(requireFlag(values.config, "config"));
  // `--by` must be a user who may erase a subject (users/cli-authorization.ts); checked before anything changes
  const refused = await checkEraser(config, by, out);
  if (refused !== undefined) return refused;
  const daemon = await tellDaemon(config, subjectId, by);
  const write = (o: unknown) => out.write(`${JSON.stringify(o)}\n`);
  if (daemon.daemon === "refused" && daemon.error === "device_exists") {
    throw new GatewayError("DEVICE_EXISTS", String(daemon.detail));
  }
  if (daemon.daemon === "unreachable" || daemon.daemon === "refused") {
    write({ erased: false, ...daemon });
    return 75;
  }
  const tlog = openTlogForCli(config);
  try {
    const r = eraseSubject(tlog, subjectId, Date.now());
    const isCheckpointed = await truncateWal(tlog.db);
    write({
      erased: true,
      already_erased: r.isAlreadyErased,
      keys: r.keyIds.length,
      records_shredded: r.records,
      readings_deleted: r.readingsDeleted,
      rows_purged: r.purged,
      event_id: r.eventId,
      purge_event_id: r.purgeEventId,
      wal_truncated: isCheckpointed,
      ...daemon,
    });
    return 0;
  } finally {
    tlog.close();
  }
}

/** The exit status of a refused `--by`, or undefined when `by` may erase a subject. */
async function checkEraser(
  config: Readonly<Config>,
  by: string,
  out: NodeJS.WritableStream,
): Promise<number | undefined> {
  // no database: no user, nothing to erase either; it is not created by a check
  if (!existsSync(config.storage.path!)) return undefined;
  const db = openDatabase(config.storage.path!, MIGRATIONS, { synchronous: config.storage.synchronous });
  try {
    const directory = loadUserDirectory(db, config);
    await authorizeCli(config, directory, by, "erase_subject", "subjects_erase", { isOpenWhenEmpty: true });
    return undefined;
  } catch (err) {
    return printRefusal(err, out);
  } finally {
    db.close();
  }
}

/** Asks the running daemon, if any, to end the subject's alarms and make nothing new for it. */
async function tellDaemon(
  config: Readonly<Config>,
  subjectId: string,
  by: string,
): Promise<Record<string, unknown>> {
  try {
    const reply = await controlRequest(config.gateway.stateDir, SUBJECT_ERASE_OP, {
      subject_id: subjectId,
      by,
    });
    if (reply === undefined) return { daemon: "not_running" };
    if (!reply.ok) return { daemon: "refused", error: reply.error, detail: reply.detail };
    const { ok: _ok, ...counts } = reply;
    return { daemon: "notified", ...counts };
  } catch (err) {
    return { daemon: "unreachable", detail: (err as Error).message };
  }
}

/**
 * Checkpoints the WAL into the database and truncates it, so the pages the erasure freed leave the WAL file too.
 * A running daemon reading at that instant makes SQLite stop short: retried for a while. Returns whether it
 * completed.
 */
async function truncateWal(db: ReturnType<typeof openTlogForCli>["db"]): Promise<boolean> {
  const deadline = Date.now() + CHECKPOINT_WAIT_MS;
  for (;;) {
    const [r] = db.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[];
    if (r?.busy === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}
