/**
 * Secrets handed over by systemd (`LoadCredential=`): a config file path may name a credential instead of
 * a file, as `credential:NAME`, which is the file `$CREDENTIALS_DIRECTORY/NAME`.
 *
 * Why: with `DynamicUser=yes` the service runs as a user that exists only while it runs, so it cannot own
 * the secret files on disk, and root-owned 0600 files are unreadable to it. systemd reads each
 * `LoadCredential=ID:PATH` as root when the service starts and puts a read-only copy in a directory of
 * its own [systemd.exec(5) "Credentials"], exported to the service as `$CREDENTIALS_DIRECTORY`
 * (`/run/credentials/<unit>`).
 *
 * What such a copy looks like [systemd src/core/exec-credential.c, write_credential() and
 * acquire_credentials()]: the file is created 0600 by root, written, then chmod-ed 0400; the service user
 * is granted read access with a POSIX ACL entry (`user:<uid>:r--`), whose mask shows in the group bits,
 * so stat() reports 0440 owner root. The directory is made read-only (0500) and the user gets an ACL
 * entry `r-x` (stat() shows 0550). Where the file system has no ACLs (ramfs), systemd chowns the file
 * and the directory to the service user instead (0400, 0500) and mounts the whole credentials file
 * system read-only. The names and the prefix are wire strings: only ever added to.
 */
import { realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";

/** Prefix of a config path that names a systemd credential: `passwordFile: credential:secrets_wear-001.pw`. */
export const CREDENTIAL_PREFIX = "credential:";

/** The environment variable systemd sets for a service that has credentials. */
export const CREDENTIALS_DIRECTORY_ENV = "CREDENTIALS_DIRECTORY";

/** True when a config path names a systemd credential rather than a file. */
export function isCredentialRef(path: string): boolean {
  return path.startsWith(CREDENTIAL_PREFIX);
}

/**
 * [systemd credential_name_valid()] a credential name is a valid file name: not empty, not `.` or `..`,
 * no `/` (nor NUL), at most NAME_MAX (255) bytes.
 */
export function isValidCredentialName(name: string): boolean {
  return (
    name.length > 0 &&
    name !== "." &&
    name !== ".." &&
    !name.includes("/") &&
    !name.includes("\0") &&
    Buffer.byteLength(name) <= 255
  );
}

/** `$CREDENTIALS_DIRECTORY` when it is set to an absolute path, else undefined. */
export function credentialsDirectory(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env[CREDENTIALS_DIRECTORY_ENV];
  return dir !== undefined && isAbsolute(dir) ? dir : undefined;
}

/** The file a credential reference names, or why it names none. */
export function resolveCredentialRef(
  ref: string,
  env: NodeJS.ProcessEnv = process.env,
): { path: string } | { problem: string } {
  const name = ref.slice(CREDENTIAL_PREFIX.length);
  if (!isValidCredentialName(name)) {
    return {
      problem: `${ref}: a credential name is a file name (no "/", not "." or "..", at most 255 bytes)`,
    };
  }
  const dir = credentialsDirectory(env);
  if (dir === undefined) {
    return {
      problem:
        `${ref} names a systemd credential, but $${CREDENTIALS_DIRECTORY_ENV} is not set: run under the ` +
        `unit (LoadCredential=), or set ${CREDENTIALS_DIRECTORY_ENV} to the directory holding it`,
    };
  }
  return { path: join(dir, name) };
}

/** One problem found while resolving, as config.ts reports them. */
export interface CredentialProblem {
  path: string;
  message: string;
}

/** Config keys that hold file paths end in `File` (passwordFile, keyFile, secretFile, signingKeyFile …). */
const FILE_KEY = /File$/;

/**
 * Replaces, in place, every `credential:NAME` value of a `…File` key anywhere in a parsed config with the
 * absolute path of the credential. A reference that cannot be resolved is left as it is and reported in
 * `problems` with its dotted config path, so every later check can tell it from a path.
 */
export function resolveCredentialPaths(
  config: unknown,
  problems: CredentialProblem[],
  env: NodeJS.ProcessEnv = process.env,
): void {
  const walk = (node: unknown, at: string[]): void => {
    if (node === null || typeof node !== "object") return;
    const entries = Array.isArray(node) ? node.entries() : Object.entries(node);
    for (const [key, value] of entries) {
      const path = [...at, String(key)];
      if (typeof value === "string" && FILE_KEY.test(String(key)) && isCredentialRef(value)) {
        const r = resolveCredentialRef(value, env);
        if ("path" in r) (node as Record<string, unknown>)[key] = r.path;
        else problems.push({ path: path.join("."), message: r.problem });
      } else {
        walk(value, path);
      }
    }
  };
  walk(config, []);
}

/**
 * True when `file` is a credential systemd handed to this process: it lies directly in
 * `$CREDENTIALS_DIRECTORY`, and that directory, as systemd leaves it, is owned by root or by this user
 * and writable by nobody else. Such a file shows group read bits that grant nothing to its group (they
 * are the mask of the ACL entry of the one user it was given to), so a check that refuses group-readable
 * secrets accepts them on it.
 */
export function isSystemdCredential(file: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const dir = credentialsDirectory(env);
  if (dir === undefined) return false;
  try {
    const realDir = realpathSync(dir);
    const realFile = realpathSync(file);
    if (dirname(realFile) !== realDir) return false;
    const st = statSync(realDir);
    const uid = process.getuid?.() ?? -1;
    return st.isDirectory() && (st.uid === 0 || st.uid === uid) && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * Why a secret file (password, token, key) with permission bits `mode` is unsafe, or undefined: others
 * may read it, its group may read it, or others or its group may write it (whoever can write it can
 * replace the secret). Group read is allowed only on a systemd credential ({@link isSystemdCredential}),
 * whose group bits show the mask of its one-user ACL (0440), as the ledger key's check does.
 */
export function secretModeProblem(file: string, mode: number): string | undefined {
  if ((mode & 0o004) !== 0) return `secret file ${file} is world-readable (chmod 600 it)`;
  if ((mode & 0o022) !== 0) {
    return `secret file ${file} has mode ${(mode & 0o777).toString(8)}: writable by its group or others (chmod 600 it)`;
  }
  if ((mode & 0o040) !== 0 && !isSystemdCredential(file)) {
    return `secret file ${file} has mode ${(mode & 0o777).toString(8)}: readable by its group (chmod 600 it)`;
  }
  return undefined;
}
