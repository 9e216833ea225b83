import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/drivers/profiles/decode-error.js";
import { encodeBloodPressureMeasurement } from "../../../src/drivers/profiles/encode-blood-pressure-measurement.js";
import { decodeBloodPressureMeasurement } from "../../../src/drivers/profiles/gatt-blood-pressure-measurement.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import { normaliseBatch } from "../../../src/reading.js";
import { ctx, flagCombinations, NOW_MS } from "./fixtures.js";

const decode = (text: string) => decodeBloodPressureMeasurement(hex(text), ctx);
const T = Date.UTC(2024, 2, 15, 8, 30);

describe("GATT Blood Pressure Measurement 0x2A35 (clinical.md §1.5)", () => {
  it("decodes the 19-octet example: 121/81 mmHg, MAP 94.3, pulse 72, user 1, irregular pulse", () => {
    const res = decode("1E 79 00 51 00 AF F3 E8 07 03 0F 08 1E 00 48 00 01 04 00");
    assert.deepEqual(res.readings, [
      { kind: "bp_systolic", value: 121, unit: "mm[Hg]", deviceTimeMs: T, mdc: 150021, decimals: 0 },
      { kind: "bp_diastolic", value: 81, unit: "mm[Hg]", deviceTimeMs: T, mdc: 150022, decimals: 0 },
      { kind: "bp_mean", value: 94.3, unit: "mm[Hg]", deviceTimeMs: T, mdc: 150023, decimals: 1 },
      { kind: "pulse_rate", value: 72, unit: "/min", deviceTimeMs: T, mdc: 149546, decimals: 0 },
    ]);
    assert.equal(res.details.userId, 1);
    assert.equal(res.details.measurementStatus, 4);
    assert.equal(res.details.status?.irregularPulse, true);
    assert.equal(res.details.status?.pulseRateRange, "in_range");
    assert.deepEqual(normaliseBatch(res.readings, NOW_MS).rejected, []);
  });

  it("decodes 01 A1 F0 6C F0 FF 07: 16.1/10.8 kPa and no MAP component (NaN)", () => {
    const res = decode("01 A1 F0 6C F0 FF 07");
    assert.deepEqual(
      res.readings.map((r) => [r.kind, r.value, r.unit]),
      [
        ["bp_systolic", 16.1, "kPa"],
        ["bp_diastolic", 10.8, "kPa"],
      ],
    );
    assert.deepEqual(res.absent, [{ kind: "bp_mean", reason: "nan" }]);
    const batch = normaliseBatch(res.readings, NOW_MS);
    assert.deepEqual(
      batch.accepted.map((a) => [a.kind, a.value, a.unit]),
      [
        ["bp_systolic", 120.8, "mm[Hg]"],
        ["bp_diastolic", 81, "mm[Hg]"],
      ],
    );
  });

  it("turns cuff/movement/position status bits into device_reported_issue and conditions", () => {
    const res = decodeBloodPressureMeasurement(
      encodeBloodPressureMeasurement({ systolic: 120, diastolic: 80, measurementStatus: 0b100011 }),
      ctx,
    );
    assert.deepEqual(res.conditions, ["body_movement", "cuff_too_loose", "improper_measurement_position"]);
    for (const r of res.readings) assert.deepEqual(r.flags, ["device_reported_issue"]);
  });

  it("maps the pulse-rate range bits 3–4 and flags an out-of-range pulse", () => {
    const ranges = ["in_range", "above_upper_limit", "below_lower_limit", "rfu"];
    for (let v = 0; v < 4; v++) {
      const res = decodeBloodPressureMeasurement(
        encodeBloodPressureMeasurement({
          systolic: 120,
          diastolic: 80,
          pulseRate: 64,
          measurementStatus: v << 3,
        }),
        ctx,
      );
      assert.equal(res.details.status?.pulseRateRange, ranges[v]);
      const pr = res.readings.find((r) => r.kind === "pulse_rate");
      assert.deepEqual(pr?.flags, v === 0 ? undefined : ["device_reported_issue"]);
    }
  });

  it("ignores RFU measurement-status bits and RFU flag bits", () => {
    const plain = decode("00 79 00 51 00 AF F3");
    const rfu = decodeBloodPressureMeasurement(
      encodeBloodPressureMeasurement({
        systolic: 121,
        diastolic: 81,
        meanArterialPressure: 94.3,
        measurementStatus: 0xffc0,
      }),
      ctx,
    );
    assert.deepEqual(rfu.readings, plain.readings);
    assert.deepEqual(decode("E0 79 00 51 00 AF F3").readings, plain.readings);
  });

  it("rejects frames shorter than the flags require (minimum 7 octets)", () => {
    const full = hex("1E 79 00 51 00 AF F3 E8 07 03 0F 08 1E 00 48 00 01 04 00");
    for (let n = 0; n < full.length; n++) {
      assert.throws(
        () => decodeBloodPressureMeasurement(full.subarray(0, n), ctx),
        (e) => e instanceof DecodeError && e.reason === "frame_too_short",
      );
    }
  });

  it("decodes every flag combination as encoded", () => {
    for (const flags of flagCombinations([0x01, 0x02, 0x04, 0x08, 0x10])) {
      const unit = flags & 0x01 ? ("kPa" as const) : ("mm[Hg]" as const);
      const bytes = encodeBloodPressureMeasurement({
        unit,
        systolic: unit === "kPa" ? 16.1 : 121,
        diastolic: unit === "kPa" ? 10.8 : 81,
        meanArterialPressure: unit === "kPa" ? 12.6 : 94.3,
        timeStamp: flags & 0x02 ? T : undefined,
        pulseRate: flags & 0x04 ? 72 : undefined,
        userId: flags & 0x08 ? 255 : undefined,
        measurementStatus: flags & 0x10 ? 0 : undefined,
      });
      assert.equal(bytes[0], flags);
      const res = decodeBloodPressureMeasurement(bytes, ctx);
      assert.equal(res.readings.length, flags & 0x04 ? 4 : 3);
      assert.ok(res.readings.every((r) => r.deviceTimeMs === (flags & 0x02 ? T : undefined)));
      assert.equal(res.readings[0]?.unit, unit);
      assert.equal(res.details.userId, flags & 0x08 ? 255 : undefined);
      assert.equal(res.details.measurementStatus, flags & 0x10 ? 0 : undefined);
    }
  });

  it("round-trips random SFLOAT values through the encoder", () => {
    const sfloat = fc.record({
      mantissa: fc.integer({ min: -2045, max: 2045 }),
      exponent: fc.integer({ min: -3, max: 2 }),
    });
    fc.assert(
      fc.property(sfloat, sfloat, sfloat, fc.option(sfloat, { nil: undefined }), (s, d, m, p) => {
        const res = decodeBloodPressureMeasurement(
          encodeBloodPressureMeasurement({
            systolic: s,
            diastolic: d,
            meanArterialPressure: m,
            pulseRate: p,
          }),
          ctx,
        );
        assert.equal(
          res.details.systolic.ok && res.details.systolic.value,
          Number(`${s.mantissa}e${s.exponent}`),
        );
        assert.equal(res.details.diastolic.ok && res.details.diastolic.mantissa, d.mantissa);
        assert.equal(
          res.details.meanArterialPressure.ok && res.details.meanArterialPressure.exponent,
          m.exponent,
        );
        assert.equal(res.readings.length + res.absent.length, p ? 4 : 3);
      }),
      { numRuns: 500 },
    );
  });
});
