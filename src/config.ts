import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { BlockList, isIP } from "node:net";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import { anchorConfigSchema, ledgerKeyProblems } from "./anchor/anchor-config.js";
import { gatewayKeyProblems } from "./batcher/tlog/key-files.js";
import { type Config, configSchema } from "./config-schema.js";
import {
  type ConfigProblem,
  configProblemsError,
  issueProblems,
  parsedParts,
  unparsedKeys,
} from "./config-sections.js";
import { controlSocketPathProblem } from "./control/control-socket.js";
import { isCredentialRef, resolveCredentialPaths, secretModeProblem } from "./credentials.js";
import type { LoadedDefinition } from "./drivers/definition-loader.js";
import type { GatewayError } from "./errors.js";
import { directoryProblem } from "./private-paths.js";
import { rulesConfigSchema } from "./rules/config.js";
import { alertSinksConfigSchema, resolveAlertsConfig } from "./rules/sinks/sinks-config.js";

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

/** What `checkConfig` found: the config when it has no problem, else the sections that parsed, paths resolved. */
interface CheckedConfig {
  readonly config: Readonly<Config> | undefined;
  readonly parts: Partial<Config>;
  readonly problems: ConfigProblem[];
}

/** `parseConfig` without the throw: every problem, and the parts a further check may still read. */
function checkConfig(raw: unknown, baseDir: string): CheckedConfig {
  const result = configSchema.safeParse(raw);
  const problems: ConfigProblem[] = result.success ? [] : issueProblems(result.error.issues);
  const parts: Partial<Config> = result.success ? result.data : parsedParts(configSchema, raw);
  checkSections(parts, raw, baseDir, problems);
  if (parts.gateway) parts.gateway.origin ??= `vitalog.invalid/gw/${parts.gateway.id}`;
  if (!result.success || problems.length > 0) return { config: undefined, parts, problems };
  return { config: deepFreeze(result.data), parts, problems };
}

/**
 * The checks across sections and on files, each run when the sections it reads parsed. A section that
 * failed as a whole (`rules`, `alerts`) lends the parts of it that parsed. Resolves the paths in place.
 */
function checkSections(
  parts: Partial<Config>,
  raw: unknown,
  baseDir: string,
  problems: ConfigProblem[],
): void {
  // a credential reference is resolved by resolveCredentialPaths below, never against baseDir
  const abs = (p: string) => (isAbsolute(p) || isCredentialRef(p) ? p : resolve(baseDir, p));
  const { gateway, storage, devices, tlog } = parts;
  const rawRules = rawSection(raw, "rules");
  const alertsSchema = alertSinksConfigSchema.unwrap();
  const alerts = parts.alerts ?? parsedParts(alertsSchema, rawSection(raw, "alerts"));
  const alertsUnparsed = parts.alerts ? new Set<string>() : unparsedKeys(alertsSchema, alerts);
  const rules = parts.rules ?? parsedParts(rulesConfigSchema, rawRules);
  const alarms =
    rules.alarms ?? parsedParts(rulesConfigSchema.shape.alarms.unwrap(), rawSection(rawRules, "alarms"));
  const anchor = parts.anchor ?? parsedParts(anchorConfigSchema.unwrap(), rawSection(raw, "anchor"));
  if (gateway) gateway.stateDir = abs(gateway.stateDir);
  if (storage?.path !== undefined) storage.path = abs(storage.path);
  else if (storage && gateway) storage.path = resolve(gateway.stateDir, "vitalog.db");
  // `credential:NAME` in any …File key → $CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=)
  resolveCredentialPaths(parts, problems);
  if (parts.alerts === undefined) resolveCredentialPaths({ alerts }, problems);
  if (gateway) {
    // the database and the default keys live here: a directory others may write lets them replace both
    const stateDirProblem = directoryProblem(gateway.stateDir, "state directory");
    if (stateDirProblem !== undefined) problems.push({ path: "gateway.stateDir", message: stateDirProblem });
    const socketProblem = controlSocketPathProblem(gateway.stateDir);
    if (socketProblem !== undefined) problems.push({ path: "gateway.stateDir", message: socketProblem });
  }
  const seen = new Set<string>();
  devices?.forEach((d, i) => {
    if (seen.has(d.id)) problems.push({ path: `devices.${i}.id`, message: `duplicate device id ${d.id}` });
    seen.add(d.id);
    d.passwordFile = abs(d.passwordFile);
    checkSecretFile(d.passwordFile, `devices.${i}.passwordFile`, problems);
  });
  checkTransport(parts, alerts.consumers, abs, problems);
  const ladder = alarms.escalation ? { escalation: alarms.escalation } : undefined;
  resolveAlertsConfig(alerts, abs, problems, ladder, alertsUnparsed);
  // only signed checkpoints are anchored (create-anchor.ts refuses it too, should a caller skip this)
  if (anchor.enabled === true && tlog?.enabled === false)
    problems.push({
      path: "anchor.enabled",
      message: "requires tlog.enabled (only signed checkpoints are anchored)",
    });
}

/** The raw value of a top-level section, for the parts of it that parsed. */
function rawSection(raw: unknown, key: string): unknown {
  return typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>)[key] : undefined;
}

/**
 * Every listener's checks: TLS files, a listener left for the configured clients, the admin token. `consumers`:
 * the alert consumers that parsed (none when they did not).
 */
function checkTransport(
  { mqtt, admin, devices }: Partial<Config>,
  consumers: readonly unknown[] | undefined,
  abs: (p: string) => string,
  problems: ConfigProblem[],
): void {
  if (mqtt?.tls) {
    const tls = mqtt.tls;
    tls.certFile = abs(tls.certFile);
    tls.keyFile = abs(tls.keyFile);
    if (tls.caFile) tls.caFile = abs(tls.caFile);
    checkReadable(tls.certFile, "mqtt.tls.certFile", problems);
    checkSecretFile(tls.keyFile, "mqtt.tls.keyFile", problems);
    if (tls.caFile) checkReadable(tls.caFile, "mqtt.tls.caFile", problems);
    // without a CA of its own, Node would accept client certificates from every public root
    if (tls.requireClientCert && !tls.caFile) {
      problems.push({
        path: "mqtt.tls.caFile",
        message: "required with requireClientCert: client certificates are verified against this CA only",
      });
    }
    if (mqtt.plain && tls.port === mqtt.port && tls.port !== 0) {
      problems.push({ path: "mqtt.tls.port", message: "must differ from mqtt.port" });
    }
    // the plain listener asks for no certificate: beyond loopback it would let the same devices in without one
    if (tls.requireClientCert && mqtt.plain && !isLoopbackHost(mqtt.host)) {
      problems.push({
        path: "mqtt.plain",
        message: `must be false, or mqtt.host (${mqtt.host}) a loopback address, with mqtt.tls.requireClientCert: the plain listener would accept clients without a certificate`,
      });
    }
  }
  if (mqtt && !mqtt.plain && !mqtt.tls && ((devices?.length ?? 0) > 0 || (consumers?.length ?? 0) > 0)) {
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
  } else if (admin.port !== 0 && !isLoopbackHost(admin.host)) {
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
  const { config, parts, problems } = checkConfig(raw, dirname(resolve(file)));
  if (parts.tlog && parts.gateway)
    problems.push(...gatewayKeyProblems({ tlog: parts.tlog, gateway: parts.gateway }));
  if (parts.anchor && parts.gateway)
    problems.push(...(await ledgerKeyProblems(parts.anchor, parts.gateway.stateDir)));
  // the drivers' code is loaded only here: the CLI commands that read the config never need it
  const loader = await import("./drivers/definition-loader.js");
  const { loaded, problems: packageProblems } = parts.drivers
    ? await loader.collectDefinitionPackages(parts.drivers.packages, {
        packagesFrom: parts.drivers.packagesFrom,
      })
    : { loaded: [], problems: [] };
  problems.push(...packageProblems);
  problems.push(...loader.definitionReferenceProblems(parts, loader.knownDefinitions(loaded)));
  if (config === undefined || problems.length > 0) throw configError(file, problems);
  return { config, definitions: loaded };
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
