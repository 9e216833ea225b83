/**
 * Signal-quality gating through the real ingest path [clinical.md §5.2 "Signal-quality gating"; §1.3, §1.6]:
 * a contact or quality status applies to every reading of its frame and a lost contact to the device's later
 * readings until contact is restored; those readings are stored flagged and the physiological rules ignore them,
 * while a technical alarm says so as the data flows, with a text that is true for as long as the alert stands.
 * Real Ingest, commit thread, SQLite file, payload decoder, GATT decoders and rule engine (ingest-pipeline.ts),
 * default rules: sensor contact lost and signal quality after 10 s, MEDIUM; SpO2 < 85 % HIGH after 5 s.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeHeartRateMeasurement } from "../../src/drivers/profiles/encode-heart-rate-measurement.js";
import { encodePlxContinuousMeasurement } from "../../src/drivers/profiles/encode-plx.js";
import { decodeHeartRateMeasurement } from "../../src/drivers/profiles/gatt-heart-rate-measurement.js";
import { decodePlxContinuousMeasurement } from "../../src/drivers/profiles/gatt-plx-continuous-measurement.js";
import type { AlertEvent } from "../../src/rules/alert-event.js";
import { type Pipeline, pipeline, T0 } from "./ingest-pipeline.js";

/** The README's SenML shape: vitals with the contact record last. */
function senmlPack(spo2Ratio: number, contact?: boolean): unknown[] {
  const pack: Record<string, unknown>[] = [
    { bn: "urn:dev:mac:0024befffe804ff1:", n: "spo2", u: "/", v: spo2Ratio },
    { n: "hr", u: "beat/min", v: 72 },
  ];
  if (contact !== undefined) pack.push({ n: "contact", vb: contact });
  return pack;
}

const physiological = (p: Pipeline) => p.events.filter((e) => e.category === "physiological");
const ofRule = (p: Pipeline, ruleId: string) => p.events.filter((e) => e.rule_id === ruleId);
const ctx = () => ({ nowMs: Date.now() });

/** The texts a still-active alert showed, for every transition but its resolve. */
function textsWhileActive(events: readonly AlertEvent[]): string[] {
  return events.filter((e) => e.transition !== "resolve").map((e) => e.reason);
}

describe("signal-quality gating through ingest", () => {
  it("stores every reading of a SenML pack with contact false flagged sensor_contact_lost and raises no physiological alarm, whatever the record order", async () => {
    const p = pipeline();
    try {
      await p.run(20, () => p.mqtt("ox-1", "senml", senmlPack(0.8, false)));
      const stored = p.stored("ox-1");
      assert.equal(stored.length, 40);
      assert.ok(
        stored.every((r) => r.flags.includes("sensor_contact_lost")),
        "every reading flagged",
      );
      assert.deepEqual(physiological(p), [], "SpO2 80 % with the probe off is no patient value");
    } finally {
      await p.close();
    }
  });

  it("raises sensor contact lost while the data flows, after the 10 s persistence, with a text that says lost", async () => {
    const p = pipeline();
    try {
      await p.run(20, () => p.mqtt("ox-1", "senml", senmlPack(0.8, false)));
      const raised = ofRule(p, "technical.sensor_contact_lost");
      assert.deepEqual(
        raised.map((e) => [e.transition, e.priority, e.device_id, (e.at_ms - T0) / 1000]),
        [["raise", "medium", "ox-1", 10]],
        "raised at second 10, while packs kept coming until second 19",
      );
      assert.match(
        raised[0]!.reason,
        /^sensor contact lost: the device reports no contact with the patient since 2026-01-01T08:00:00Z/,
      );
      assert.equal(raised[0]!.observed_at_ms, null, "a technical condition has no measured value");
    } finally {
      await p.close();
    }
  });

  it("shows the device status to the rules before the frame's readings", async () => {
    const p = pipeline();
    try {
      await p.mqtt("ox-1", "senml", senmlPack(0.97, true));
      assert.deepEqual(p.shown, ["status", "reading:spo2", "reading:heart_rate"]);
    } finally {
      await p.close();
    }
  });

  it("flags the device's later readings until a pack reports contact again, then alarms on them", async () => {
    const p = pipeline();
    try {
      await p.mqtt("ox-1", "senml", senmlPack(0.97, false));
      await p.run(12, () => p.mqtt("ox-1", "senml", senmlPack(0.8)));
      assert.ok(p.stored("ox-1").every((r) => r.flags.includes("sensor_contact_lost")));
      assert.deepEqual(physiological(p), []);
      await p.run(8, () => p.mqtt("ox-1", "senml", senmlPack(0.8, true)));
      const after = p.stored("ox-1").slice(-16);
      assert.ok(
        after.every((r) => !r.flags.includes("sensor_contact_lost")),
        "contact restored: not flagged",
      );
      const spo2 = physiological(p).filter((e) => e.rule_id === "threshold.spo2.low");
      assert.deepEqual(
        spo2.map((e) => [e.transition, e.priority]),
        [["raise", "high"]],
        "SpO2 80 % with contact raises the HIGH tier after its 5 s",
      );
      const contact = ofRule(p, "technical.sensor_contact_lost");
      assert.deepEqual(
        contact.map((e) => [e.transition, e.alert_id, e.reason]),
        [
          ["raise", contact[0]!.alert_id, contact[0]!.reason],
          [
            "update",
            contact[0]!.alert_id,
            "sensor contact lost: ended, contact restored at 2026-01-01T08:00:12Z",
          ],
        ],
        "the sinks are told at once that contact is back, on the same alert",
      );
      assert.deepEqual(
        p.engine.activeAlerts({ category: "technical" }).map((a) => [a.condition_active, a.reason]),
        [[false, "sensor contact lost: ended, contact restored at 2026-01-01T08:00:12Z"]],
        "held after the restore, saying it ended",
      );
    } finally {
      await p.close();
    }
  });

  it("applies the plain JSON sensor_contact false to every reading of the payload", async () => {
    const p = pipeline();
    try {
      const body = {
        readings: [
          { kind: "spo2", value: 80, unit: "%" },
          { kind: "heart_rate", value: 190, unit: "/min" },
        ],
        sensor_contact: false,
      };
      await p.run(20, () => p.mqtt("cuff-1", "json", body));
      assert.ok(p.stored("cuff-1").every((r) => r.flags.includes("sensor_contact_lost")));
      assert.deepEqual(physiological(p), []);
      assert.equal(ofRule(p, "technical.sensor_contact_lost").length, 1);
    } finally {
      await p.close();
    }
  });

  it("treats a pack whose contact records disagree as without contact, and the next pack restores it", async () => {
    const p = pipeline();
    try {
      const pack = [...senmlPack(0.8, false), { n: "contact", vb: true }];
      await p.mqtt("ox-1", "senml", pack);
      assert.ok(p.stored("ox-1").every((r) => r.flags.includes("sensor_contact_lost")));
      await p.mqtt("ox-1", "senml", senmlPack(0.97, true));
      assert.ok(
        p
          .stored("ox-1")
          .slice(-2)
          .every((r) => r.flags.length === 0),
      );
    } finally {
      await p.close();
    }
  });

  it("reads 'sensor contact lost' again at once when contact is lost again while the ended alert is still held", async () => {
    const p = pipeline();
    try {
      await p.run(11, () => p.mqtt("ox-1", "senml", senmlPack(0.97, false)));
      await p.run(5, () => p.mqtt("ox-1", "senml", senmlPack(0.97, true)));
      // back off the finger 5 s into the 30 s clear hold: no second persistence delay for a held alert
      await p.mqtt("ox-1", "senml", senmlPack(0.97, false));
      const [held] = p.engine.activeAlerts({ category: "technical" });
      assert.equal(held?.condition_active, true);
      assert.match(
        held?.reason ?? "",
        /^sensor contact lost: the device reports no contact with the patient since 2026-01-01T08:00:16Z/,
      );
      await p.run(40, () => p.mqtt("ox-1", "senml", senmlPack(0.97, false)));
      const events = ofRule(p, "technical.sensor_contact_lost");
      assert.deepEqual(
        events.map((e) => [e.transition, e.condition_active]),
        [
          ["raise", true],
          ["update", false],
          ["update", true],
        ],
        "one alert: the restore and the loss that came back within the hold are updates of it",
      );
      assert.equal(new Set(events.map((e) => e.alert_id)).size, 1);
      const whileActive = events.filter((e) => e.condition_active);
      for (const text of textsWhileActive(whileActive)) assert.doesNotMatch(text, /restored|ended/);
    } finally {
      await p.close();
    }
  });
});

describe("signal-quality gating of the BLE profiles", () => {
  it("flags a Heart Rate Measurement without sensor contact, and the strap's frames until contact is detected [0x2A37 bits 1–2]", async () => {
    const p = pipeline();
    try {
      const frame = (sensorContact: "not_detected" | "detected") =>
        decodeHeartRateMeasurement(encodeHeartRateMeasurement({ heartRate: 175, sensorContact }), ctx());
      await p.run(15, () => p.ble("strap-1", frame("not_detected")));
      assert.ok(p.stored("strap-1").every((r) => r.flags.includes("sensor_contact_lost")));
      assert.deepEqual(physiological(p), [], "HR 175 without contact raises nothing physiological");
      assert.deepEqual(
        ofRule(p, "technical.sensor_contact_lost").map((e) => (e.at_ms - T0) / 1000),
        [10],
      );
      await p.run(15, () => p.ble("strap-1", frame("detected")));
      assert.deepEqual(
        ofRule(p, "threshold.heart_rate.high").map((e) => [e.transition, e.priority]),
        [["raise", "high"]],
        "HR 175 with contact detected raises the HIGH tier (> 160 for 10 s)",
      );
    } finally {
      await p.close();
    }
  });

  it("keeps SpO2 a PLX oximeter calls questionable out of the physiological rules and raises signal quality instead [DSS bit 8]", async () => {
    const p = pipeline();
    try {
      const frame = (deviceSensorStatus: number) =>
        decodePlxContinuousMeasurement(
          encodePlxContinuousMeasurement({ normal: { spo2: 80, pulseRate: 70 }, deviceSensorStatus }),
          ctx(),
        );
      await p.run(15, () => p.ble("ox-2", frame(1 << 8)));
      const stored = p.stored("ox-2");
      assert.equal(stored.length, 30);
      assert.ok(
        stored.every(
          (r) => r.flags.includes("signal_unreliable") && !r.flags.includes("sensor_contact_lost"),
        ),
      );
      assert.deepEqual(physiological(p), []);
      const [quality] = ofRule(p, "technical.signal_quality");
      assert.equal((quality!.at_ms - T0) / 1000, 10);
      assert.equal(quality!.priority, "medium");
      assert.match(
        quality!.reason,
        /^signal quality: the device marks its oxygen saturation, pulse rate values unreliable since 2026-01-01T08:00:00Z; they are not used for physiological alarms$/,
      );
      assert.deepEqual(
        ofRule(p, "technical.sensor_contact_lost"),
        [],
        "a questionable pulse is not a lost contact",
      );
      await p.run(10, () => p.ble("ox-2", frame(0)));
      assert.deepEqual(
        ofRule(p, "threshold.spo2.low").map((e) => [e.transition, e.priority]),
        [["raise", "high"]],
        "the same SpO2 80 % with a clean status alarms",
      );
      assert.match(
        p.engine.activeAlerts({ category: "technical" })[0]?.reason ?? "",
        /^signal quality: ended, reliable values again at 2026-01-01T08:00:15Z$/,
      );
    } finally {
      await p.close();
    }
  });

  it("treats a PLX probe off as lost sensor contact: flagged readings, contact status false [DSS bits 11, 15]", async () => {
    const p = pipeline();
    try {
      for (const bit of [11, 15]) {
        const result = decodePlxContinuousMeasurement(
          encodePlxContinuousMeasurement({
            normal: { spo2: 80, pulseRate: 70 },
            deviceSensorStatus: 1 << bit,
          }),
          ctx(),
        );
        await p.run(12, () => p.ble(`ox-${bit}`, result));
        assert.ok(
          p.stored(`ox-${bit}`).every((r) => r.flags.includes("sensor_contact_lost")),
          `bit ${bit}`,
        );
      }
      assert.deepEqual(physiological(p), []);
      assert.deepEqual(
        ofRule(p, "technical.sensor_contact_lost").map((e) => e.device_id),
        ["ox-11", "ox-15"],
      );
    } finally {
      await p.close();
    }
  });
});
