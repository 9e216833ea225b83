/**
 * A gateway about to run checks every secret it will read with the rest of its config, before anything is
 * opened: the secret files of every section (`parseConfig`), the tlog key files and, with anchoring on, the
 * ledger key (`loadGatewayConfig`). One run lists a problem in each of them; a key-file problem keeps the
 * code it would have raised at start (KEY_FILE_INSECURE, KEY_FILE_MISSING …). `loadConfig`, which
 * `vitalog keys init` uses to create the key files, does not require them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ANVIL_KEYS, writeKeyFile as writeLedgerKey } from "../../src/anchor/anvil.js";
import { createSigningKey, createStorageKey } from "../../src/batcher/tlog/key-files.js";
import { loadConfig, loadGatewayConfig } from "../../src/config.js";
import type { ConfigProblem } from "../../src/config-sections.js";
import { GatewayError } from "../../src/errors.js";
import { tempDir, writeSecret } from "../helpers/gateway.js";

const MAIN = fileURLToPath(new URL("../../src/main.js", import.meta.url));
const root = tempDir("vitalog-config-secrets-");
after(() => rmSync(root, { recursive: true, force: true }));
const ORIGIN = "test.vitalog.invalid/gw/secrets-gw";
let n = 0;

/** A fresh folder with a private state directory and a config file of `lines` under a valid gateway. */
function setup(lines: string[]): { dir: string; file: string } {
  const dir = join(root, `c${n++}`);
  mkdirSync(join(dir, "state"), { recursive: true, mode: 0o700 });
  const file = join(dir, "vitalog.yaml");
  writeFileSync(
    file,
    [
      `gateway: { id: secrets-gw, origin: ${ORIGIN}, stateDir: state }`,
      "log: { level: silent }",
      ...lines,
    ].join("\n"),
  );
  return { dir, file };
}

async function problemsOf(file: string): Promise<ConfigProblem[]> {
  let caught: unknown;
  try {
    await loadGatewayConfig(file);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GatewayError && caught.code === "CONFIG_INVALID", String(caught));
  assert.equal(caught.exitCode, 78);
  return caught.details as ConfigProblem[];
}

describe("secrets checked in one pass before anything opens", () => {
  it("lists a problem in every secret at once, each with its path (exit 78)", async () => {
    const { dir, file } = setup([
      "devices: [{ id: wear-1, subject: pt-1, passwordFile: missing-device.pw }]",
      "admin: { tokenFile: admin.token }",
      "mqtt: { tls: { certFile: gw.crt, keyFile: gw.key } }",
      "tlog: { signingKeyFile: keys/signing.key, storageKeyFile: keys/storage.key }",
      "alerts:",
      "  consumers: [{ id: station-1, passwordFile: missing-station.pw }]",
      "  webhook: { url: http://127.0.0.1:9/hook, secretFile: webhook.secret }",
      "anchor:",
      "  enabled: true",
      "  rpcUrl: http://127.0.0.1:8545",
      "  chainId: 31337",
      '  contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3"',
      "  keyFile: ledger.key",
    ]);
    chmodSync(writeSecret(dir, "admin.token", "a".repeat(64)), 0o644);
    writeSecret(dir, "gw.crt", "not checked beyond being readable");
    chmodSync(writeSecret(dir, "gw.key", "a key"), 0o604);
    chmodSync(writeSecret(dir, "webhook.secret", "hmac key"), 0o640);
    const keys = join(dir, "state/keys");
    createSigningKey(join(keys, "signing.key"), ORIGIN);
    chmodSync(join(keys, "signing.key"), 0o644);
    writeSecret(keys, "storage.key", "vitalog-storage-key/v1:not-base64-of-32-bytes");
    // the ledger key lives in the state directory (a relative path resolves there)
    writeSecret(join(dir, "state"), "ledger.key", "0xnot-a-key");

    const problems = await problemsOf(file);
    const byPath = new Map(problems.map((p) => [p.path, p]));
    assert.deepEqual([...byPath.keys()].sort(), [
      "admin.tokenFile",
      "alerts.consumers.0.passwordFile",
      "alerts.webhook.secretFile",
      "anchor.keyFile",
      "devices.0.passwordFile",
      "mqtt.tls.keyFile",
      "tlog.signingKeyFile",
      "tlog.storageKeyFile",
    ]);
    assert.match(
      byPath.get("devices.0.passwordFile")!.message,
      /missing-device\.pw is missing or unreadable/,
    );
    assert.match(byPath.get("admin.tokenFile")!.message, /world-readable/);
    assert.match(byPath.get("mqtt.tls.keyFile")!.message, /world-readable/);
    assert.match(byPath.get("alerts.webhook.secretFile")!.message, /readable by its group/);
    assert.equal(byPath.get("tlog.signingKeyFile")!.code, "KEY_FILE_INSECURE");
    assert.match(byPath.get("tlog.signingKeyFile")!.message, /has mode 644/);
    assert.equal(byPath.get("tlog.storageKeyFile")!.code, "CONFIG_INVALID");
    assert.match(byPath.get("tlog.storageKeyFile")!.message, /storage key .* is malformed/);
    assert.equal(byPath.get("anchor.keyFile")!.code, "CONFIG_SECRET_UNREADABLE");
    assert.match(byPath.get("anchor.keyFile")!.message, /not a 32-byte hex key: .*state\/ledger\.key/);
    for (const p of problems) assert.doesNotMatch(p.message, /0xnot-a-key|hmac key|a{64}/, "no secret value");

    // the daemon stops on the same list, one line per problem, before it opens anything
    const r = spawnSync(process.execPath, [MAIN, "run", "--config", file], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /CONFIG_INVALID/);
    assert.match(r.stderr, /tlog\.signingKeyFile: KEY_FILE_INSECURE: key file .*signing\.key has mode 644/);
    assert.match(
      r.stderr,
      /anchor\.keyFile: CONFIG_SECRET_UNREADABLE: ledger key file is not a 32-byte hex key/,
    );
    assert.equal(existsSync(join(dir, "state/vitalog.db")), false, "no database was opened");
  });

  it("lists every problem when a section also has an unknown key or a bad list element (15 in one run)", async () => {
    const dir = join(root, `c${n++}`);
    mkdirSync(join(dir, "state"), { recursive: true, mode: 0o700 });
    chmodSync(writeSecret(dir, "world.pw", "pw"), 0o644);
    const file = join(dir, "vitalog.yaml");
    // an unknown gateway key, a bad port, a bad id in the first device: none hides a check of the others
    writeFileSync(
      file,
      `gateway: { id: gw-bad, origin: ${ORIGIN}, stateDir: state, bogusKey: 1 }
log: { level: silent }
mqtt: { port: 70000 }
admin: { host: 0.0.0.0, port: 0 }
devices:
  - { id: "bad id!", subject: pt-1, passwordFile: missing.pw }
  - { id: dev-2, subject: pt-2, passwordFile: world.pw }
tlog: { signingKeyFile: nokey.key }
rules:
  thresholds: { ward: { spo2: { low: [{ limit: "x", priority: medium, persistenceSec: 15 }] } } }
  unknownRuleKey: true
alerts: { webhook: { url: "http://127.0.0.1:9/x", secretFile: missing-webhook.secret } }
anchor: { enabled: true, rpcUrl: "http://127.0.0.1:8545", chainId: 31337, contract: "0x1234", keyFile: missing-ledger.key }
ble: { enabled: true, devices: [{ address: "AA:BB:CC:DD:EE:01", deviceId: dev-2, definition: "No Such Model" }] }
serial: { ports: [{ path: /dev/ttyNOPE, deviceId: dev-2, definition: "Nope Monitor" }] }
drivers: { packages: ["@nope/not-installed"] }
`,
    );
    const problems = await problemsOf(file);
    const byPath = new Map(problems.map((p) => [p.path, p]));
    assert.equal(problems.length, 15, JSON.stringify(problems, null, 1));
    assert.deepEqual([...byPath.keys()].sort(), [
      "alerts.webhook.secretFile",
      "anchor.contract",
      "anchor.keyFile",
      "ble.devices.0.definition",
      "devices.0.id",
      "devices.0.passwordFile",
      "devices.1.passwordFile",
      "drivers.packages.0",
      "gateway",
      "mqtt.port",
      "rules",
      "rules.thresholds.ward.spo2.low.0.limit",
      "serial.ports.0.definition",
      "tlog.signingKeyFile",
      "tlog.storageKeyFile",
    ]);
    assert.match(byPath.get("gateway")!.message, /Unrecognized key: "bogusKey"/);
    assert.match(byPath.get("devices.0.passwordFile")!.message, /missing\.pw is missing or unreadable/);
    assert.match(byPath.get("devices.1.passwordFile")!.message, /world\.pw is world-readable/);
    // relative key files resolve against the state directory even though the gateway section failed
    assert.equal(byPath.get("tlog.signingKeyFile")!.code, "KEY_FILE_MISSING");
    assert.match(byPath.get("tlog.signingKeyFile")!.message, /state\/nokey\.key does not exist/);
    assert.equal(byPath.get("tlog.storageKeyFile")!.code, "KEY_FILE_MISSING");
    assert.equal(byPath.get("anchor.keyFile")!.code, "KEY_FILE_MISSING");
    assert.match(byPath.get("anchor.keyFile")!.message, /state\/missing-ledger\.key/);
  });

  it("checks each list element and nested section on its own, and takes no default for a value it cannot read", async () => {
    const { dir, file } = setup([
      "mqtt: { port: 70000, tls: { certFile: gw.crt, keyFile: gw.key, requireClientCert: true, caFile: '' } }",
      "admin: { port: 70000, host: 0.0.0.0, tokenFile: admin.token }",
      "alerts:",
      "  consumers:",
      '    - { id: "bad id!", passwordFile: missing-station.pw }',
      "    - { id: station-2, passwordFile: world.pw }",
      "  webhook: { url: not-a-url, secretFile: missing-webhook.secret }",
      "tlog: { checkpointIntervalSec: 0 }",
      "drivers: { packages: [Not-A-Name, vitalog-not-installed] }",
      "storage: { path: '' }",
    ]);
    // the gateway's origin cannot be read: the signing key is still checked, its name is not compared
    writeFileSync(file, readFileSync(file, "utf8").replace(`origin: ${ORIGIN}`, 'origin: "Not An Origin"'));
    writeSecret(dir, "gw.crt", "not checked beyond being readable");
    chmodSync(writeSecret(dir, "gw.key", "a key"), 0o604);
    chmodSync(writeSecret(dir, "admin.token", "a".repeat(64)), 0o644);
    chmodSync(writeSecret(dir, "world.pw", "pw"), 0o644);
    const keys = join(dir, "state/keys");
    createSigningKey(join(keys, "signing.key"), "elsewhere.invalid/gw/other");
    createStorageKey(join(keys, "storage.key"));
    chmodSync(join(keys, "storage.key"), 0o644);

    const problems = await problemsOf(file);
    const byPath = new Map(problems.map((p) => [p.path, p]));
    assert.deepEqual([...byPath.keys()].sort(), [
      "admin.port",
      "admin.tokenFile",
      "alerts.consumers.0.id",
      "alerts.consumers.0.passwordFile",
      "alerts.consumers.1.passwordFile",
      "alerts.webhook.secretFile",
      "alerts.webhook.url",
      "drivers.packages.0",
      "drivers.packages.1",
      "gateway.origin",
      "mqtt.port",
      "mqtt.tls.caFile",
      "mqtt.tls.keyFile",
      "storage.path",
      "tlog.checkpointIntervalSec",
      "tlog.storageKeyFile",
    ]);
    assert.equal(problems.length, byPath.size, "one problem per path");
    assert.match(byPath.get("mqtt.tls.keyFile")!.message, /world-readable/);
    assert.match(byPath.get("admin.tokenFile")!.message, /world-readable/);
    // an unreadable caFile is its schema problem, never "required with requireClientCert"
    assert.doesNotMatch(byPath.get("mqtt.tls.caFile")!.message, /required with requireClientCert/);
    assert.match(byPath.get("alerts.consumers.0.passwordFile")!.message, /missing or unreadable/);
    assert.match(byPath.get("alerts.consumers.1.passwordFile")!.message, /world-readable/);
    assert.match(byPath.get("drivers.packages.1")!.message, /vitalog-not-installed is not installed/);
    assert.equal(byPath.get("tlog.storageKeyFile")!.code, "KEY_FILE_INSECURE");
  });

  it("requires configured key files for the daemon, not for `loadConfig` (keys init creates them)", async () => {
    const { dir, file } = setup([
      "tlog: { signingKeyFile: keys/signing.key, storageKeyFile: keys/storage.key }",
    ]);
    const problems = await problemsOf(file);
    assert.deepEqual(
      problems.map((p) => [p.path, p.code]),
      [
        ["tlog.signingKeyFile", "KEY_FILE_MISSING"],
        ["tlog.storageKeyFile", "KEY_FILE_MISSING"],
      ],
    );
    assert.match(problems[0]!.message, /vitalog keys init/);
    assert.equal(loadConfig(file).tlog.signingKeyFile, "keys/signing.key");
    const init = spawnSync(process.execPath, [MAIN, "keys", "init", "--config", file], { encoding: "utf8" });
    assert.equal(init.status, 0, init.stderr);
    assert.deepEqual(readdirSync(join(dir, "state/keys")).sort(), ["signing.key", "storage.key"]);
    const { config } = await loadGatewayConfig(file);
    assert.equal(config.gateway.origin, ORIGIN);
  });

  it("accepts absent default key files (the first start creates them), not one without the other", async () => {
    const { dir, file } = setup([]);
    await loadGatewayConfig(file);
    assert.equal(existsSync(join(dir, "state/keys")), false, "nothing was created");
    createStorageKey(join(dir, "state/keys/storage.key"));
    const problems = await problemsOf(file);
    assert.deepEqual(
      problems.map((p) => [p.path, p.code]),
      [["tlog.signingKeyFile", "KEY_FILE_MISSING"]],
    );
  });

  it("refuses a keys directory others may write, and a signing key named for another origin", async () => {
    const { dir, file } = setup([]);
    const keys = join(dir, "state/keys");
    createSigningKey(join(keys, "signing.key"), "elsewhere.invalid/gw/other");
    createStorageKey(join(keys, "storage.key"));
    const named = await problemsOf(file);
    assert.deepEqual(
      named.map((p) => [p.path, p.code]),
      [["tlog.signingKeyFile", "CONFIG_INVALID"]],
    );
    assert.match(named[0]!.message, /is named elsewhere\.invalid\/gw\/other but gateway\.origin is/);
    chmodSync(keys, 0o777);
    const open = await problemsOf(file);
    assert.deepEqual(
      open.map((p) => [p.path, p.code]),
      [["tlog.signingKeyFile", "DIRECTORY_INSECURE"]],
    );
    assert.match(open[0]!.message, /keys directory .* has mode 777/);
  });

  it("checks no ledger key while anchoring is off, and a sound one passes", async () => {
    const off = setup(["anchor: { enabled: false, keyFile: missing.key }"]);
    await loadGatewayConfig(off.file);
    const on = setup([
      "anchor:",
      "  enabled: true",
      "  rpcUrl: http://127.0.0.1:8545",
      "  chainId: 31337",
      '  contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3"',
      "  keyFile: ledger.key",
    ]);
    const key = writeLedgerKey(join(on.dir, "state"), ANVIL_KEYS[1]!);
    await loadGatewayConfig(on.file);
    chmodSync(key, 0o640);
    const problems = await problemsOf(on.file);
    assert.deepEqual(
      problems.map((p) => [p.path, p.code]),
      [["anchor.keyFile", "KEY_FILE_INSECURE"]],
    );
    assert.match(problems[0]!.message, /mode 640; chmod 600 it/);
  });
});
