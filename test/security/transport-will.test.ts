/**
 * Will messages ([MQTT 3.1.1 §3.1.2.5]) are never stored: a device whose connection drops cannot get a
 * reading ingested through its will, on its own data topic or anywhere else. Real gateway, real
 * mqtt.js client whose socket is destroyed without a DISCONNECT.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestGateway, type TestGateway, waitFor } from "../helpers/gateway.js";

const reading = (value: number) => JSON.stringify({ readings: [{ kind: "spo2", value, unit: "%" }] });

describe("wills are dropped at CONNECT (real gateway)", () => {
  let t: TestGateway;
  let password: string;
  const refusals = (reason: string) => t.gw.metrics.value("vitalog_mqtt_refusals_total", { reason });
  const clients = () => t.gw.metrics.value("vitalog_mqtt_clients");

  before(async () => {
    t = await startTestGateway();
    password = await t.provision("wear-will");
  });
  after(() => t.close());

  it("stores no reading from a will on the device's own data topic when its socket drops", async () => {
    const before = refusals("will_dropped");
    const c = await t.connect("wear-will", password, {
      will: { topic: "vitalog/dev/wear-will/json", payload: Buffer.from(reading(91)), qos: 1, retain: false },
    });
    assert.equal(refusals("will_dropped"), before + 1, "counted at CONNECT");
    // no DISCONNECT: the connection just ends, as when a device loses power or network
    c.stream.destroy();
    // aedes hands a stored will to authorizePublish (which ingests synchronously) before it unregisters the
    // client, so once the client count is back to 0 a will would already be on its way to the commit
    await waitFor(() => clients() === 0, 5000, "the gateway to see the connection end");
    const again = await t.connect("wear-will", password);
    await again.publishAsync("vitalog/dev/wear-will/json", reading(97), { qos: 1 });
    await again.endAsync();
    // the PUBACK followed the commit of the real reading, which a will reading would have preceded
    const stored = t.gw.store.query({ deviceId: "wear-will" });
    assert.deepEqual(
      stored.map((r) => r.value),
      [97],
    );
  });

  it("lets a device whose firmware always sets a will connect and publish", async () => {
    // the device may have stored readings in an earlier test: this one asserts what it adds
    const stored = () => t.gw.store.query({ deviceId: "wear-will" }).map((r) => r.value);
    const before = stored().length;
    const c = await t.connect("wear-will", password, {
      will: { topic: "vitalog/dev/wear-will/status", payload: Buffer.from("offline"), qos: 0, retain: true },
    });
    await c.publishAsync("vitalog/dev/wear-will/json", reading(95), { qos: 1 });
    await c.endAsync();
    assert.equal(stored().length, before + 1);
    assert.deepEqual(
      stored().filter((v) => v === 95),
      [95],
    );
  });
});
