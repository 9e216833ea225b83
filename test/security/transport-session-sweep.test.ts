/**
 * The periodic session check runs on the gateway's injected clock: a device removed behind the control
 * socket's back (no word to the daemon) loses its live session at the first check after the change, every
 * 5 s of that clock. Real gateway, real broker on loopback, a ManualClock.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MqttClient } from "mqtt";
import { ManualClock } from "../../src/clock.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

const SWEEP_MS = 5000;

describe("periodic session check on the injected clock", () => {
  const clock = new ManualClock();
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway({}, clock);
  });
  after(async () => {
    await t.close();
  });

  const revoked = () => t.gw.metrics.sum("vitalog_mqtt_sessions_revoked_total");

  it("closes the session of a device removed without word to the daemon at the next 5 s check, not before", async () => {
    const password = await t.provision("wear-sweep");
    const client: MqttClient = await t.connect("wear-sweep", password);
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    // the registry changes, the transport is not told (as a direct database edit or another host's CLI)
    assert.equal(await t.gw.registry.remove("wear-sweep", clock.now()), true);
    const before = revoked();
    // the first check is due 5 s after start; the clock has not moved since
    clock.advance(SWEEP_MS - 1);
    assert.equal(revoked(), before, "no check before its time");
    assert.equal(client.connected, true);
    clock.advance(1);
    assert.equal(revoked(), before + 1, "the check closed it");
    await closed;
    // and it keeps checking every 5 s
    const second = await t.provision("wear-sweep-2");
    await t.connect("wear-sweep-2", second);
    await t.gw.registry.remove("wear-sweep-2", clock.now());
    clock.advance(SWEEP_MS);
    assert.equal(revoked(), before + 2);
  });
});
