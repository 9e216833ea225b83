/**
 * Client certificates tied to identities: with `mqtt.tls.requireClientCert`, the real gateway's TLS
 * listener accepts a device or an alert consumer only when its certificate's subject CN is the username
 * it authenticates as, and every handshake it ends (no certificate, an untrusted one, too slow, not TLS) is
 * a counted refusal. Certificates are made by openssl for each run (transport-certs.ts).
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import mqtt, { type MqttClient } from "mqtt";
import { startTestGateway, type TestGateway, tempDir, waitFor, writeSecret } from "../helpers/gateway.js";
import { connectPacket } from "./connect-storm.js";
import { makeCa, makeCert, type TestCa, type TestCert } from "./transport-certs.js";

const READING = JSON.stringify({ readings: [{ kind: "spo2", value: 96, unit: "%" }] });

describe("client certificates name the device or consumer (real gateway, TLS on loopback)", () => {
  const certs = tempDir("vitalog-certs-");
  const otherCerts = tempDir("vitalog-other-ca-");
  let t: TestGateway;
  let ca: TestCa;
  let wear1: TestCert;
  let twoNames: TestCert;
  let station: TestCert;
  let stranger: TestCert;
  let pw1: string;
  let pw2: string;
  const clients: MqttClient[] = [];
  const refusals = (reason: string) => t.gw.metrics.value("vitalog_mqtt_refusals_total", { reason });

  /** Connects over TLS with `cert`; resolves with the client, or the CONNACK code / TLS error it met. */
  const connectTls = async (
    username: string,
    password: string,
    cert: TestCert,
    clientId = username,
  ): Promise<{ client?: MqttClient; code?: number; error?: string }> => {
    try {
      const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${t.gw.mqtt.tlsPort}`, {
        clientId,
        username,
        password,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        ca: [ca.cert],
        cert: cert.cert,
        key: cert.key,
      });
      clients.push(client);
      return { client };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return typeof code === "number" ? { code } : { error: (err as Error).message };
    }
  };

  before(async () => {
    ca = makeCa(certs, "vitalog-test-ca");
    const server = makeCert(ca, "gateway", "/CN=vitalog-test-gw", "IP:127.0.0.1,DNS:localhost");
    wear1 = makeCert(ca, "wear-001", "/CN=wear-001");
    twoNames = makeCert(ca, "two-names", "/CN=wear-001/CN=wear-002");
    station = makeCert(ca, "station-1", "/CN=station-1");
    // the same name from a CA the gateway does not trust
    stranger = makeCert(makeCa(otherCerts, "other-ca"), "wear-001-other", "/CN=wear-001");
    t = await startTestGateway({
      mqtt: {
        // the TLS handshake's deadline too: short, for the test of a client that never starts one
        connectTimeoutMs: 1500,
        tls: {
          port: 0,
          certFile: server.certFile,
          keyFile: server.keyFile,
          caFile: ca.certFile,
          requireClientCert: true,
        },
      },
      alerts: {
        consumers: [
          {
            id: "station-1",
            passwordFile: writeSecret(certs, "station.pw", "station-pw"),
            canAcknowledge: true,
          },
        ],
      },
    });
    pw1 = await t.provision("wear-001");
    pw2 = await t.provision("wear-002");
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    await t.close();
    rmSync(certs, { recursive: true, force: true });
    rmSync(otherCerts, { recursive: true, force: true });
  });

  it("accepts a device whose certificate CN is its id, and stores what it publishes", async () => {
    const r = await connectTls("wear-001", pw1, wear1);
    assert.ok(r.client, `connected (${r.code ?? r.error})`);
    await r.client.publishAsync("vitalog/dev/wear-001/json", READING, { qos: 1 });
    assert.equal(t.gw.store.rejections("wear-001").length, 0);
    assert.equal(t.gw.store.query({ deviceId: "wear-001" }).length, 1);
    await r.client.endAsync();
  });

  it("refuses another device's id and password presented with wear-001's certificate, counted", async () => {
    const before = refusals("certificate_identity_mismatch");
    const r = await connectTls("wear-002", pw2, wear1);
    assert.equal(r.code, 5, "CONNACK 5 (not authorized)");
    assert.equal(refusals("certificate_identity_mismatch"), before + 1);
    assert.equal(refusals("bad_password"), 0, "the password was never looked at");
    assert.equal(t.gw.store.query({ deviceId: "wear-002" }).length, 0);
  });

  it("refuses a certificate with two subject CNs, even for the first of them", async () => {
    const before = refusals("certificate_identity_mismatch");
    assert.equal((await connectTls("wear-001", pw1, twoNames)).code, 5);
    assert.equal((await connectTls("wear-002", pw2, twoNames)).code, 5);
    assert.equal(refusals("certificate_identity_mismatch"), before + 2);
  });

  it("ends the connection of a certificate from a CA other than mqtt.tls.caFile before any CONNACK, counted as certificate_untrusted", async () => {
    const before = refusals("certificate_untrusted");
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: t.gw.mqtt.tlsPort!,
      ca: [ca.cert],
      cert: stranger.cert,
      key: stranger.key,
    });
    let received = 0;
    socket.on("data", (d: Buffer) => {
      received += d.length;
    });
    socket.on("error", () => {});
    // [RFC 8446 §4.4.2] in TLS 1.3 the client's certificate is judged after the client's handshake ends:
    // the CONNECT goes out, and the server's alert and close come back instead of a CONNACK
    socket.once("secureConnect", () =>
      socket.write(connectPacket({ clientId: "wear-001", username: "wear-001", password: pw1 })),
    );
    await new Promise((resolve) => socket.once("close", resolve));
    assert.equal(received, 0, "nothing but the TLS alert came back");
    assert.equal(t.gw.store.query({ deviceId: "wear-001" }).length, 1, "only the reading of the first test");
    await waitFor(
      () => refusals("certificate_untrusted") === before + 1,
      5000,
      "certificate_untrusted counted",
    );
  });

  /** Resolves once the gateway has closed `socket` (or it closed itself). */
  const closed = (socket: Socket) =>
    new Promise<void>((resolve) => {
      socket.on("error", () => {});
      if (socket.destroyed) resolve();
      else socket.once("close", () => resolve());
    });

  it("ends a TLS handshake that presents no client certificate, counted as certificate_missing", async () => {
    const before = refusals("certificate_missing");
    const socket = tlsConnect({ host: "127.0.0.1", port: t.gw.mqtt.tlsPort!, ca: [ca.cert] });
    let received = 0;
    socket.on("data", (d: Buffer) => {
      received += d.length;
    });
    socket.once("secureConnect", () =>
      socket.write(connectPacket({ clientId: "wear-001", username: "wear-001", password: pw1 })),
    );
    await closed(socket);
    assert.equal(received, 0, "no CONNACK");
    await waitFor(() => refusals("certificate_missing") === before + 1, 5000, "certificate_missing counted");
  });

  it("ends a connection that starts no TLS handshake within connectTimeoutMs, counted as tls_handshake_timeout", async () => {
    const before = refusals("tls_handshake_timeout");
    const socket = netConnect({ host: "127.0.0.1", port: t.gw.mqtt.tlsPort! });
    await closed(socket);
    await waitFor(
      () => refusals("tls_handshake_timeout") === before + 1,
      5000,
      "tls_handshake_timeout counted",
    );
  });

  it("ends a connection that does not speak TLS, counted as tls_handshake_failed", async () => {
    const before = refusals("tls_handshake_failed");
    const socket = netConnect({ host: "127.0.0.1", port: t.gw.mqtt.tlsPort! }, () =>
      socket.write(connectPacket({ clientId: "wear-001", username: "wear-001", password: pw1 })),
    );
    await closed(socket);
    await waitFor(
      () => refusals("tls_handshake_failed") === before + 1,
      5000,
      "tls_handshake_failed counted",
    );
  });

  it("counts a client that refuses the gateway's certificate and leaves as tls_handshake_aborted", async () => {
    const before = refusals("tls_handshake_aborted");
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: t.gw.mqtt.tlsPort!,
      // the client trusts nothing the gateway presents: it ends the handshake itself
      ca: [stranger.cert],
      cert: wear1.cert,
      key: wear1.key,
    });
    await closed(socket);
    await waitFor(
      () => refusals("tls_handshake_aborted") === before + 1,
      5000,
      "tls_handshake_aborted counted",
    );
  });

  it("lets a device on the loopback plain listener in without a certificate (plain stays on loopback)", async () => {
    const c = await t.connect("wear-001", pw1);
    await c.publishAsync("vitalog/dev/wear-001/json", READING, { qos: 1 });
    await c.endAsync();
    assert.equal(t.gw.store.query({ deviceId: "wear-001" }).length, 2);
  });

  it("accepts an alert consumer whose certificate CN is its id, for each of its clients", async () => {
    const r = await connectTls("station-1", "station-pw", station, "station-1/screen-a");
    assert.ok(r.client, `connected (${r.code ?? r.error})`);
    await r.client.subscribeAsync("vitalog/alerts/events", { qos: 1 });
    await r.client.endAsync();
  });

  it("refuses an alert consumer presenting a device's certificate, and a device presenting the consumer's", async () => {
    const before = refusals("certificate_identity_mismatch");
    assert.equal((await connectTls("station-1", "station-pw", wear1, "station-1/screen-b")).code, 5);
    assert.equal((await connectTls("wear-001", pw1, station)).code, 5);
    await waitFor(() => refusals("certificate_identity_mismatch") === before + 2);
  });
});
