/**
 * Probe off with values, on a running gateway: the README's SenML shape, vitals together with
 * `{"n":"contact","vb":false}`, published over MQTT by a provisioned device. The readings are stored flagged
 * `sensor_contact_lost`, no physiological alarm is raised from them, and the nurse station receives
 * `technical.sensor_contact_lost` while the packs keep coming [clinical.md §5.2 "Signal-quality gating"].
 * Real gateway, broker, SQLite file and station (alert-helpers.ts); the contact persistence is set to 1 s so the
 * test does not wait out the 10 s default.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type AlertTestGateway, startAlertGateway } from "./alert-helpers.js";

describe("probe off with values, over MQTT on a running gateway", () => {
  let t: AlertTestGateway;
  before(async () => {
    t = await startAlertGateway({
      rules: { technical: { sensorContact: { priority: "medium", persistenceSec: 1 } } },
    });
  });
  after(() => t.close());

  it("stores the pack's values flagged, raises no physiological alarm, and raises sensor contact lost while packs flow", async () => {
    const station = await t.station();
    const password = await t.provision("ox-7");
    const device = await t.connect("ox-7", password);
    const pack = JSON.stringify([
      { bn: "urn:dev:mac:0024befffe804ff7:", n: "spo2", u: "/", v: 0.8 },
      { n: "hr", u: "beat/min", v: 170 },
      { n: "rr", u: "1/min", v: 40 },
      { n: "contact", vb: false },
    ]);
    const isRaised = () =>
      station.events.some((m) => m.rule_id === "technical.sensor_contact_lost" && m.transition === "raise");
    let sent = 0;
    // one pack every 200 ms, as a monitor streams: stop as soon as the station has the technical alarm
    while (!isRaised() && sent < 100) {
      await device.publishAsync("vitalog/dev/ox-7/senml", pack, { qos: 1 });
      sent += 1;
      if (!isRaised()) await sleep(200);
    }
    assert.ok(isRaised(), `no sensor-contact alarm after ${sent} packs`);
    // the alarm came while the data flowed: one more pack after it is still a pack of the same stream
    await device.publishAsync("vitalog/dev/ox-7/senml", pack, { qos: 1 });
    const stored = t.gw.store.query({ deviceId: "ox-7" });
    assert.equal(stored.length, 3 * (sent + 1), "every value stored (the PUBACK follows the commit)");
    assert.ok(
      stored.every((r) => r.flags.includes("sensor_contact_lost")),
      "every value flagged",
    );
    const raise = station.events.find((m) => m.rule_id === "technical.sensor_contact_lost")!;
    assert.equal(raise.device_id, "ox-7");
    assert.equal(raise.category, "technical");
    assert.match(raise.reason, /^sensor contact lost: the device reports no contact with the patient since /);
    assert.equal(raise.observed_at_ms, null);
    assert.equal(typeof raise.raised_at_ms, "number");
    // the rules ran before each acknowledged commit: nothing physiological came from SpO2 80, HR 170, RR 40
    assert.deepEqual(
      station.events.filter((m) => m.device_id === "ox-7" && m.category === "physiological"),
      [],
    );
    const rows = t.gw.db
      .prepare("SELECT rule_id FROM alert_events WHERE device_id = ? AND category = 'physiological'")
      .all("ox-7");
    assert.deepEqual(rows, []);
  });
});
