import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { BlockList, isIP } from "node:net";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import { ledgerKeyProblems } from "./anchor/anchor-config.js";
import { gatewayKeyProblems } from "./batcher/tlog/key-files.js";
import { type Config, configSchema } from "./config-schema.js";
import {
  type ConfigProblem,
  configProblemsError,
  issueProblems,
  type Readable,
  readParts,
  unparsedKeys,
  wasRead,
} from "./config-sections.js";
import { controlSocketPathProblem } from "./control/control-socket.js";
import { isCredentialRef, resolveCredentialPaths, secretModeProblem } from "./credentials.js";
import type { LoadedDefinition } from "./drivers/definition-loader.js";
import type { GatewayError } from "./errors.js";
import { directoryProblem } from "./private-paths.js";
import {
  alertSinksConfigSchema,
  type LadderRecipients,
  resolveAlertsConfig,
} from "./rules/sinks/sinks-config.js";

export { DEVICE_ID_PATTERN, SUBJECT_ID_PATTERN } from "./identifiers.js";

/** Shortest admin token accepted: 32 characters (e.g. `openssl rand -hex 32` gives 64), about 128 bits at least. */
const MIN_ADMIN_TOKEN_CHARS = 32;

export { type Config, type ConfigInput, configSchema } from "./config-schema.js";
export type { ConfigProblem } from "./config-sections.js";

/**
 * Validates a parsed config object: schema, then cross-field and file checks. Relative paths are
 * resolved against `baseDir`. Collects every problem and throws one CONFIG_INVALID error listing all: the
 * cross-field checks run on every section that parsed even when others did not, so one run lists them all.
 */
export function parseConfig(raw: unknown, baseDir: string, source = "config"): Readonly<Config> {
  const { config, problems } = checkConfig(raw, baseDir);
  if (config === undefined) throw configError(source, problems);
  return config;
}

/** What `checkConfig` found: the config when it has no problem, else what can be read of it, paths resolved. */
interface CheckedConfig {
  readonly config: Readonly<Config> | undefined;
  /** The whole config when it parsed, else what can be read of each section (`readParts`). */
  readonly parts: Readable<Config>;
  /** The values present that cannot be read: a check MUST NOT take their default instead. */
  readonly unread: ReadonlySet<string>;
  readonly problems: ConfigProblem[];
}

/**
 * `parseConfig` without the throw: every problem, and what a further check may still read. Every check
 * below reads what can be read of the sections it needs (`readParts`: key by key, element by element),
 * never a whole section, so a mistake in one key or one list element hides no check of the others.
 */
function checkConfig(raw: unknown, baseDir: string): CheckedConfig {
  const result = configSchema.safeParse(raw);
  const problems: ConfigProblem[] = result.success ? [] : issueProblems(result.error.issues);
  const { value: parts, unread } = result.success
    ? { value: result.data as Readable<Config>, unread: new Set<string>() }
    : readParts(configSchema, raw);
  checkSections(parts, unread, raw, baseDir, problems);
  const { gateway } = parts;
  if (gateway?.id !== undefined && wasRead(unread, "gateway.origin"))
    gateway.origin ??= `vitalog.invalid/gw/${gateway.id}`;
  if (!result.success || problems.length > 0) return { config: undefined, parts, unread, problems };
  return { config: deepFreeze(result.data), parts, unread, problems };
}

/** The checks across sections and on files, each on what can be read of its inputs. Resolves the paths in place. */
function checkSections(
  parts: Readable<Config>,
  unread: ReadonlySet<string>,
  raw: unknown,
  baseDir: string,
  problems: ConfigProblem[],
): void {
  // a credential reference is resolved by resolveCredentialPaths below, never against baseDir
  const abs = (p: string) => (isAbsolute(p) || isCredentialRef(p) ? p : resolve(baseDir, p));
  const { gateway, storage, devices, tlog, anchor, alerts = {} } = parts;
  const alarms = parts.rules?.alarms;
  if (gateway?.stateDir !== undefined) gateway.stateDir = abs(gateway.stateDir);
  if (storage?.path !== undefined) storage.path = abs(storage.path);
  else if (storage && gateway?.stateDir !== undefined && wasRead(unread, "storage.path"))
    storage.path = resolve(gateway.stateDir, "vitalog.db");
  // `credential:NAME` in any …File key → $CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=)
  resolveCredentialPaths(parts, problems);
  if (gateway?.stateDir !== undefined) {
    // the database and the default keys live here: a directory others may write lets them replace both
    const stateDirProblem = directoryProblem(gateway.stateDir, "state directory");
    if (stateDirProblem !== undefined) problems.push({ path: "gateway.stateDir", message: stateDirProblem });
    const socketProblem = controlSocketPathProblem(gateway.stateDir);
    if (socketProblem !== undefined) problems.push({ path: "gateway.stateDir", message: socketProblem });
  }
  const seen = new Set<string>();
  devices?.forEach((d, i) => {
    if (d?.id !== undefined) {
      if (seen.has(d.id)) problems.push({ path: `devices.${i}.id`, message: `duplicate device id ${d.id}` });
      seen.add(d.id);
    }
    if (d?.passwordFile === undefined) return;
    d.passwordFile = abs(d.passwordFile);
    checkSecretFile(d.passwordFile, `devices.${i}.passwordFile`, problems);
  });
  checkTransport(parts, unread, abs, problems);
  const escalation = wasRead(unread, "rules.alarms.escalation") ? alarms?.escalation : undefined;
  const ladder = escalation ? { escalation: escalation as LadderRecipients["escalation"] } : undefined;
  const alertsUnparsed = unparsedKeys(alertSinksConfigSchema.unwrap(), rawSection(raw, "alerts"));
  resolveAlertsConfig(alerts, abs, problems, ladder, alertsUnparsed);
  // only signed checkpoints are anchored (create-anchor.ts refuses it too, should a caller skip this)
  if (anchor?.enabled === true && tlog?.enabled === false)
    problems.push({
      path: "anchor.enabled",
      message: "requires tlog.enabled (only signed checkpoints are anchored)",
    });
}

/** The raw value of a top-level section, for the parts of it that parsed. */
function rawSection(raw: unknown, key: string): unknown {
  return typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>)[key] : undefined;
}

/** Every listener's checks: TLS files, a listener left for the configured clients, the admin token. */
function checkTransport(
  { mqtt, admin, devices, alerts }: Readable<Config>,
  unread: ReadonlySet<string>,
  abs: (p: string) => string,
  problems: ConfigProblem[],
): void {
  const tls = mqtt?.tls;
  if (mqtt && tls) {
    if (tls.certFile !== undefined) {
      tls.certFile = abs(tls.certFile);
      checkReadable(tls.certFile, "mqtt.tls.certFile", problems);
    }
    if (tls.keyFile !== undefined) {
      tls.keyFile = abs(tls.keyFile);
      checkSecretFile(tls.keyFile, "mqtt.tls.keyFile", problems);
    }
    if (tls.caFile !== undefined) {
      tls.caFile = abs(tls.caFile);
      checkReadable(tls.caFile, "mqtt.tls.caFile", problems);
    }
    // without a CA of its own, Node would accept client certificates from every public root
    if (tls.requireClientCert && tls.caFile === undefined && wasRead(unread, "mqtt.tls.caFile")) {
      problems.push({
        path: "mqtt.tls.caFile",
        message: "required with requireClientCert: client certificates are verified against this CA only",
      });
    }
    if (mqtt.plain && tls.port !== undefined && tls.port === mqtt.port && tls.port !== 0) {
      problems.push({ path: "mqtt.tls.port", message: "must differ from mqtt.port" });
    }
    // the plain listener asks for no certificate: beyond loopback it would let the same devices in without one
    if (tls.requireClientCert && mqtt.plain && mqtt.host !== undefined && !isLoopbackHost(mqtt.host)) {
      problems.push({
        path: "mqtt.plain",
        message: `must be false, or mqtt.host (${mqtt.host}) a loopback address, with mqtt.tls.requireClientCert: the plain listener would accept clients without a certificate`,
      });
    }
  }
  const clients = (devices?.length ?? 0) + (alerts?.consumers?.length ?? 0);
  if (mqtt?.plain === false && !tls && wasRead(unread, "mqtt.tls") && clients > 0) {
    problems.push({
      path: "mqtt.plain",
      message:
        "is false and there is no mqtt.tls: the configured devices and alert consumers would have no MQTT listener",
    });
  }
  if (admin === undefined) return;
  if (admin.tokenFile !== undefined) {
    admin.tokenFile = abs(admin.tokenFile);
    const before = problems.length;
    checkSecretFile(admin.tokenFile, "admin.tokenFile", problems);
    const token = problems.length === before ? readSecretFile(admin.tokenFile).trim() : undefined;
    // [RFC 6750 §2.1] what an Authorization header can carry (b64token)
    if (
      token !== undefined &&
      (token.length < MIN_ADMIN_TOKEN_CHARS || !/^[A-Za-z0-9\-._~+/]+=*$/.test(token))
    ) {
      problems.push({
        path: "admin.tokenFile",
        message: `token must be at least ${MIN_ADMIN_TOKEN_CHARS} characters of A-Z a-z 0-9 - . _ ~ + / (e.g. openssl rand -hex 32)`,
      });
    }
  } else if (
    wasRead(unread, "admin.tokenFile") &&
    admin.port !== undefined &&
    admin.port !== 0 &&
    admin.host !== undefined &&
    !isLoopbackHost(admin.host)
  ) {
    problems.push({
      path: "admin.tokenFile",
      message: `required when admin.host (${admin.host}) is not a loopback address: the admin HTTP would be open to the network without authentication`,
    });
  }
}

/**
 * Whether a listener host, or a host named in an HTTP `Host` header, is loopback: `localhost`, an address
 * in 127.0.0.0/8 or ::1 (IPv4-mapped forms included). The wildcard addresses (0.0.0.0, ::) are not.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/\.$/, "");
  if (h === "localhost") return true;
  const family = isIP(h);
  if (family === 0) return false;
  return LOOPBACK.check(h, family === 6 ? "ipv6" : "ipv4");
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** Reads, parses and validates a YAML config file; every problem is reported at once. */
export function loadConfig(file: string): Readonly<Config> {
  return parseConfig(readYaml(file), dirname(resolve(file)), file);
}

/** A config file as loaded for a gateway that runs: the config and the definitions its drivers use. */
export interface GatewayConfig {
  readonly config: Readonly<Config>;
  /** The vendor definitions of `drivers.packages`, each validated; the built-ins are not listed. */
  readonly definitions: readonly LoadedDefinition[];
}

/**
 * `loadConfig` and the checks only a gateway about to run needs, in the same one list: each package of
 * `drivers.packages` imported and its definitions validated, every `ble`/`serial` device's definition
 * resolved among them and the built-ins, and the keys it will load: the tlog key files (as
 * `loadGatewayKeys` will read them; default ones that are both absent are created at start) and, with
 * anchoring on, the ledger key. The secret files of the other sections (device and consumer passwords, admin
 * token, webhook secret, TLS key) are checked by `parseConfig` for every command. Nothing is opened or
 * created. The imports are asynchronous (a package may be an ES module), hence a second entry point; the CLI
 * commands that only read the config use `loadConfig`, and `vitalog keys init` creates the key files.
 * @throws GatewayError CONFIG_INVALID listing every problem of the file.
 */
export async function loadGatewayConfig(file: string): Promise<GatewayConfig> {
  const raw = readYaml(file);
  const { config, parts, unread, problems } = checkConfig(raw, dirname(resolve(file)));
  const { gateway, tlog, anchor, drivers } = parts;
  const stateDir = gateway?.stateDir;
  if (
    stateDir !== undefined &&
    tlog &&
    ["enabled", "signingKeyFile", "storageKeyFile"].every((k) => wasRead(unread, `tlog.${k}`))
  )
    problems.push(
      ...gatewayKeyProblems({
        tlog: {
          enabled: tlog.enabled ?? true,
          signingKeyFile: tlog.signingKeyFile,
          storageKeyFile: tlog.storageKeyFile,
        },
        gateway: { stateDir },
        // checkConfig gave an origin that can be read its default; one that cannot is left undefined
        origin: gateway?.origin,
      }),
    );
  if (anchor && stateDir !== undefined) problems.push(...(await ledgerKeyProblems(anchor, stateDir)));
  // the drivers' code is loaded only here: the CLI commands that read the config never need it
  const loader = await import("./drivers/definition-loader.js");
  // packages are looked for where packagesFrom says: one that cannot be read leaves nowhere to look
  const { loaded, problems: packageProblems } =
    drivers?.packages && wasRead(unread, "drivers.packagesFrom")
      ? await collectPackages(loader, drivers.packages, drivers.packagesFrom)
      : { loaded: [], problems: [] };
  problems.push(...packageProblems);
  problems.push(...loader.definitionReferenceProblems(parts, loader.knownDefinitions(loaded)));
  if (config === undefined || problems.length > 0) throw configError(file, problems);
  return { config, definitions: loaded };
}

/**
 * `collectDefinitionPackages` on the package names that can be read, each problem at the name's own place
 * in `drivers.packages` (a name that cannot be read has its schema problem).
 */
async function collectPackages(
  loader: typeof import("./drivers/definition-loader.js"),
  packages: readonly (string | undefined)[],
  packagesFrom: string | undefined,
): Promise<{ loaded: LoadedDefinition[]; problems: ConfigProblem[] }> {
  const at = [...packages.keys()].filter((i) => packages[i] !== undefined);
  const names = at.map((i) => packages[i]!);
  const r = await loader.collectDefinitionPackages(names, { packagesFrom });
  const place = (path: string) =>
    path.replace(/^drivers\.packages\.(\d+)/, (_, j: string) => `drivers.packages.${at[Number(j)]}`);
  return { loaded: r.loaded, problems: r.problems.map((p) => ({ ...p, path: place(p.path) })) };
}

/** The YAML document of a config file, or CONFIG_INVALID for a file that cannot be read or parsed. */
function readYaml(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw configError(file, [{ path: "(file)", message: `cannot read: ${(cause as Error).message}` }]);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw configError(
      file,
      doc.errors.map((e) => ({
        path: `(yaml line ${e.linePos?.[0]?.line ?? "?"})`,
        message: e.message.split("\n")[0]!,
      })),
    );
  }
  return doc.toJS() ?? {};
}

function checkReadable(file: string, path: string, problems: ConfigProblem[]): boolean {
  // an unresolvable credential reference was reported by resolveCredentialPaths
  if (isCredentialRef(file)) return false;
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    problems.push({ path, message: `file ${file} is missing or unreadable` });
    return false;
  }
}

/** A secret file must be readable by the gateway, and no one else's to read or replace (secretModeProblem). */
function checkSecretFile(file: string, path: string, problems: ConfigProblem[]): void {
  if (!checkReadable(file, path, problems)) return;
  const problem = secretModeProblem(file, statSync(file).mode);
  if (problem !== undefined) problems.push({ path, message: problem });
}

function configError(source: string, problems: ConfigProblem[]): GatewayError {
  return configProblemsError(`invalid config ${source}`, problems);
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Reads a secret file (password, key) and trims one trailing newline. */
export function readSecretFile(file: string): string {
  return readFileSync(file, "utf8").replace(/\r?\n$/, "");
}
