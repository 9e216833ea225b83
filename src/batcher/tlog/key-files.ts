/**
 * The gateway's two secrets as files: the Ed25519 checkpoint signing key (Go `note` skey text, key name
 * = gateway.origin) and the 256-bit storage key that wraps per-subject record keys.
 *
 * Rules: files are created 0600 in a 0700 directory whatever the umask, written atomically (temp file,
 * fsync, rename) and never overwritten; a key file readable or writable by "other", or writable by its
 * group, is refused (KEY_FILE_INSECURE, exit 78), and so is a key file in a directory its group or others
 * may write (DIRECTORY_INSECURE, exit 78: they could swap the key). Key bytes are never logged.
 *
 * A configured key file may be a systemd credential (`tlog.signingKeyFile: credential:NAME`, resolved by
 * config.ts): root-owned 0400 with an ACL read entry for the service user (stat() shows 0440) in a
 * read-only directory, which these rules accept. Such a key is rotated in its source file, not here.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type { Config } from "../../config-schema.js";
import type { ConfigProblem } from "../../config-sections.js";
import { isCredentialRef } from "../../credentials.js";
import { GatewayError } from "../../errors.js";
import {
  assertPrivateDirectory,
  directoryProblem,
  makePrivateDirectory,
  PRIVATE_FILE_MODE,
} from "../../private-paths.js";
import { base64Decode, base64Encode } from "../verifier/base64.js";
import { Ed25519Signer, parseSkey } from "../verifier/signer.js";

/** Prefix of the storage key file's single line. */
export const STORAGE_KEY_PREFIX = "vitalog-storage-key/v1:";

/** Where the key files are and whether the operator configured them explicitly. */
export interface KeyPaths {
  readonly signingKeyFile: string;
  readonly storageKeyFile: string;
  /** Explicit paths are never auto-created: a missing explicit file is a config error. */
  readonly isExplicit: boolean;
}

/** The loaded secrets. */
export interface GatewayKeys {
  readonly signer: Ed25519Signer;
  readonly storageKey: Buffer;
  /** True when this call created the key files (first start). */
  readonly created: boolean;
}

/** What the key paths are made of: the configured key files and the state directory. */
export interface KeyPathsInput {
  readonly tlog: Readonly<Pick<Config["tlog"], "signingKeyFile" | "storageKeyFile">>;
  readonly gateway: Readonly<Pick<Config["gateway"], "stateDir">>;
}

/** Key file paths: configured ones (relative to gateway.stateDir), else `<stateDir>/keys/…`. */
export function resolveKeyPaths(config: KeyPathsInput): KeyPaths {
  const base = config.gateway.stateDir;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const t = config.tlog;
  return {
    signingKeyFile: abs(t.signingKeyFile ?? "keys/signing.key"),
    storageKeyFile: abs(t.storageKeyFile ?? "keys/storage.key"),
    isExplicit: t.signingKeyFile !== undefined || t.storageKeyFile !== undefined,
  };
}

/** The log origin (= signing key name). */
export function logOrigin(config: Readonly<Pick<Config, "tlog" | "gateway">>): string {
  return config.gateway.origin ?? `vitalog.invalid/gw/${config.gateway.id}`;
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

/** Refuses a key file that others may read or write (or its group may write). */
export function checkKeyFileMode(file: string): void {
  const mode = statSync(file).mode;
  if ((mode & 0o027) !== 0) {
    throw new GatewayError(
      "KEY_FILE_INSECURE",
      `key file ${file} has mode ${(mode & 0o777).toString(8)}: it must not be accessible to others (chmod 600 it)`,
    );
  }
}

function readKeyText(file: string): string {
  assertPrivateDirectory(dirname(file), "keys directory");
  if (!exists(file)) throw new GatewayError("KEY_FILE_MISSING", `key file ${file} does not exist`);
  checkKeyFileMode(file);
  try {
    return readFileSync(file, "utf8").trim();
  } catch (cause) {
    throw new GatewayError("CONFIG_SECRET_UNREADABLE", `cannot read key file ${file}`, { cause });
  }
}

/**
 * Writes a new secret file atomically with mode 0600; refuses to replace an existing file unless
 * `replace` (key rotation).
 */
export function writeKeyFile(file: string, text: string, replace = false): void {
  if (!replace && exists(file))
    throw new GatewayError("KEY_FILE_EXISTS", `key file ${file} already exists; refusing to overwrite it`);
  makePrivateDirectory(dirname(file), "keys directory");
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, "wx", PRIVATE_FILE_MODE);
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dirFd = openSync(dirname(file), "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** Loads the signing key; its key name MUST equal the origin. */
export function loadSigningKey(file: string, origin: string): Ed25519Signer {
  const signer = readSigningKey(file);
  if (signer.name !== origin) {
    throw new GatewayError(
      "CONFIG_INVALID",
      `signing key ${file} is named ${signer.name} but gateway.origin is ${origin}; they must be equal`,
    );
  }
  return signer;
}

/** Reads a signing key file, whatever its key name. */
function readSigningKey(file: string): Ed25519Signer {
  try {
    return parseSkey(readKeyText(file));
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError("CONFIG_INVALID", `signing key ${file} is malformed: ${(err as Error).message}`);
  }
}

/** Loads the 32-byte storage key. */
export function loadStorageKey(file: string): Buffer {
  const text = readKeyText(file);
  let bytes: Uint8Array | null = null;
  try {
    if (text.startsWith(STORAGE_KEY_PREFIX)) bytes = base64Decode(text.slice(STORAGE_KEY_PREFIX.length));
  } catch {
    // not base64 (RFC 4648): malformed like any other wrong text, never a raw SyntaxError at start
  }
  if (bytes === null || bytes.length !== 32) {
    throw new GatewayError(
      "CONFIG_INVALID",
      `storage key ${file} is malformed (expected ${STORAGE_KEY_PREFIX}<base64 of 32 bytes>)`,
    );
  }
  return Buffer.from(bytes);
}

/** Creates a signing key file for `origin`; returns the signer. */
export function createSigningKey(file: string, origin: string): Ed25519Signer {
  const signer = Ed25519Signer.generate(origin);
  writeKeyFile(file, `${signer.toSkey()}\n`);
  return signer;
}

/** Creates a storage key file; returns the key. */
export function createStorageKey(file: string): Buffer {
  const key = randomBytes(32);
  writeKeyFile(file, `${STORAGE_KEY_PREFIX}${base64Encode(key)}\n`);
  return key;
}

/**
 * Loads both keys. With `createMissing` and default (not configured) paths, missing files are created
 * (first start of `vitalog run`/`demo`); a configured path that is missing is KEY_FILE_MISSING (exit 78).
 */
export function loadGatewayKeys(
  config: Readonly<Pick<Config, "tlog" | "gateway">>,
  opts: { createMissing: boolean },
): GatewayKeys {
  const paths = resolveKeyPaths(config);
  const origin = logOrigin(config);
  const canCreate = opts.createMissing && !paths.isExplicit;
  for (const f of [paths.signingKeyFile, paths.storageKeyFile])
    assertPrivateDirectory(dirname(f), "keys directory");
  let created = false;
  const hasSigning = exists(paths.signingKeyFile);
  const hasStorage = exists(paths.storageKeyFile);
  if (canCreate && !hasSigning && !hasStorage) {
    createSigningKey(paths.signingKeyFile, origin);
    createStorageKey(paths.storageKeyFile);
    created = true;
  }
  if (!exists(paths.signingKeyFile) || !exists(paths.storageKeyFile)) {
    const missing = [paths.signingKeyFile, paths.storageKeyFile].filter((f) => !exists(f));
    throw new GatewayError(
      "KEY_FILE_MISSING",
      `tlog key file(s) missing: ${missing.join(", ")} (create them with \`vitalog keys init\`)`,
    );
  }
  return {
    signer: loadSigningKey(paths.signingKeyFile, origin),
    storageKey: loadStorageKey(paths.storageKeyFile),
    created,
  };
}

/** What the key checks read: the tlog key settings, the state directory and the log origin. */
export interface KeyCheckInput extends KeyPathsInput {
  readonly tlog: KeyPathsInput["tlog"] & Readonly<Pick<Config["tlog"], "enabled">>;
  /**
   * The log origin (`logOrigin`), or undefined when the config's origin, or the gateway id it defaults to,
   * cannot be read: the signing key's name is then not compared (the origin's own problem is listed).
   */
  readonly origin: string | undefined;
}

/**
 * Every problem `loadGatewayKeys(config, { createMissing: true })` would meet, as config problems with their
 * error codes, found without creating or changing anything, so a gateway about to run lists them with the
 * rest of its config (config.ts `loadGatewayConfig`): a keys directory others may write
 * (DIRECTORY_INSECURE), a key file that is missing where it would not be created (KEY_FILE_MISSING), that
 * others may read (KEY_FILE_INSECURE), that cannot be read (CONFIG_SECRET_UNREADABLE) or parsed, or a
 * signing key named for another origin (CONFIG_INVALID). Default key files that are both absent are no
 * problem: the first start creates them. A path still naming a credential was reported when it was resolved.
 */
export function gatewayKeyProblems(config: KeyCheckInput): ConfigProblem[] {
  if (!config.tlog.enabled) return [];
  const { origin } = config;
  const paths = resolveKeyPaths(config);
  const { signingKeyFile, storageKeyFile } = config.tlog;
  const keys = [
    {
      path: "tlog.signingKeyFile",
      configured: signingKeyFile,
      file: paths.signingKeyFile,
      load: (f: string) => (origin === undefined ? readSigningKey(f) : loadSigningKey(f, origin)),
    },
    {
      path: "tlog.storageKeyFile",
      configured: storageKeyFile,
      file: paths.storageKeyFile,
      load: loadStorageKey,
    },
  ].filter((k) => k.configured === undefined || !isCredentialRef(k.configured));
  const problems: ConfigProblem[] = [];
  const checkedDirs = new Map<string, boolean>();
  const anyExists = keys.some((k) => exists(k.file));
  for (const { path, file, load } of keys) {
    const dir = dirname(file);
    if (!checkedDirs.has(dir)) {
      const problem = directoryProblem(dir, "keys directory");
      if (problem !== undefined) problems.push({ path, message: problem, code: "DIRECTORY_INSECURE" });
      checkedDirs.set(dir, problem === undefined);
    }
    // as loadGatewayKeys: nothing in a directory others may write is read
    if (!checkedDirs.get(dir)) continue;
    if (!exists(file)) {
      if (paths.isExplicit || anyExists)
        problems.push({
          path,
          message: `key file ${file} does not exist (create the key files with \`vitalog keys init\`)`,
          code: "KEY_FILE_MISSING",
        });
      continue;
    }
    try {
      load(file);
    } catch (err) {
      problems.push(
        err instanceof GatewayError
          ? { path, message: err.message, code: err.code }
          : { path, message: `cannot read key file ${file}`, code: "CONFIG_SECRET_UNREADABLE" },
      );
    }
  }
  return problems;
}

/** Removes a retired private key file (after rotation, the old private key must not linger). */
export function removeKeyFile(file: string): void {
  unlinkSync(file);
}
