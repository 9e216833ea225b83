/**
 * Every listener has a host, loopback by default, and the plain MQTT listener can be switched off. What
 * a socket is bound to is read from the kernel (/proc/net/tcp and tcp6), not from the gateway's own word.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, createServer, connect as netConnect, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createServer as createTlsServer } from "node:tls";
import mqtt from "mqtt";
import { Gateway } from "../../src/app/gateway.js";
import { sendAlertCommand } from "../../src/cli/alert-command.js";
import { systemClock } from "../../src/clock.js";
import { type Config, type ConfigInput, parseConfig } from "../../src/config.js";
import { GatewayError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { tempDir, waitFor, writeSecret } from "../helpers/gateway.js";
import { withFreshPort } from "../helpers/ports.js";
import { makeCa, makeCert, type TestCa, type TestCert } from "./transport-certs.js";

const READING = JSON.stringify({ readings: [{ kind: "spo2", value: 97, unit: "%" }] });

/** The local addresses the kernel has a listening TCP socket on for `port`. */
function listeningAddresses(port: number): string[] {
  const found: string[] = [];
  for (const [file, family] of [
    ["/proc/net/tcp", 4],
    ["/proc/net/tcp6", 6],
  ] as const) {
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== "0A") continue; // 0A: TCP_LISTEN
      const [hex, portHex] = local.split(":");
      if (Number.parseInt(portHex!, 16) !== port) continue;
      found.push(family === 4 ? ipv4(hex!) : ipv6(hex!));
    }
  }
  return found;
}

/** /proc/net/tcp writes the address as one host-order (little-endian here) 32-bit word. */
function ipv4(hex: string): string {
  return [3, 2, 1, 0].map((i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join(".");
}

/** /proc/net/tcp6 writes four host-order 32-bit words. */
function ipv6(hex: string): string {
  const groups: string[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    const bytes = [3, 2, 1, 0].map((i) => word.slice(i * 2, i * 2 + 2)).join("");
    groups.push(bytes.slice(0, 4), bytes.slice(4, 8));
  }
  return groups.map((g) => Number.parseInt(g, 16).toString(16)).join(":");
}

function refusedConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = netConnect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve("connected");
    });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function problemsOf(raw: unknown, baseDir: string): { path: string; message: string }[] {
  try {
    parseConfig(raw, baseDir);
    return [];
  } catch (err) {
    assert.ok(err instanceof GatewayError && err.code === "CONFIG_INVALID", String(err));
    assert.equal(err.exitCode, 78);
    return err.details as { path: string; message: string }[];
  }
}

describe("listeners: loopback by default, plain MQTT can be off (real gateway, kernel's view)", () => {
  const dir = tempDir("vitalog-listeners-");
  let ca: TestCa;
  let server: TestCert;
  let stationPw: string;
  const started: Gateway[] = [];
  const stateDir = () => mkdtempSync(join(dir, "state-"));
  const start = async (input: ConfigInput): Promise<Gateway> => {
    const gw = await Gateway.start(parseConfig(input, dir), {
      log: createLogger("silent"),
      clock: systemClock,
    });
    started.push(gw);
    return gw;
  };
  const base = (state: string): ConfigInput => ({
    gateway: { id: "listen-gw", origin: "test.vitalog.invalid/gw/listen-gw", stateDir: state },
    log: { level: "silent" },
  });

  before(() => {
    ca = makeCa(dir, "listen-ca");
    server = makeCert(ca, "listen-gw", "/CN=listen-gw", "IP:127.0.0.1,DNS:localhost");
    stationPw = writeSecret(dir, "station.pw", "station-pw");
  });
  after(async () => {
    for (const gw of started) await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("binds the plain, TLS and admin listeners to loopback when no host is given", async () => {
    const state = stateDir();
    const configWith = (adminPort: number) =>
      parseConfig(
        {
          ...base(state),
          mqtt: { port: 0, tls: { port: 0, certFile: server.certFile, keyFile: server.keyFile } },
          admin: { port: adminPort },
        },
        dir,
      );
    assert.equal(configWith(1).mqtt.tls?.host, "127.0.0.1");
    // the admin HTTP cannot be asked for port 0 (that is "off"): a fresh port, retried if taken
    const gw = await withFreshPort((port) =>
      Gateway.start(configWith(port), { log: createLogger("silent"), clock: systemClock }),
    );
    started.push(gw);
    assert.deepEqual(listeningAddresses(gw.mqtt.port), ["127.0.0.1"]);
    assert.deepEqual(listeningAddresses(gw.mqtt.tlsPort!), ["127.0.0.1"]);
    assert.deepEqual(listeningAddresses(gw.adminPort), ["127.0.0.1"]);
  });

  it("binds the TLS listener where mqtt.tls.host says", async () => {
    const gw = await start({
      ...base(stateDir()),
      mqtt: {
        port: 0,
        tls: { host: "127.0.0.9", port: 0, certFile: server.certFile, keyFile: server.keyFile },
      },
      admin: { port: 0 },
    });
    assert.deepEqual(listeningAddresses(gw.mqtt.tlsPort!), ["127.0.0.9"]);
  });

  describe("with mqtt.plain: false", () => {
    let gw: Gateway;
    let config: Readonly<Config>;
    let plainPort: number;
    let devicePw: string;
    // mqtt.port names a port this test holds on loopback throughout: a gateway listening for plain MQTT
    // there could not start (EADDRINUSE), and no other test file can take the port meanwhile
    let holder: Server;
    let holderConnections = 0;

    before(async () => {
      holder = createServer((s) => {
        holderConnections++;
        s.destroy();
      });
      await new Promise<void>((r) => holder.listen(0, "127.0.0.1", () => r()));
      plainPort = (holder.address() as AddressInfo).port;
      const tls = { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.certFile };
      const state = stateDir();
      const input = (tlsPort: number): ConfigInput => ({
        ...base(state),
        mqtt: { plain: false, port: plainPort, tls: { port: tlsPort, ...tls } },
        admin: { port: 0 },
        alerts: { consumers: [{ id: "station-1", passwordFile: stationPw, canAcknowledge: true }] },
      });
      gw = await Gateway.start(parseConfig(input(0), dir), {
        log: createLogger("silent"),
        clock: systemClock,
      });
      started.push(gw);
      // the CLI's config names the TLS port the gateway bound, as an operator's would
      config = parseConfig(input(gw.mqtt.tlsPort!), dir);
      devicePw = "pw-wear-tls";
      await gw.registry.add({ id: "wear-tls", subjectId: "pt-tls", password: devicePw }, Date.now());
    });

    after(() => new Promise<void>((r) => holder.close(() => r())));

    it("listens for plain MQTT nowhere", async () => {
      assert.equal(gw.mqtt.port, 0);
      assert.deepEqual(listeningAddresses(plainPort), ["127.0.0.1"], "on mqtt.port only the test's holder");
      assert.equal(await refusedConnect(plainPort), "connected");
      // a connection to mqtt.port reaches the holder, not the gateway
      await waitFor(() => holderConnections === 1, 5000, "the holder to see the connection");
    });

    it("lets a device connect and publish over TLS", async () => {
      const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${gw.mqtt.tlsPort}`, {
        clientId: "wear-tls",
        username: "wear-tls",
        password: devicePw,
        protocolVersion: 4,
        reconnectPeriod: 0,
        ca: [ca.cert],
      });
      await c.publishAsync("vitalog/dev/wear-tls/json", READING, { qos: 1 });
      await c.endAsync();
      assert.equal(gw.store.query({ deviceId: "wear-tls" }).length, 1);
    });

    it("sends the CLI's alert command over TLS, and gets the gateway's answer", async () => {
      const reply = await sendAlertCommand(
        config,
        "ack",
        { alert_id: "no-such-alert", by: "nurse-a" },
        undefined,
      );
      assert.equal(reply.command, "ack");
      assert.equal(reply.ok, false, "an unknown alert is refused by the gateway itself");
    });

    it("refuses, in the CLI, a TLS listener whose certificate is not mqtt.tls.certFile, before sending the password", async () => {
      const other = makeCert(ca, "impostor", "/CN=listen-gw", "IP:127.0.0.1,DNS:localhost");
      let received = 0;
      const impostor = createTlsServer({ cert: other.cert, key: other.key }, (s) => {
        s.on("data", (d: Buffer) => {
          received += d.length;
        });
      });
      const port = await new Promise<number>((resolve) =>
        impostor.listen(0, "127.0.0.1", () => resolve((impostor.address() as { port: number }).port)),
      );
      try {
        const pointed = parseConfig(
          {
            ...base(stateDir()),
            mqtt: {
              plain: false,
              tls: { port, certFile: server.certFile, keyFile: server.keyFile, caFile: ca.certFile },
            },
            alerts: { consumers: [{ id: "station-1", passwordFile: stationPw, canAcknowledge: true }] },
          },
          dir,
        );
        await assert.rejects(
          sendAlertCommand(pointed, "ack", { alert_id: "a", by: "nurse-a" }, undefined),
          (err: unknown) => err instanceof GatewayError && err.code === "SINK_UNAVAILABLE",
        );
        assert.equal(received, 0, "no CONNECT (and so no password) reached the impostor");
      } finally {
        impostor.close();
      }
    });
  });

  it("gives a clear error when the CLI would need a client certificate on the only listener", async () => {
    const config = parseConfig(
      {
        ...base(stateDir()),
        mqtt: {
          plain: false,
          tls: {
            port: 8883,
            certFile: server.certFile,
            keyFile: server.keyFile,
            caFile: ca.certFile,
            requireClientCert: true,
          },
        },
        alerts: { consumers: [{ id: "station-1", passwordFile: stationPw, canAcknowledge: true }] },
      },
      dir,
    );
    await assert.rejects(
      sendAlertCommand(config, "ack", { alert_id: "a", by: "nurse-a" }, undefined),
      (err: unknown) =>
        err instanceof GatewayError &&
        err.code === "USAGE" &&
        /mqtt\.plain: true, mqtt\.host: 127\.0\.0\.1/.test(err.message),
    );
  });

  it("refuses a config that leaves configured devices or consumers no MQTT listener, exit 78", () => {
    const state = stateDir();
    const devicePw = writeSecret(dir, "wear.pw", "pw");
    const withDevice = {
      ...base(state),
      mqtt: { plain: false },
      devices: [{ id: "wear-1", subject: "pt-1", passwordFile: devicePw }],
    };
    assert.deepEqual(
      problemsOf(withDevice, dir).map((p) => p.path),
      ["mqtt.plain"],
    );
    const withConsumer = {
      ...base(state),
      mqtt: { plain: false },
      alerts: { consumers: [{ id: "station-1", passwordFile: stationPw }] },
    };
    assert.deepEqual(
      problemsOf(withConsumer, dir).map((p) => p.path),
      ["mqtt.plain"],
    );
    // BLE and serial only: no MQTT client is configured, so no listener is needed
    assert.deepEqual(problemsOf({ ...base(state), mqtt: { plain: false } }, dir), []);
  });

  it("refuses requireClientCert without a caFile of the gateway's own, and lets TLS reuse the port of a disabled plain listener", () => {
    const state = stateDir();
    const tls = { certFile: server.certFile, keyFile: server.keyFile };
    assert.deepEqual(
      problemsOf({ ...base(state), mqtt: { tls: { ...tls, requireClientCert: true } } }, dir).map(
        (p) => p.path,
      ),
      ["mqtt.tls.caFile"],
    );
    assert.deepEqual(
      problemsOf({ ...base(state), mqtt: { port: 8883, tls: { ...tls, port: 8883 } } }, dir).map(
        (p) => p.path,
      ),
      ["mqtt.tls.port"],
    );
    assert.deepEqual(
      problemsOf({ ...base(state), mqtt: { plain: false, port: 8883, tls: { ...tls, port: 8883 } } }, dir),
      [],
    );
  });

  it("refuses requireClientCert beside a plain listener beyond loopback, which would let devices in without a certificate", () => {
    const state = stateDir();
    const tls = {
      certFile: server.certFile,
      keyFile: server.keyFile,
      caFile: ca.certFile,
      requireClientCert: true,
    };
    const ward = problemsOf({ ...base(state), mqtt: { host: "0.0.0.0", tls } }, dir);
    assert.deepEqual(
      ward.map((p) => p.path),
      ["mqtt.plain"],
    );
    assert.match(ward[0]!.message, /must be false, or mqtt\.host \(0\.0\.0\.0\) a loopback address/);
    assert.deepEqual(
      problemsOf({ ...base(state), mqtt: { host: "10.1.2.3", tls } }, dir).map((p) => p.path),
      ["mqtt.plain"],
    );
    // off, or on loopback (local clients need no certificate there), is accepted
    assert.deepEqual(problemsOf({ ...base(state), mqtt: { host: "0.0.0.0", plain: false, tls } }, dir), []);
    assert.deepEqual(problemsOf({ ...base(state), mqtt: { host: "127.0.0.1", tls } }, dir), []);
    assert.deepEqual(problemsOf({ ...base(state), mqtt: { host: "::1", tls } }, dir), []);
    // without client certificates the plain listener may face the ward, as before
    assert.deepEqual(
      problemsOf(
        { ...base(state), mqtt: { host: "0.0.0.0", tls: { ...tls, requireClientCert: false } } },
        dir,
      ),
      [],
    );
  });
});

// keeps the helper honest: the kernel's table must list a socket the test itself opened
describe("listeningAddresses", () => {
  it("reads a loopback listener from the kernel's table", async () => {
    const s = createTlsServer({});
    const port = await new Promise<number>((resolve) =>
      s.listen(0, "127.0.0.5", () => resolve((s.address() as { port: number }).port)),
    );
    try {
      assert.deepEqual(listeningAddresses(port), ["127.0.0.5"]);
    } finally {
      s.close();
    }
    const v6 = createTlsServer({});
    const port6 = await new Promise<number>((resolve) =>
      v6.listen(0, "::1", () => resolve((v6.address() as { port: number }).port)),
    );
    try {
      assert.deepEqual(listeningAddresses(port6), ["0:0:0:0:0:0:0:1"]);
    } finally {
      v6.close();
    }
  });
});
