import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/drivers/profiles/decode-error.js";
import { encodePlxSpotCheckMeasurement } from "../../../src/drivers/profiles/encode-plx.js";
import { decodePlxSpotCheckMeasurement } from "../../../src/drivers/profiles/gatt-plx-spot-check-measurement.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import { ctx, flagCombinations } from "./fixtures.js";

const decode = (text: string) => decodePlxSpotCheckMeasurement(hex(text), ctx);
const T = Date.UTC(2024, 2, 15, 8, 30);

describe("GATT PLX Spot-Check Measurement 0x2A5E (clinical.md §1.6)", () => {
  it("decodes 01 61 00 44 00 E8 07 03 0F 08 1E 00: SpO2 97 %, PR 68 bpm at 2024-03-15 08:30:00", () => {
    const res = decode("01 61 00 44 00 E8 07 03 0F 08 1E 00");
    assert.deepEqual(res.readings, [
      { kind: "spo2", value: 97, unit: "%", deviceTimeMs: T, mdc: 150456, decimals: 0 },
      { kind: "pulse_rate", value: 68, unit: "/min", deviceTimeMs: T, mdc: 149530, decimals: 0 },
    ]);
  });

  it("reads bit 0 as Timestamp present, not SpO2PR-Fast (the third-party pitfall)", () => {
    const res = decode("01 61 00 44 00 E8 07 03 0F 08 1E 00");
    assert.deepEqual(res.details.timeStamp, {
      year: 2024,
      month: 3,
      day: 15,
      hours: 8,
      minutes: 30,
      seconds: 0,
    });
  });

  it("ignores the timestamp when bit 4 'Device Clock is Not Set' is set", () => {
    const res = decode("11 61 00 44 00 E8 07 03 0F 08 1E 00");
    assert.equal(res.details.deviceClockNotSet, true);
    assert.deepEqual(res.conditions, ["clock_not_set"]);
    assert.ok(res.readings.every((r) => r.deviceTimeMs === undefined));
  });

  it("drops demonstration and testing data as patient data (MS bits 10, 11)", () => {
    for (const [bit, why] of [
      [10, "demonstration_data"],
      [11, "testing_data"],
    ] as const) {
      const res = decodePlxSpotCheckMeasurement(
        encodePlxSpotCheckMeasurement({ spo2: 97, pulseRate: 68, measurementStatus: 1 << bit }),
        ctx,
      );
      assert.deepEqual(res.readings, []);
      assert.deepEqual(res.absent, [
        { kind: "spo2", reason: why },
        { kind: "pulse_rate", reason: why },
      ]);
      assert.deepEqual(res.conditions, [why]);
    }
  });

  it("flags MS bits 13–15 and DSS bits 1–8, 10, 12–14 unreliable (DSS 11, 15: contact lost), not MS 5–9, 12 or DSS 0, 9", () => {
    for (let bit = 5; bit <= 15; bit++) {
      if (bit === 10 || bit === 11) continue;
      const res = decodePlxSpotCheckMeasurement(
        encodePlxSpotCheckMeasurement({ spo2: 97, pulseRate: 68, measurementStatus: 1 << bit }),
        ctx,
      );
      assert.deepEqual(
        res.readings[0]?.flags,
        bit >= 13 ? ["device_reported_issue", "signal_unreliable"] : undefined,
        `MS bit ${bit}`,
      );
    }
    for (let bit = 0; bit <= 23; bit++) {
      const res = decodePlxSpotCheckMeasurement(
        encodePlxSpotCheckMeasurement({ spo2: 97, pulseRate: 68, deviceSensorStatus: 2 ** bit }),
        ctx,
      );
      const issue = (bit >= 1 && bit <= 8) || (bit >= 10 && bit <= 15);
      const isProbeOff = bit === 11 || bit === 15;
      assert.equal(
        res.readings[0]?.flags?.includes("device_reported_issue") ?? false,
        issue,
        `DSS bit ${bit}`,
      );
      // [clinical.md §1.6] every suppressing bit gates the physiological rules, through one flag or the other
      assert.equal(res.readings[0]?.flags?.includes("signal_unreliable") ?? false, issue && !isProbeOff);
      assert.equal(res.readings[0]?.flags?.includes("sensor_contact_lost") ?? false, isProbeOff);
    }
  });

  it("reports probe off for DSS bits 11 and 15: sensor contact false, technical condition", () => {
    for (const bit of [11, 15]) {
      const res = decodePlxSpotCheckMeasurement(
        encodePlxSpotCheckMeasurement({ spo2: 97, pulseRate: 68, deviceSensorStatus: 1 << bit }),
        ctx,
      );
      assert.deepEqual(res.status, { sensorContact: false });
      assert.ok(res.conditions.includes("probe_off"));
      assert.deepEqual(res.readings[0]?.flags, ["device_reported_issue", "sensor_contact_lost"]);
    }
    const ok = decodePlxSpotCheckMeasurement(
      encodePlxSpotCheckMeasurement({ spo2: 97, pulseRate: 68, deviceSensorStatus: 0 }),
      ctx,
    );
    assert.deepEqual(ok.status, { sensorContact: true });
  });

  it("gives absent reasons for SFLOAT special values", () => {
    const res = decodePlxSpotCheckMeasurement(
      encodePlxSpotCheckMeasurement({ spo2: "nres", pulseRate: "positive_infinity" }),
      ctx,
    );
    assert.deepEqual(res.absent, [
      { kind: "spo2", reason: "nres" },
      { kind: "pulse_rate", reason: "positive_infinity" },
    ]);
  });

  it("moves an SpO2 above 100 % to absent", () => {
    const res = decodePlxSpotCheckMeasurement(
      encodePlxSpotCheckMeasurement({ spo2: 100.1, pulseRate: 68 }),
      ctx,
    );
    assert.deepEqual(res.absent, [{ kind: "spo2", reason: "above_physiologic_limit" }]);
    assert.equal(
      decodePlxSpotCheckMeasurement(encodePlxSpotCheckMeasurement({ spo2: 100, pulseRate: 68 }), ctx)
        .readings[0]?.value,
      100,
    );
  });

  it("rejects short frames as frame_too_short", () => {
    const full = encodePlxSpotCheckMeasurement({
      spo2: 97,
      pulseRate: 68,
      timeStamp: T,
      measurementStatus: 0,
      deviceSensorStatus: 0,
      pulseAmplitudeIndex: 2.5,
    });
    for (let n = 0; n < full.length; n++) {
      assert.throws(
        () => decodePlxSpotCheckMeasurement(full.subarray(0, n), ctx),
        (e) => e instanceof DecodeError && e.reason === "frame_too_short",
      );
    }
  });

  it("decodes every flag combination as encoded", () => {
    for (const flags of flagCombinations([0x01, 0x02, 0x04, 0x08, 0x10])) {
      const bytes = encodePlxSpotCheckMeasurement({
        spo2: 95.5,
        pulseRate: 61,
        timeStamp: flags & 0x01 ? T : undefined,
        measurementStatus: flags & 0x02 ? 0x0080 : undefined,
        deviceSensorStatus: flags & 0x04 ? 0x0001 : undefined,
        pulseAmplitudeIndex: flags & 0x08 ? 3.1 : undefined,
        deviceClockNotSet: (flags & 0x10) !== 0,
      });
      assert.equal(bytes[0], flags);
      const res = decodePlxSpotCheckMeasurement(bytes, ctx);
      assert.deepEqual(
        res.readings.map((r) => r.value),
        [95.5, 61],
      );
      assert.equal(res.readings[0]?.deviceTimeMs, flags & 0x01 && !(flags & 0x10) ? T : undefined);
      assert.deepEqual(res.details.measurementStatusNames, flags & 0x02 ? ["validated_data"] : []);
      assert.deepEqual(
        res.details.deviceSensorStatusNames,
        flags & 0x04 ? ["extended_display_update_ongoing"] : [],
      );
      assert.equal(
        res.details.pulseAmplitudeIndex?.ok && res.details.pulseAmplitudeIndex.value,
        flags & 0x08 ? 3.1 : undefined,
      );
    }
  });

  it("round-trips random status words through the encoder", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffff }), (ms, dss) => {
        const res = decodePlxSpotCheckMeasurement(
          encodePlxSpotCheckMeasurement({
            spo2: 97,
            pulseRate: 68,
            measurementStatus: ms,
            deviceSensorStatus: dss,
          }),
          ctx,
        );
        assert.equal(res.details.measurementStatus, ms);
        assert.equal(res.details.deviceSensorStatus, dss);
        assert.equal(res.readings.length + res.absent.length, 2);
      }),
      { numRuns: 500 },
    );
  });
});
