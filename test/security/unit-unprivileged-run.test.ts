/**
 * The shipped unit's ExecStart= run the way systemd runs it, on a machine whose PID 1 is not systemd: as an
 * unprivileged user of the DynamicUser= range (setpriv: no supplementary groups, no capabilities, no new
 * privileges, the unit's UMask=), with the unit's Environment=, and with the secrets as systemd hands them
 * over (LoadCredential=): read-only copies in $CREDENTIALS_DIRECTORY of root-owned 0600 originals that the
 * user itself cannot read. Both ways systemd grants access are run: an ACL entry (root-owned 0400, shown
 * as 0440) and, on file systems without ACLs, ownership.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import mqtt from "mqtt";
import { createSigningKey, createStorageKey } from "../../src/batcher/tlog/key-files.js";
import { readyPorts, waitExit } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";
import {
  type CredentialAccess,
  dynamicUid,
  loadCredentials,
  unitCommand,
  unitEnvironment,
  unitValue,
  unmount,
} from "./unit-systemd.js";

const isRoot = process.getuid?.() === 0;
const ORIGIN = "unit.vitalog.invalid/gw/unit-gw";
const DEVICE = "wear-001";
const DEVICE_PASSWORD = "wear-001-credential-password";
const CONSUMER = "nurse-station";
const CONSUMER_PASSWORD = "nurse-station-credential-password";

describe("the systemd unit run as its unprivileged user", {
  // under CI (which runs as root) a missing privilege must fail, never skip
  skip: !isRoot && !process.env.CI && "setpriv to another uid needs root",
}, () => {
  const uid = isRoot ? dynamicUid() : -1;
  const root = tempDir("vitalog-unit-");
  const secrets = join(root, "etc/secrets");
  const mounts: string[] = [];
  const children: ChildProcess[] = [];

  before(() => {
    // as /opt/vitalog is in production, the app must be readable by the service user
    const main = unitCommand(uid, "-").args.find((a) => a.endsWith("/dist/src/main.js"))!;
    const canRead = spawnSync("setpriv", [
      `--reuid=${uid}`,
      `--regid=${uid}`,
      "--clear-groups",
      "test",
      "-r",
      main,
    ]);
    assert.equal(
      canRead.status,
      0,
      `${main} must be readable by an unprivileged user: clone outside a 0700 home`,
    );
    // the path down to the credentials, state and config is traversable by the user, as /run, /var/lib and /etc are
    chmodSync(root, 0o755);
    mkdirSync(join(root, "etc"), { mode: 0o755 });
    // the originals: root-owned 0600 files in a root-owned 0700 directory, as the unit's header asks
    mkdirSync(secrets, { mode: 0o700 });
    writeFileSync(join(secrets, `${DEVICE}.pw`), `${DEVICE_PASSWORD}\n`, { mode: 0o600 });
    writeFileSync(join(secrets, `${CONSUMER}.pw`), `${CONSUMER_PASSWORD}\n`, { mode: 0o600 });
    createSigningKey(join(secrets, "signing.key"), ORIGIN);
    createStorageKey(join(secrets, "storage.key"));
    for (const f of readdirSync(secrets)) assert.equal(statSync(join(secrets, f)).mode & 0o777, 0o600, f);
  });

  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const m of mounts) unmount(m);
    rmSync(root, { recursive: true, force: true });
  });

  /** A fresh state directory as StateDirectory= makes it (owned by the user, StateDirectoryMode=). */
  function stateDir(name: string): string {
    const dir = join(root, "state", name);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(join(root, "state"), 0o755);
    chownSync(dir, uid, uid);
    chmodSync(dir, Number.parseInt(unitValue("StateDirectoryMode"), 8));
    return dir;
  }

  /** The config file (root-owned 0644, as in /etc/vitalog); `secret(name)` is how it names each secret. */
  function writeConfig(name: string, state: string, secret: (file: string) => string): string {
    const file = join(root, "etc", `${name}.yaml`);
    writeFileSync(
      file,
      [
        `gateway: { id: unit-gw, origin: ${ORIGIN}, stateDir: ${state} }`,
        // port 0: the gateway's "ready" line names the port it bound
        "mqtt: { port: 0 }",
        "admin: { port: 0 }",
        "log: { level: info }",
        `tlog: { signingKeyFile: "${secret("signing.key")}", storageKeyFile: "${secret("storage.key")}" }`,
        "devices:",
        `  - { id: ${DEVICE}, subject: pt-0042, passwordFile: "${secret(`${DEVICE}.pw`)}" }`,
        "alerts:",
        `  consumers: [{ id: ${CONSUMER}, passwordFile: "${secret(`${CONSUMER}.pw`)}" }]`,
      ].join("\n"),
      { mode: 0o644 },
    );
    return file;
  }

  /** Starts the unit's ExecStart=; resolves with its output once it logs "ready", or once it exits. */
  function start(configFile: string, env: Record<string, string>) {
    const { file, args } = unitCommand(uid, configFile);
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env: unitEnvironment(env) });
    children.push(child);
    let out = "";
    let stdout = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    return new Promise<{ child: ChildProcess; isReady: boolean; mqttPort: number; output: () => string }>(
      (res) => {
        child.stdout!.on("data", (d: Buffer) => {
          stdout += d.toString();
          const ports = readyPorts(stdout.slice(0, stdout.lastIndexOf("\n") + 1));
          if (ports) res({ child, isReady: true, mqttPort: ports.mqttPort, output: () => out });
        });
        child.once("exit", () => res({ child, isReady: false, mqttPort: 0, output: () => out }));
      },
    );
  }

  for (const access of ["acl", "ownership"] as CredentialAccess[]) {
    it(`starts from its credentials (${access}), lets the device in with its password, and stops cleanly`, async () => {
      const credentials = join(root, `run-${access}/credentials/vitalog.service`);
      mkdirSync(join(root, `run-${access}/credentials`), { recursive: true, mode: 0o755 });
      chmodSync(join(root, `run-${access}`), 0o755);
      mounts.push(credentials);
      const names = loadCredentials({ id: "secrets", sourceDir: secrets, dir: credentials, uid, access });
      assert.deepEqual(names, [
        "secrets_nurse-station.pw",
        "secrets_signing.key",
        "secrets_storage.key",
        "secrets_wear-001.pw",
      ]);
      const copy = statSync(join(credentials, `secrets_${DEVICE}.pw`));
      if (access === "acl")
        assert.deepEqual([copy.uid, copy.mode & 0o777], [0, 0o440], "root-owned, ACL mask");
      else assert.deepEqual([copy.uid, copy.mode & 0o777], [uid, 0o400], "owned by the service user");

      const state = stateDir(access);
      const config = writeConfig(access, state, (f) => `credential:secrets_${f}`);
      const run = await start(config, { CREDENTIALS_DIRECTORY: credentials, STATE_DIRECTORY: state });
      assert.ok(run.isReady, `the gateway did not start:\n${run.output()}`);

      const url = `mqtt://127.0.0.1:${run.mqttPort}`;
      const options = { protocolVersion: 4 as const, reconnectPeriod: 0, connectTimeout: 10_000 };
      await assert.rejects(
        mqtt.connectAsync(url, {
          ...options,
          clientId: DEVICE,
          username: DEVICE,
          password: "not-its-password",
        }),
        "a wrong password is refused",
      );
      const device = await mqtt.connectAsync(url, {
        ...options,
        clientId: DEVICE,
        username: DEVICE,
        password: DEVICE_PASSWORD,
      });
      // PUBACK follows the commit: the user wrote the database it created in its state directory
      await device.publishAsync(`vitalog/dev/${DEVICE}/senml`, '[{"n":"hr","u":"beat/min","v":72}]', {
        qos: 1,
      });
      await device.endAsync();
      const consumer = await mqtt.connectAsync(url, {
        ...options,
        clientId: CONSUMER,
        username: CONSUMER,
        password: CONSUMER_PASSWORD,
      });
      await consumer.endAsync();

      run.child.kill("SIGTERM");
      assert.deepEqual(await waitExit(run.child), { code: 0, signal: null }, run.output());
      const db = statSync(join(state, "vitalog.db"));
      assert.deepEqual([db.uid, db.mode & 0o777], [uid, 0o600], "the database is the service user's, 0600");
    });
  }

  it("without LoadCredential=, cannot read the root-owned originals and exits 78 naming them", async () => {
    const state = stateDir("originals");
    const config = writeConfig("originals", state, (f) => join(secrets, f));
    const run = await start(config, { STATE_DIRECTORY: state });
    assert.equal(run.isReady, false, "the gateway must not start");
    assert.deepEqual(await waitExit(run.child), { code: 78, signal: null }, run.output());
    assert.match(
      run.output(),
      new RegExp(`devices\\.0\\.passwordFile: file ${secrets}/${DEVICE}\\.pw is missing or unreadable`),
    );
  });

  it("refuses a credential reference when systemd set no $CREDENTIALS_DIRECTORY (exit 78)", async () => {
    const state = stateDir("no-credentials");
    const config = writeConfig("no-credentials", state, (f) => `credential:secrets_${f}`);
    const run = await start(config, { STATE_DIRECTORY: state });
    assert.equal(run.isReady, false, "the gateway must not start");
    assert.deepEqual(await waitExit(run.child), { code: 78, signal: null }, run.output());
    assert.match(
      run.output(),
      /devices\.0\.passwordFile: credential:secrets_wear-001\.pw names a systemd credential, but \$CREDENTIALS_DIRECTORY is not set/,
    );
  });
});
