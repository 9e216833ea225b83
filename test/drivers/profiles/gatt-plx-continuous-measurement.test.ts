import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/drivers/profiles/decode-error.js";
import { encodePlxContinuousMeasurement } from "../../../src/drivers/profiles/encode-plx.js";
import { decodePlxContinuousMeasurement } from "../../../src/drivers/profiles/gatt-plx-continuous-measurement.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import { ctx, flagCombinations } from "./fixtures.js";

const decode = (text: string) => decodePlxContinuousMeasurement(hex(text), ctx);

describe("GATT PLX Continuous Measurement 0x2A5F (clinical.md §1.6)", () => {
  it("decodes 10 62 00 48 00 19 F0: SpO2 98 %, PR 72 bpm, PAI 2.5 %", () => {
    const res = decode("10 62 00 48 00 19 F0");
    assert.deepEqual(res.readings, [
      { kind: "spo2", value: 98, unit: "%", mdc: 150456, decimals: 0 },
      { kind: "pulse_rate", value: 72, unit: "/min", mdc: 149530, decimals: 0 },
    ]);
    assert.deepEqual(res.details.pulseAmplitudeIndex, {
      ok: true,
      value: 2.5,
      mantissa: 25,
      exponent: -1,
      decimals: 1,
    });
  });

  it("decodes the probe-off example 08 FF 07 FF 07 00 08 00: no value, sensor unconnected, technical condition", () => {
    const res = decode("08 FF 07 FF 07 00 08 00");
    assert.deepEqual(res.readings, []);
    assert.deepEqual(res.absent, [
      { kind: "spo2", reason: "nan" },
      { kind: "pulse_rate", reason: "nan" },
    ]);
    assert.equal(res.details.deviceSensorStatus, 0x000800);
    assert.deepEqual(res.details.deviceSensorStatusNames, ["sensor_unconnected_to_user"]);
    assert.deepEqual(res.status, { sensorContact: false });
    assert.deepEqual(res.conditions, ["probe_off"]);
  });

  it("takes readings from the Normal pair and keeps Fast/Slow as details", () => {
    const res = decodePlxContinuousMeasurement(
      encodePlxContinuousMeasurement({
        normal: { spo2: 96, pulseRate: 70 },
        fast: { spo2: 94, pulseRate: 75 },
        slow: { spo2: 97, pulseRate: 69 },
      }),
      ctx,
    );
    assert.deepEqual(
      res.readings.map((r) => r.value),
      [96, 70],
    );
    assert.equal(res.details.fast?.spo2.ok && res.details.fast.spo2.value, 94);
    assert.equal(res.details.slow?.pulseRate.ok && res.details.slow.pulseRate.value, 69);
  });

  it("drops demonstration data and flags questionable measurements unreliable", () => {
    const demo = decodePlxContinuousMeasurement(
      encodePlxContinuousMeasurement({ normal: { spo2: 96, pulseRate: 70 }, measurementStatus: 1 << 10 }),
      ctx,
    );
    assert.deepEqual(demo.readings, []);
    assert.deepEqual(demo.conditions, ["demonstration_data"]);
    const questionable = decodePlxContinuousMeasurement(
      encodePlxContinuousMeasurement({ normal: { spo2: 96, pulseRate: 70 }, measurementStatus: 1 << 14 }),
      ctx,
    );
    assert.deepEqual(questionable.readings[0]?.flags, ["device_reported_issue", "signal_unreliable"]);
    assert.deepEqual(questionable.conditions, ["questionable_measurement"]);
  });

  it("rejects short frames as frame_too_short", () => {
    const full = encodePlxContinuousMeasurement({
      normal: { spo2: 96, pulseRate: 70 },
      fast: { spo2: 96, pulseRate: 70 },
      slow: { spo2: 96, pulseRate: 70 },
      measurementStatus: 0,
      deviceSensorStatus: 0,
      pulseAmplitudeIndex: 1,
    });
    assert.equal(full.length, 20);
    for (let n = 0; n < full.length; n++) {
      assert.throws(
        () => decodePlxContinuousMeasurement(full.subarray(0, n), ctx),
        (e) => e instanceof DecodeError && e.reason === "frame_too_short",
      );
    }
  });

  it("decodes every flag combination as encoded", () => {
    for (const flags of flagCombinations([0x01, 0x02, 0x04, 0x08, 0x10])) {
      const bytes = encodePlxContinuousMeasurement({
        normal: { spo2: 99, pulseRate: 55 },
        fast: flags & 0x01 ? { spo2: 98, pulseRate: 56 } : undefined,
        slow: flags & 0x02 ? { spo2: 97, pulseRate: 57 } : undefined,
        measurementStatus: flags & 0x04 ? 0x0100 : undefined,
        deviceSensorStatus: flags & 0x08 ? 0x000200 : undefined,
        pulseAmplitudeIndex: flags & 0x10 ? 0.4 : undefined,
      });
      assert.equal(bytes[0], flags);
      const res = decodePlxContinuousMeasurement(bytes, ctx);
      assert.deepEqual(
        res.readings.map((r) => r.value),
        [99, 55],
      );
      assert.equal(
        res.details.fast?.pulseRate.ok && res.details.fast.pulseRate.value,
        flags & 0x01 ? 56 : undefined,
      );
      assert.equal(res.details.slow?.spo2.ok && res.details.slow.spo2.value, flags & 0x02 ? 97 : undefined);
      assert.deepEqual(res.details.measurementStatusNames, flags & 0x04 ? ["fully_qualified_data"] : []);
      assert.deepEqual(res.details.deviceSensorStatusNames, flags & 0x08 ? ["signal_analysis_ongoing"] : []);
      assert.equal(
        res.details.pulseAmplitudeIndex?.ok && res.details.pulseAmplitudeIndex.value,
        flags & 0x10 ? 0.4 : undefined,
      );
    }
  });

  it("round-trips random SFLOAT words through the encoder", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (a, b) => {
        const bytes = new Uint8Array([0, a & 0xff, a >> 8, b & 0xff, b >> 8]);
        const res = decodePlxContinuousMeasurement(bytes, ctx);
        const again = encodePlxContinuousMeasurement({
          normal: {
            spo2: res.details.normal.spo2.ok ? res.details.normal.spo2 : res.details.normal.spo2.special,
            pulseRate: res.details.normal.pulseRate.ok
              ? res.details.normal.pulseRate
              : res.details.normal.pulseRate.special,
          },
        });
        assert.deepEqual(again, bytes);
      }),
      { numRuns: 500 },
    );
  });
});
