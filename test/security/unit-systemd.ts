/**
 * The shipped systemd unit as systemd would run it, on a machine whose PID 1 is not systemd: its directives
 * read from systemd/vitalog.service, a credentials directory filled the way systemd fills it, and the
 * service's user, an unprivileged uid of the DynamicUser= range, entered with setpriv.
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fchownSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (tests run from dist/test/security). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const UNIT_FILE = join(REPO, "systemd/vitalog.service");

/** Every `Key=value` of the unit, in order, values of repeated keys kept (comments and sections dropped). */
export function unitDirectives(file = UNIT_FILE): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of readFileSync(file, "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";") || line.startsWith("[")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

/** The one value of `key` in the unit; throws when absent or repeated. */
export function unitValue(key: string, file = UNIT_FILE): string {
  const values = unitDirectives(file).get(key) ?? [];
  if (values.length !== 1) throw new Error(`${key}= appears ${values.length} times in ${file}`);
  return values[0]!;
}

/**
 * A uid (= gid) from systemd's DynamicUser= range, 61184–65519 [systemd.exec(5) DynamicUser=], that no
 * user or group of this machine has: what systemd allocates for the service.
 */
export function dynamicUid(): number {
  const used = new Set<number>();
  for (const db of ["/etc/passwd", "/etc/group"]) {
    for (const line of readFileSync(db, "utf8").split("\n")) {
      const id = Number(line.split(":")[2]);
      if (Number.isInteger(id)) used.add(id);
    }
  }
  for (let uid = 61184; uid <= 65519; uid++) if (!used.has(uid)) return uid;
  throw new Error("no free uid in the DynamicUser= range");
}

/** How systemd gives the service user access to its credentials (see credentials.ts in src). */
export type CredentialAccess = "acl" | "ownership";

/**
 * Fills `dir` like systemd's `LoadCredential=ID:SOURCE_DIR` for a service running as `uid`
 * [systemd src/core/exec-credential.c, acquire_credentials() and write_credential()]:
 * - a fresh tmpfs mounted on `dir` (systemd mounts a file system of its own there);
 * - every regular file under SOURCE_DIR, read as root, becomes `ID_<path with "/" as "_">`: created 0600,
 *   written, chmod 0400; then either a POSIX ACL entry `user:<uid>:r--` (`acl`: root stays the owner and
 *   stat() shows 0440, the ACL mask) or chown to the user (`ownership`, systemd's fallback on ramfs);
 * - the directory loses its write bits (0500), and the user gets `r-x` by ACL or by ownership;
 * - the file system is remounted read-only.
 * Returns the credential names. Root only; `unmount` undoes it.
 */
export function loadCredentials(opts: {
  id: string;
  sourceDir: string;
  dir: string;
  uid: number;
  access: CredentialAccess;
}): string[] {
  const { id, sourceDir, dir, uid, access } = opts;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", dir]);
  const names: string[] = [];
  for (const rel of (readdirSync(sourceDir, { recursive: true }) as string[]).sort()) {
    const source = join(sourceDir, rel);
    if (!statSync(source).isFile()) continue;
    const name = `${id}_${relative(sourceDir, source).replaceAll("/", "_")}`;
    const target = join(dir, name);
    const fd = openSync(target, "wx", 0o600);
    try {
      writeSync(fd, readFileSync(source));
      fchmodSync(fd, 0o400);
      if (access === "ownership") fchownSync(fd, uid, uid);
    } finally {
      closeSync(fd);
    }
    if (access === "acl") execFileSync("setfacl", ["-m", `u:${uid}:r`, target]);
    names.push(name);
  }
  chmodSync(dir, 0o500);
  if (access === "acl") execFileSync("setfacl", ["-m", `u:${uid}:rx`, dir]);
  else execFileSync("chown", [`${uid}:${uid}`, dir]);
  execFileSync("mount", ["-o", "remount,ro", dir]);
  return names;
}

/** Unmounts `dir`, lazily when something still holds it open; never throws. */
export function unmount(dir: string): void {
  for (const args of [[dir], ["-l", dir]]) {
    try {
      execFileSync("umount", args, { stdio: "ignore" });
      return;
    } catch {}
  }
}

/**
 * The command line that runs the unit's `ExecStart=` as systemd would with `DynamicUser=yes`,
 * `NoNewPrivileges=yes`, an empty `CapabilityBoundingSet=` and `UMask=`: setpriv enters the uid with no
 * supplementary groups and no capabilities, a shell sets the umask and execs the service (same pid).
 * `/opt/vitalog` becomes this checkout and the config path `configFile`.
 */
export function unitCommand(uid: number, configFile: string): { file: string; args: string[] } {
  const words = unitValue("ExecStart").trim().split(/\s+/);
  const exec = words.map((w) =>
    w.startsWith("/opt/vitalog/")
      ? join(REPO, w.slice("/opt/vitalog/".length))
      : w === "/etc/vitalog/vitalog.yaml"
        ? configFile
        : w,
  );
  // the unit names Debian's node; a machine whose node lives elsewhere runs the same flags with its own
  if (exec[0] === "/usr/bin/node" && !isExecutable(exec[0])) exec[0] = process.execPath;
  return {
    file: "setpriv",
    args: [
      `--reuid=${uid}`,
      `--regid=${uid}`,
      "--clear-groups",
      "--no-new-privs",
      "--bounding-set=-all",
      "--inh-caps=-all",
      "--",
      "sh",
      "-c",
      `umask ${unitValue("UMask")} && exec "$@"`,
      "sh",
      ...exec,
    ],
  };
}

/**
 * The service's environment: systemd's default PATH, what DynamicUser= sets, the unit's `Environment=`
 * lines, and `$CREDENTIALS_DIRECTORY` / `$STATE_DIRECTORY` as systemd exports them.
 */
export function unitEnvironment(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/",
    LANG: "C.UTF-8",
  };
  for (const line of unitDirectives().get("Environment") ?? []) {
    const eq = line.indexOf("=");
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return { ...env, ...extra };
}

function isExecutable(file: string): boolean {
  try {
    return (statSync(file).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}
