/**
 * A device that keeps sending frames without a usable value is a technical alarm [clinical.md §1.6 "probe off"
 * example: a technical alert, no physiological value; §5.1 IEC 60601-1-8 technical alarm conditions], and a
 * contact status the gateway cannot read never lets values through as if in contact [§5.2 "Signal-quality
 * gating"]. Real Ingest, commit thread, SQLite file, payload decoder, GATT decoders, the driver sink's frame
 * status and the rule engine (ingest-pipeline.ts), default rules: no valid data, sensor contact lost and signal
 * quality after 10 s, MEDIUM (local engineering choices, to be reviewed); heart rate > 160 /min HIGH.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { profileFrame } from "../../firmware-sim/ble-profiles.js";
import { frameStatus } from "../../src/drivers/ingest-sink.js";
import { decodePlxContinuousMeasurement } from "../../src/drivers/profiles/gatt-plx-continuous-measurement.js";
import { decodePlxSpotCheckMeasurement } from "../../src/drivers/profiles/gatt-plx-spot-check-measurement.js";
import { hex } from "../../src/drivers/profiles/hex.js";
import { NORMAL_SAMPLE } from "../helpers/vitals.js";
import { type Pipeline, pipeline, T0 } from "./ingest-pipeline.js";

const physiological = (p: Pipeline) => p.events.filter((e) => e.category === "physiological");
const ofRule = (p: Pipeline, ruleId: string) => p.events.filter((e) => e.rule_id === ruleId);
const technicalRules = (p: Pipeline) => [
  ...new Set(p.events.filter((e) => e.category === "technical").map((e) => e.rule_id)),
];
const ctx = (p: Pipeline) => ({ nowMs: p.clock.now() });
const atSec = (ms: number) => (ms - T0) / 1000;

/** PLX Continuous `00 FF07 FF07`: SpO2 and PR NaN, no status fields [clinical.md §1.2, §1.6]. */
const NAN_FRAME = "00 FF 07 FF 07";
/** PLX Continuous probe off as clinical.md §1.6 shows it: NaN values, DSS bit 11 "Sensor Unconnected to User". */
const PROBE_OFF_FRAME = "08 FF 07 FF 07 00 08 00";
/** PLX Continuous SpO2 97 %, PR 72 /min (0x61, 0x48), no status fields. */
const VALUE_FRAME = "00 61 00 48 00";

const plx = (p: Pipeline, text: string) => decodePlxContinuousMeasurement(hex(text), ctx(p));

describe("no valid data: a device that keeps sending no usable value", () => {
  it("raises no valid data, MEDIUM, when an oximeter keeps sending NaN without status bits, and ends it at the next value", async () => {
    const p = pipeline();
    try {
      await p.run(12, () => p.ble("ox-nan", plx(p, NAN_FRAME)));
      assert.deepEqual(p.stored("ox-nan"), [], "a NaN is never a number");
      const raised = ofRule(p, "technical.no_valid_data");
      assert.deepEqual(
        raised.map((e) => [e.transition, atSec(e.at_ms), e.priority, e.reason]),
        [
          [
            "raise",
            10,
            "medium",
            "no valid data: the device sends no usable oxygen saturation or pulse rate value since 2026-01-01T08:00:00Z (it reports not a number (NaN)); these vitals are not monitored",
          ],
        ],
      );
      assert.deepEqual(technicalRules(p), ["technical.no_valid_data"], "the device is heard: not silent");
      await p.run(1, () => p.ble("ox-nan", plx(p, VALUE_FRAME)));
      assert.equal(p.stored("ox-nan").length, 2);
      assert.match(
        p.engine.activeAlerts({ category: "technical" })[0]?.reason ?? "",
        /no valid data: ended, a value again at 2026-01-01T08:00:12Z\b/,
      );
      assert.deepEqual(physiological(p), []);
    } finally {
      await p.close();
    }
  });

  it("raises nothing for NaN while an oximeter acquires the signal for a few seconds", async () => {
    const p = pipeline();
    try {
      await p.run(5, () => p.ble("ox-acq", plx(p, NAN_FRAME)));
      await p.run(20, () => p.ble("ox-acq", plx(p, VALUE_FRAME)));
      assert.deepEqual(p.events, []);
    } finally {
      await p.close();
    }
  });

  it("raises nothing for one failed spot check: a single frame is not a device that keeps sending", async () => {
    const p = pipeline();
    try {
      // PLX Spot-Check 0x2A5E with SpO2 and PR NaN, then nothing for a minute but the device's silence
      await p.ble("ox-spot", decodePlxSpotCheckMeasurement(hex(NAN_FRAME), ctx(p)));
      await p.run(20);
      assert.deepEqual(ofRule(p, "technical.no_valid_data"), []);
    } finally {
      await p.close();
    }
  });

  it("names the reason the device gave: NRes and measurement unavailable [clinical.md §1.2, §1.6 MS bit 13]", async () => {
    const p = pipeline();
    try {
      // Measurement Status present (flag 0x04) with bit 13 "Measurement Unavailable"; SpO2 NRes 0x0800, PR NaN
      await p.run(11, () => p.ble("ox-mu", plx(p, "04 00 08 FF 07 00 20")));
      const [raised] = ofRule(p, "technical.no_valid_data");
      assert.match(
        raised?.reason ?? "",
        /^no valid data: the device sends no usable oxygen saturation or pulse rate value since 2026-01-01T08:00:00Z \(it reports not at this resolution \(NRes\), not a number \(NaN\)\); these vitals are not monitored$/,
      );
    } finally {
      await p.close();
    }
  });

  it("names only the vitals still missing once one comes back", async () => {
    const p = pipeline();
    try {
      await p.run(11, () => p.ble("ox-part", plx(p, NAN_FRAME)));
      // SpO2 97 % again, PR still NaN
      await p.run(1, () => p.ble("ox-part", plx(p, "00 61 00 FF 07")));
      assert.deepEqual(
        p.engine.activeAlerts({ category: "technical" }).map((a) => [a.rule_id, a.priority, a.reason]),
        [
          [
            "technical.no_valid_data",
            "medium",
            "no valid data: the device sends no usable pulse rate value since 2026-01-01T08:00:00Z (it reports not a number (NaN)); this vital is not monitored",
          ],
        ],
      );
    } finally {
      await p.close();
    }
  });

  it("raises sensor contact lost, not no valid data, for the probe-off frame of clinical.md §1.6", async () => {
    const p = pipeline();
    try {
      await p.run(12, () => p.ble("ox-off", plx(p, PROBE_OFF_FRAME)));
      assert.deepEqual(technicalRules(p), ["technical.sensor_contact_lost"]);
      const [lost] = ofRule(p, "technical.sensor_contact_lost");
      assert.equal(atSec(lost!.at_ms), 10);
    } finally {
      await p.close();
    }
  });

  it("hands no valid data over to sensor contact lost when the device then reports the probe off", async () => {
    const p = pipeline();
    try {
      await p.run(11, () => p.ble("ox-2", plx(p, NAN_FRAME)));
      await p.run(1, () => p.ble("ox-2", plx(p, PROBE_OFF_FRAME)));
      assert.match(
        p.engine.activeAlerts({ category: "technical" }).find((a) => a.rule_id === "technical.no_valid_data")
          ?.reason ?? "",
        /no valid data: ended, the device reports no sensor contact since 2026-01-01T08:00:11Z\b/,
      );
    } finally {
      await p.close();
    }
  });
});

describe("the driver sink's frame status", () => {
  it("lists the values the device sent without a value, but neither refusals nor a control-solution test", () => {
    const result = {
      readings: [],
      absent: [
        { kind: "spo2" as const, reason: "nan" as const },
        { kind: "heart_rate" as const, reason: "above_physiologic_limit" as const },
        { kind: "glucose" as const, reason: "control_solution" as const },
        { kind: "pulse_rate" as const, reason: "measurement_unavailable" as const },
      ],
      conditions: [],
      status: { sensorContact: true },
      details: {},
    };
    assert.deepEqual(frameStatus(result), {
      sensorContact: true,
      absentValues: [
        { kind: "spo2", reason: "nan" },
        { kind: "pulse_rate", reason: "measurement_unavailable" },
      ],
    });
    assert.equal(frameStatus({ ...result, absent: [], status: undefined }), undefined);
  });
});

describe("the simulated pulse oximeter", () => {
  it("sends the Device and Sensor Status probe-off bit with NaN values, as clinical.md §1.6 shows, and contact otherwise", () => {
    const off = profileFrame("pulse_oximeter", { ...NORMAL_SAMPLE, sensorContact: false }, 1, T0);
    assert.equal(Buffer.from(off).toString("hex"), "08ff07ff07000800");
    assert.deepEqual(decodePlxContinuousMeasurement(off, { nowMs: T0 }).status, { sensorContact: false });
    const on = profileFrame("pulse_oximeter", { ...NORMAL_SAMPLE, sensorContact: true }, 2, T0);
    assert.deepEqual(decodePlxContinuousMeasurement(on, { nowMs: T0 }).status, { sensorContact: true });
  });

  it("raises sensor contact lost through the proper path in its sensor_off scenario", async () => {
    const p = pipeline();
    try {
      const frame = (contact: boolean) =>
        decodePlxContinuousMeasurement(
          profileFrame("pulse_oximeter", { ...NORMAL_SAMPLE, sensorContact: contact }, 1, p.clock.now()),
          ctx(p),
        );
      await p.run(5, () => p.ble("ox-sim", frame(true)));
      await p.run(12, () => p.ble("ox-sim", frame(false)));
      assert.deepEqual(technicalRules(p), ["technical.sensor_contact_lost"]);
      await p.run(1, () => p.ble("ox-sim", frame(true)));
      assert.match(
        p.engine.activeAlerts({ category: "technical" })[0]?.reason ?? "",
        /sensor contact lost: ended, contact restored at 2026-01-01T08:00:17Z\b/,
      );
    } finally {
      await p.close();
    }
  });
});

describe("a contact status the gateway cannot read", () => {
  const hr175 = { bn: "d1:", n: "hr", u: "beat/min", v: 175 };

  it("keeps a SenML pack with contact as a number out of the physiological rules and says why in signal quality", async () => {
    const p = pipeline();
    try {
      await p.run(12, () => p.mqtt("w-1", "senml", [hr175, { n: "contact", v: 0 }]));
      const stored = p.stored("w-1");
      assert.equal(stored.length, 12);
      assert.ok(
        stored.every((r) => r.flags.includes("signal_unreliable")),
        String(stored[0]?.flags),
      );
      assert.deepEqual(physiological(p), [], "HR 175 with an unreadable contact status raises no HR alarm");
      const [quality] = ofRule(p, "technical.signal_quality");
      assert.equal(atSec(quality!.at_ms), 10);
      assert.equal(
        quality!.reason,
        "signal quality: the device reports unreadable contact status with its heart rate values since 2026-01-01T08:00:00Z; they are not used for physiological alarms",
      );
      // the refused record is still counted: five a minute raise the rejected-frames alarm
      assert.deepEqual(
        ofRule(p, "technical.rejected_frames").map((e) => e.transition),
        ["raise"],
      );
    } finally {
      await p.close();
    }
  });

  it("does the same for the plain JSON form's sensor_contact of a wrong type", async () => {
    const p = pipeline();
    try {
      const payload = {
        readings: [{ kind: "heart_rate", value: 175, unit: "/min" }],
        sensor_contact: "false",
      };
      await p.run(12, () => p.mqtt("w-2", "json", payload));
      const stored = p.stored("w-2");
      assert.equal(stored.length, 12, "the readings are kept");
      assert.ok(stored.every((r) => r.flags.includes("signal_unreliable")));
      assert.deepEqual(physiological(p), []);
      assert.match(
        ofRule(p, "technical.signal_quality")[0]?.reason ?? "",
        /^signal quality: the device reports unreadable contact status with its heart rate values since /,
      );
    } finally {
      await p.close();
    }
  });

  it("does not restore a lost contact: the device's later readings stay flagged sensor_contact_lost", async () => {
    const p = pipeline();
    try {
      await p.mqtt("w-3", "senml", [hr175, { n: "contact", vb: false }]);
      await p.mqtt("w-3", "senml", [hr175, { n: "contact", vs: "true" }]);
      await p.mqtt("w-3", "senml", [hr175]);
      const stored = p.stored("w-3");
      assert.equal(stored.length, 3);
      assert.ok(
        stored.every((r) => r.flags.includes("sensor_contact_lost")),
        stored.map((r) => r.flags).join(" | "),
      );
    } finally {
      await p.close();
    }
  });
});
