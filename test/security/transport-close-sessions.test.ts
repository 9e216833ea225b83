/**
 * `MqttTransport.closeDeviceSessions(deviceId, reason)`: the live connection of a device is closed at
 * once, the frames it holds are not acknowledged (the device keeps them), and the close is counted by
 * reason. Real gateway, real mqtt.js clients.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestGateway, type TestGateway, waitFor } from "../helpers/gateway.js";

const reading = (value: number) => JSON.stringify({ readings: [{ kind: "spo2", value, unit: "%" }] });

describe("closing a device's live sessions (real gateway)", () => {
  let t: TestGateway;
  let pwRevoked: string;
  let pwBystander: string;
  const m = () => t.gw.metrics;
  const refusals = (reason: string) => m().value("vitalog_mqtt_refusals_total", { reason });

  before(async () => {
    // one frame a second: the second and third frames of a burst are held, unacknowledged
    t = await startTestGateway({
      ingest: {
        limits: { device: { messagesPerSec: 1, messagesBurst: 1, readingsPerSec: 100, readingsBurst: 100 } },
      },
    });
    pwRevoked = await t.provision("wear-revoked");
    pwBystander = await t.provision("wear-bystander");
  });
  after(() => t.close());

  it("closes the device's connection, withholds what it held, counts the reason, and leaves other devices connected", async () => {
    const revoked = await t.connect("wear-revoked", pwRevoked);
    const bystander = await t.connect("wear-bystander", pwBystander);
    const isClosed = new Promise<void>((resolve) => revoked.stream.once("close", () => resolve()));
    await revoked.publishAsync("vitalog/dev/wear-revoked/json", reading(90), { qos: 1 });
    const heldBefore = m().sum("vitalog_mqtt_frames_held_total");
    const acked: number[] = [];
    for (const v of [91, 92]) {
      revoked.publish("vitalog/dev/wear-revoked/json", reading(v), { qos: 1 }, (err) => {
        if (!err) acked.push(v);
      });
    }
    await waitFor(
      () => m().sum("vitalog_mqtt_frames_held_total") === heldBefore + 2,
      5000,
      "two frames held",
    );
    const withheldBefore = m().value("vitalog_mqtt_ack_withheld_total", { reason: "disconnected", qos: "1" });

    assert.equal(t.gw.mqtt.closeDeviceSessions("wear-revoked", "device_revoked"), 1);

    await isClosed;
    assert.equal(refusals("device_revoked"), 1);
    assert.equal(
      m().value("vitalog_mqtt_ack_withheld_total", { reason: "disconnected", qos: "1" }),
      withheldBefore + 2,
      "both held frames withheld",
    );
    // a commit of another device's frame is the barrier: anything of the revoked device's would precede it
    await bystander.publishAsync("vitalog/dev/wear-bystander/json", reading(96), { qos: 1 });
    assert.ok(bystander.connected);
    assert.deepEqual(
      t.gw.store.query({ deviceId: "wear-revoked" }).map((r) => r.value),
      [90],
    );
    assert.deepEqual(acked, [], "no PUBACK for the held frames");
    assert.equal(t.gw.mqtt.closeDeviceSessions("wear-revoked", "device_revoked"), 0, "nothing left to close");
    await bystander.endAsync();
  });

  it("closes nothing for a device without a live connection, and still lets it reconnect later", async () => {
    assert.equal(t.gw.mqtt.closeDeviceSessions("wear-nobody", "device_revoked"), 0);
    const again = await t.connect("wear-revoked", pwRevoked);
    assert.ok(again.connected, "closing sessions is not removing the device: the registry decides that");
    await again.endAsync();
  });

  it("refuses a reason that is not a bounded snake_case wire string", () => {
    assert.throws(() => t.gw.mqtt.closeDeviceSessions("wear-revoked", "Device Revoked"), TypeError);
    assert.throws(() => t.gw.mqtt.closeDeviceSessions("wear-revoked", "x".repeat(65)), TypeError);
  });
});
