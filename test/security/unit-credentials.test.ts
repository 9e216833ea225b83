/**
 * Config paths that name systemd credentials (`credential:NAME` → `$CREDENTIALS_DIRECTORY/NAME`), and the
 * mode checks of every secret reader against a credential as systemd writes it: root-owned 0400 with a
 * read ACL for the service user, which stat() shows as 0440, in a 0500 directory (see src/credentials.ts).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import { evmLedgerConfig } from "../../src/anchor/anchor-config.js";
import { ANVIL_KEYS } from "../../src/anchor/anvil.js";
import { readKeyFile } from "../../src/anchor/evm-ledger.js";
import { createSigningKey, createStorageKey, loadGatewayKeys } from "../../src/batcher/tlog/key-files.js";
import { parseConfig } from "../../src/config.js";
import { isSystemdCredential } from "../../src/credentials.js";
import { GatewayError } from "../../src/errors.js";
import { tempDir } from "../helpers/gateway.js";

const ORIGIN = "cred.vitalog.invalid/gw/cred-gw";
/** A uid other than ours that the credentials are granted to by ACL, as systemd grants the service user. */
const SERVICE_UID = 61184;

/** Problems of a config that must be refused. */
function problemsOf(raw: unknown, dir: string): { path: string; message: string }[] {
  try {
    parseConfig(raw, dir);
  } catch (err) {
    assert.ok(err instanceof GatewayError && err.code === "CONFIG_INVALID", String(err));
    assert.equal(err.exitCode, 78);
    return err.details as { path: string; message: string }[];
  }
  assert.fail("the config was accepted");
}

describe("secrets named as systemd credentials", () => {
  const root = tempDir("vitalog-credentials-");
  const credentials = join(root, "credentials");
  const saved = process.env.CREDENTIALS_DIRECTORY;
  after(() => {
    chmodSync(credentials, 0o700);
    rmSync(root, { recursive: true, force: true });
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.CREDENTIALS_DIRECTORY;
    else process.env.CREDENTIALS_DIRECTORY = saved;
  });

  // systemd's copies [systemd src/core/exec-credential.c write_credential(), acquire_credentials()]
  mkdirSync(credentials, { mode: 0o700 });
  const put = (name: string, text: string) => {
    const file = join(credentials, name);
    writeFileSync(file, text, { mode: 0o600 });
    chmodSync(file, 0o400);
    execFileSync("setfacl", ["-m", `u:${SERVICE_UID}:r`, file]);
  };
  put("secrets_wear-001.pw", "wear-001-password\n");
  put("secrets_nurse.pw", "nurse-password\n");
  put("secrets_webhook.key", "hmac-key\n");
  put("secrets_tls.key", "-----BEGIN PRIVATE KEY-----\n");
  put("secrets_tls.crt", "-----BEGIN CERTIFICATE-----\n");
  put("secrets_ledger.key", `${ANVIL_KEYS[1]!}\n`);
  const staging = join(root, "staging");
  createSigningKey(join(staging, "signing.key"), ORIGIN);
  createStorageKey(join(staging, "storage.key"));
  for (const k of ["signing.key", "storage.key"]) {
    put(`secrets_${k}`, execFileSync("cat", [join(staging, k)], { encoding: "utf8" }));
  }
  chmodSync(credentials, 0o500);
  execFileSync("setfacl", ["-m", `u:${SERVICE_UID}:rx`, credentials]);

  const everySecret = {
    gateway: { id: "cred-gw", origin: ORIGIN, stateDir: join(root, "state") },
    mqtt: {
      tls: { port: 8883, certFile: "credential:secrets_tls.crt", keyFile: "credential:secrets_tls.key" },
    },
    devices: [{ id: "wear-001", subject: "pt-0042", passwordFile: "credential:secrets_wear-001.pw" }],
    alerts: {
      consumers: [{ id: "nurse", passwordFile: "credential:secrets_nurse.pw" }],
      webhook: {
        url: "https://alerts.example-hospital.org/hook",
        secretFile: "credential:secrets_webhook.key",
      },
    },
    tlog: {
      signingKeyFile: "credential:secrets_signing.key",
      storageKeyFile: "credential:secrets_storage.key",
    },
    anchor: {
      enabled: true,
      rpcUrl: "http://127.0.0.1:8545",
      chainId: 31337,
      contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      keyFile: "credential:secrets_ledger.key",
    },
  };

  it("copies look as systemd leaves them: root-owned, shown as 0440, in a directory shown as 0550", () => {
    const f = statSync(join(credentials, "secrets_wear-001.pw"));
    assert.deepEqual([f.uid, f.mode & 0o777], [process.getuid!(), 0o440]);
    assert.equal(statSync(credentials).mode & 0o777, 0o550);
  });

  it("resolves credential:NAME in every secret path of every slice against $CREDENTIALS_DIRECTORY", () => {
    process.env.CREDENTIALS_DIRECTORY = credentials;
    const c = parseConfig(everySecret, root);
    const at = (name: string) => join(credentials, name);
    assert.equal(c.devices[0]!.passwordFile, at("secrets_wear-001.pw"));
    assert.equal(c.mqtt.tls!.keyFile, at("secrets_tls.key"));
    assert.equal(c.mqtt.tls!.certFile, at("secrets_tls.crt"));
    assert.equal(c.alerts.consumers[0]!.passwordFile, at("secrets_nurse.pw"));
    assert.equal(c.alerts.webhook!.secretFile, at("secrets_webhook.key"));
    assert.equal(c.tlog.signingKeyFile, at("secrets_signing.key"));
    assert.equal(c.anchor.keyFile, at("secrets_ledger.key"));
    assert.equal(evmLedgerConfig(c.anchor, c.gateway.stateDir).keyFile, at("secrets_ledger.key"));
  });

  it("loads the log's keys and the ledger key from credentials that show group read", () => {
    process.env.CREDENTIALS_DIRECTORY = credentials;
    const c = parseConfig(everySecret, root);
    const keys = loadGatewayKeys(c, { createMissing: false });
    assert.equal(keys.signer.name, ORIGIN);
    assert.equal(keys.storageKey.length, 32);
    assert.equal(readKeyFile(c.anchor.keyFile!), ANVIL_KEYS[1]);
  });

  it("still refuses a group-readable ledger key anywhere else, or when $CREDENTIALS_DIRECTORY is not where it lies", () => {
    const loose = join(root, "loose");
    mkdirSync(loose, { mode: 0o700 });
    const key = join(loose, "ledger.key");
    writeFileSync(key, `${ANVIL_KEYS[1]!}\n`, { mode: 0o440 });
    process.env.CREDENTIALS_DIRECTORY = credentials;
    assert.throws(
      () => readKeyFile(key),
      (e) => e instanceof GatewayError && e.code === "KEY_FILE_INSECURE",
    );
    delete process.env.CREDENTIALS_DIRECTORY;
    const copy = join(credentials, "secrets_ledger.key");
    assert.throws(
      () => readKeyFile(copy),
      (e) => e instanceof GatewayError && e.code === "KEY_FILE_INSECURE",
    );
  });

  it("trusts no credentials directory that its group or others may write", () => {
    const open = join(root, "open-credentials");
    mkdirSync(open, { mode: 0o700 });
    writeFileSync(join(open, "ledger.key"), `${ANVIL_KEYS[1]!}\n`, { mode: 0o440 });
    chmodSync(open, 0o770);
    assert.equal(isSystemdCredential(join(open, "ledger.key"), { CREDENTIALS_DIRECTORY: open }), false);
    assert.equal(
      isSystemdCredential(join(credentials, "secrets_ledger.key"), { CREDENTIALS_DIRECTORY: credentials }),
      true,
    );
    assert.equal(
      isSystemdCredential(join(credentials, "secrets_ledger.key"), { CREDENTIALS_DIRECTORY: "relative" }),
      false,
    );
  });

  it("lists every credential reference that names nothing, with its config path (exit 78)", () => {
    delete process.env.CREDENTIALS_DIRECTORY;
    const problems = problemsOf(everySecret, root);
    const unresolved = problems.filter((p) => /\$CREDENTIALS_DIRECTORY is not set/.test(p.message));
    assert.deepEqual(unresolved.map((p) => p.path).sort(), [
      "alerts.consumers.0.passwordFile",
      "alerts.webhook.secretFile",
      "anchor.keyFile",
      "devices.0.passwordFile",
      "mqtt.tls.certFile",
      "mqtt.tls.keyFile",
      "tlog.signingKeyFile",
      "tlog.storageKeyFile",
    ]);
    process.env.CREDENTIALS_DIRECTORY = credentials;
    const bad = problemsOf(
      {
        gateway: { id: "cred-gw", stateDir: join(root, "state") },
        devices: [
          { id: "d1", subject: "p1", passwordFile: "credential:../secrets/d1.pw" },
          { id: "d2", subject: "p2", passwordFile: "credential:" },
          { id: "d3", subject: "p3", passwordFile: "credential:secrets_absent.pw" },
        ],
      },
      root,
    );
    assert.deepEqual(
      bad.map((p) => p.path),
      ["devices.0.passwordFile", "devices.1.passwordFile", "devices.2.passwordFile"],
    );
    assert.match(bad[0]!.message, /a credential name is a file name/);
    assert.match(bad[1]!.message, /a credential name is a file name/);
    assert.match(
      bad[2]!.message,
      new RegExp(`file ${credentials}/secrets_absent\\.pw is missing or unreadable`),
    );
  });

  it("refuses device and consumer password files others may read or write, or their group may read or write", () => {
    const dir = join(root, "modes");
    mkdirSync(dir, { mode: 0o700 });
    const secret = (name: string, mode: number) => {
      const file = join(dir, name);
      writeFileSync(file, "pw\n", { mode });
      chmodSync(file, mode);
      return file;
    };
    const devices = [0o604, 0o602, 0o620, 0o640, 0o600].map((mode, i) => ({
      id: `d${i}`,
      subject: `p${i}`,
      passwordFile: secret(`d${i}.pw`, mode),
    }));
    const consumers = [0o620, 0o440].map((mode, i) => ({
      id: `c${i}`,
      passwordFile: secret(`c${i}.pw`, mode),
    }));
    // group read is a systemd credential's ACL mask: accepted there, and only there
    process.env.CREDENTIALS_DIRECTORY = credentials;
    const inCredentials = join(credentials, "c2.pw");
    writeFileSync(inCredentials, "pw\n", { mode: 0o440 });
    chmodSync(inCredentials, 0o440);
    consumers.push({ id: "c2", passwordFile: "credential:c2.pw" });
    const problems = problemsOf(
      { gateway: { id: "gw", stateDir: join(root, "state") }, devices, alerts: { consumers } },
      root,
    );
    assert.deepEqual(
      problems.map((p) => p.path),
      [
        "devices.0.passwordFile",
        "devices.1.passwordFile",
        "devices.2.passwordFile",
        "devices.3.passwordFile",
        "alerts.consumers.0.passwordFile",
        "alerts.consumers.1.passwordFile",
      ],
      "0600 passes, and 0440 only as a systemd credential",
    );
    assert.match(problems[0]!.message, /world-readable/);
    assert.match(problems[1]!.message, /mode 602: writable by its group or others/);
    assert.match(problems[2]!.message, /mode 620: writable by its group or others/);
    assert.match(problems[3]!.message, /mode 640: readable by its group/);
    assert.match(problems[4]!.message, /mode 620: writable by its group or others/);
    assert.match(problems[5]!.message, /mode 440: readable by its group/);
  });
});
