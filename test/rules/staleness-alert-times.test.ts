/**
 * Historic data and alert times, on a running gateway over MQTT: a SenML pack whose values were measured a
 * year ago is stored but raises no live alarm; a live one raises, and its alert message says when the value was
 * measured (`observed_at_ms`) and when the alert was raised (`raised_at_ms`), on the MQTT events topic and in
 * the HL7 PCD-04 message built from it (OBR-7 raised, OBX-14 of the source facet measured). The staleness
 * horizon is the default: 300 s back, 120 s ahead (local engineering choice, to be reviewed).
 * Real gateway, broker, SQLite file and station (alert-helpers.ts); the SpO2 HIGH tier alarms and clears without
 * a delay, and alerts end without a clear hold, so the test waits out none of them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { encodeOruR40, hl7Time } from "../../src/rules/sinks/hl7-oru-r40.js";
import { waitFor } from "../helpers/gateway.js";
import { type AlertTestGateway, startAlertGateway } from "./alert-helpers.js";
import { hl7Field } from "./receivers.js";

const YEAR_SEC = 365 * 86_400;

/** A SenML pack of one SpO2 value measured at POSIX second `bt`, sensor in contact. */
const spo2Pack = (ratio: number, bt: number) =>
  JSON.stringify([
    { bn: "urn:dev:mac:0024befffe804ff9:", bt, n: "spo2", u: "/", v: ratio },
    { n: "contact", vb: true },
  ]);

describe("historic data and alert times, over MQTT on a running gateway", () => {
  let t: AlertTestGateway;
  before(async () => {
    t = await startAlertGateway({
      rules: {
        thresholds: {
          ward: { spo2: { low: [{ limit: 85, priority: "high", persistenceSec: 0 }], clearSec: 0 } },
        },
        alarms: { clearHoldSec: 0 },
      },
    });
  });
  after(() => t.close());

  it("stores a SpO2 of 80 % measured a year ago without a live alarm; a value measured 20 s ago alarms and says when it was measured", async () => {
    const station = await t.station();
    const password = await t.provision("ox-9");
    const device = await t.connect("ox-9", password);
    const nowSec = Math.floor(Date.now() / 1000);
    await device.publishAsync("vitalog/dev/ox-9/senml", spo2Pack(0.8, nowSec - YEAR_SEC), { qos: 1 });
    // acknowledged means committed, and the rules ran before the commit
    const [historic] = t.gw.store.query({ deviceId: "ox-9" });
    assert.equal(historic?.observedAtMs, (nowSec - YEAR_SEC) * 1000);
    assert.equal(historic?.value, 80);
    assert.deepEqual(t.gw.db.prepare("SELECT rule_id FROM alert_events WHERE device_id = ?").all("ox-9"), []);
    assert.deepEqual(
      station.events.filter((m) => m.device_id === "ox-9"),
      [],
    );

    const measuredSec = Math.floor(Date.now() / 1000) - 20;
    await device.publishAsync("vitalog/dev/ox-9/senml", spo2Pack(0.8, measuredSec), { qos: 1 });
    const raise = await station.next((m) => m.device_id === "ox-9" && m.transition === "raise");
    assert.equal(raise.rule_id, "threshold.spo2.low");
    assert.equal(raise.priority, "high");
    assert.equal(
      raise.observed_at_ms,
      measuredSec * 1000,
      "the measurement time of the value that raised it",
    );
    assert.ok(
      raise.raised_at_ms >= measuredSec * 1000 + 20_000,
      "raised when it arrived, after it was measured",
    );
    assert.equal(raise.at_ms, raise.raised_at_ms);

    const oru = encodeOruR40(
      raise,
      "ctl-1",
      {
        sendingApplication: "VITALOG",
        sendingFacility: "WARD7",
        receivingApplication: "AM",
        receivingFacility: "HOSP",
        processingId: "P",
        patientIdAuthority: "HOSP",
        pointOfCare: "WARD7^^BED12",
        gatewayId: "test-gw",
      },
      raise.at_ms,
    );
    assert.equal(hl7Field(oru, "OBR", 7), hl7Time(raise.raised_at_ms));
    const source = oru
      .split("\r")
      .find((s) => s.startsWith("OBX|2|"))!
      .split("|");
    assert.equal(source[14], hl7Time(measuredSec * 1000), "OBX-14 of the source facet: when it was measured");
  });

  it("keeps the measurement time of the value that raised the alert through its later transitions and in the stored snapshot", async () => {
    const station = await t.station();
    const password = await t.provision("ox-10");
    const device = await t.connect("ox-10", password);
    const measuredSec = Math.floor(Date.now() / 1000) - 5;
    await device.publishAsync("vitalog/dev/ox-10/senml", spo2Pack(0.8, measuredSec), { qos: 1 });
    const raise = await station.next((m) => m.device_id === "ox-10" && m.transition === "raise");
    // back to normal: with no clear hold the HIGH alert latches at once, until someone acknowledges it
    await device.publishAsync("vitalog/dev/ox-10/senml", spo2Pack(0.97, measuredSec + 4), { qos: 1 });
    const latch = await station.next((m) => m.alert_id === raise.alert_id && m.transition === "latch");
    assert.equal(latch.observed_at_ms, measuredSec * 1000, "still the value that raised it");
    assert.equal(latch.raised_at_ms, raise.raised_at_ms);
    assert.ok(latch.at_ms >= raise.at_ms);
    const snapshot = () =>
      t.gw.db.prepare("SELECT state, snapshot FROM alerts WHERE alert_id = ?").get(raise.alert_id) as
        | { state: string; snapshot: string }
        | undefined;
    await waitFor(() => snapshot()?.state === "latched", 10_000, "latched snapshot committed");
    assert.equal(JSON.parse(snapshot()!.snapshot).observed_at_ms, measuredSec * 1000);
  });
});
