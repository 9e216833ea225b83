/**
 * The gateway's files are private to its user: directories it creates are 0700, files it creates are 0600,
 * whatever the process umask (the umask can only narrow a mode, so each new path is also chmod-ed to the
 * exact mode). A directory its group or others may write is refused: whoever can write a directory can
 * replace the database or the keys in it (rename is allowed without any right on the file itself).
 *
 * SQLite creates the WAL and shared-memory files with the mode of the database file, so a database
 * created here gets 0600 side files too.
 */
import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { GatewayError } from "./errors.js";

/** Mode of every directory the gateway creates. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of every file the gateway creates (database, keys, bundles). */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Why `dir` must not be used as a private directory, or undefined when it may (or does not exist yet: it
 * will be created private). `role` names it in the message ("gateway.stateDir", "keys directory").
 */
export function directoryProblem(dir: string, role: string): string | undefined {
  let mode: number;
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) return `${role} ${dir} is not a directory`;
    mode = st.mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return `${role} ${dir} cannot be examined: ${(err as Error).message}`;
  }
  if ((mode & 0o022) === 0) return undefined;
  return (
    `${role} ${dir} has mode ${(mode & 0o7777).toString(8)}: writable by its group or others, who could ` +
    `replace the files in it (chmod 700 it)`
  );
}

/** Refuses a directory its group or others may write (DIRECTORY_INSECURE, exit 78). */
export function assertPrivateDirectory(dir: string, role: string): void {
  const problem = directoryProblem(dir, role);
  if (problem !== undefined) throw new GatewayError("DIRECTORY_INSECURE", problem);
}

/**
 * Creates `dir` and any missing parents with mode 0700, then refuses it if it (already existing) is
 * writable by its group or others.
 */
export function makePrivateDirectory(dir: string, role: string): void {
  const target = resolve(dir);
  const first = mkdirSync(target, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first !== undefined) {
    // mkdir -p returns the outermost directory it created; every one from there down is new
    const created: string[] = [];
    for (let d = target; d.length >= first.length; d = dirname(d)) {
      created.push(d);
      if (d === first || d === dirname(d)) break;
    }
    for (const d of created) chmodSync(d, PRIVATE_DIR_MODE);
  }
  assertPrivateDirectory(target, role);
}

/** Creates `file` empty with mode 0600 when it does not exist; returns true when it created it. */
export function createPrivateFile(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, "wx", PRIVATE_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
  } finally {
    closeSync(fd);
  }
  return true;
}
