import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/drivers/profiles/decode-error.js";
import {
  encodeWeightMeasurement,
  weightRawFromKg,
} from "../../../src/drivers/profiles/encode-weight-measurement.js";
import { decodeWeightMeasurement } from "../../../src/drivers/profiles/gatt-weight-measurement.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import { ctx, flagCombinations } from "./fixtures.js";

const decode = (text: string) => decodeWeightMeasurement(hex(text), ctx);

describe("GATT Weight Measurement 0x2A9D (clinical.md §1.8)", () => {
  it("decodes 02 90 38 E8 07 03 0F 07 00 00: 72.4 kg at 2024-03-15 07:00:00", () => {
    const res = decode("02 90 38 E8 07 03 0F 07 00 00");
    assert.deepEqual(res.readings, [
      {
        kind: "body_weight",
        value: 72.4,
        unit: "kg",
        deviceTimeMs: Date.UTC(2024, 2, 15, 7),
        mdc: 188736,
        decimals: 3,
      },
    ]);
  });

  it("decodes 0E 90 38 … 01 EC 00 D8 06: 72.4 kg, user 1, BMI 23.6, height 1.752 m", () => {
    const res = decode("0E 90 38 E8 07 03 0F 07 00 00 01 EC 00 D8 06");
    assert.equal(res.readings[0]?.value, 72.4);
    assert.equal(res.details.userId, 1);
    assert.equal(res.details.bmi, 23.6);
    assert.equal(res.details.height, 1.752);
  });

  it("decodes imperial units: 0.01 lb weight and 0.1 in height", () => {
    const res = decodeWeightMeasurement(
      encodeWeightMeasurement({ units: "imperial", weightRaw: 15962, bmiRaw: 236, heightRaw: 690 }),
      ctx,
    );
    assert.deepEqual(
      res.readings.map((r) => [r.value, r.unit]),
      [[159.62, "[lb_av]"]],
    );
    assert.equal(res.details.height, 69);
  });

  it("drops weight 0xFFFF 'Measurement Unsuccessful' and ignores BMI/height, keeping time and user", () => {
    const res = decodeWeightMeasurement(
      encodeWeightMeasurement({
        weightRaw: 0xffff,
        timeStamp: Date.UTC(2024, 0, 1),
        userId: 255,
        bmiRaw: 1,
        heightRaw: 2,
      }),
      ctx,
    );
    assert.deepEqual(res.readings, []);
    assert.deepEqual(res.absent, [{ kind: "body_weight", reason: "measurement_unsuccessful" }]);
    assert.deepEqual(res.conditions, ["measurement_unsuccessful"]);
    assert.equal(res.details.userId, 255);
    assert.equal(res.details.bmi, undefined);
    assert.deepEqual(decode("08 FF FF").absent, [
      { kind: "body_weight", reason: "measurement_unsuccessful" },
    ]);
  });

  it("moves a zero weight to absent (≤ 0 is impossible)", () => {
    assert.deepEqual(decode("00 00 00").absent, [{ kind: "body_weight", reason: "below_physiologic_limit" }]);
  });

  it("reaches the SI maximum 327.675 kg exactly (raw 0xFFFE = 327.67)", () => {
    assert.equal(decode("00 FE FF").readings[0]?.value, 327.67);
  });

  it("rejects frames shorter than the flags require", () => {
    const full = hex("0E 90 38 E8 07 03 0F 07 00 00 01 EC 00 D8 06");
    for (let n = 0; n < full.length; n++) {
      assert.throws(
        () => decodeWeightMeasurement(full.subarray(0, n), ctx),
        (e) => e instanceof DecodeError && e.reason === "frame_too_short",
      );
    }
  });

  it("decodes every flag combination as encoded", () => {
    for (const flags of flagCombinations([0x01, 0x02, 0x04, 0x08])) {
      const imperial = (flags & 0x01) !== 0;
      const bytes = encodeWeightMeasurement({
        units: imperial ? "imperial" : "si",
        weightRaw: imperial ? 16000 : 14480,
        timeStamp: flags & 0x02 ? Date.UTC(2024, 2, 15, 7) : undefined,
        userId: flags & 0x04 ? 3 : undefined,
        bmiRaw: flags & 0x08 ? 236 : undefined,
        heightRaw: flags & 0x08 ? (imperial ? 690 : 1752) : undefined,
      });
      assert.equal(bytes[0], flags);
      const res = decodeWeightMeasurement(bytes, ctx);
      assert.deepEqual(
        res.readings.map((r) => [r.value, r.unit, r.deviceTimeMs]),
        [
          [
            imperial ? 160 : 72.4,
            imperial ? "[lb_av]" : "kg",
            flags & 0x02 ? Date.UTC(2024, 2, 15, 7) : undefined,
          ],
        ],
      );
      assert.equal(res.details.userId, flags & 0x04 ? 3 : undefined);
      assert.equal(res.details.height, flags & 0x08 ? (imperial ? 69 : 1.752) : undefined);
    }
  });

  it("round-trips random raw weights exactly (0.005 kg / 0.01 lb steps)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0xfffe }), fc.boolean(), (raw, imperial) => {
        const res = decodeWeightMeasurement(
          encodeWeightMeasurement({ weightRaw: raw, units: imperial ? "imperial" : "si" }),
          ctx,
        );
        assert.equal(res.details.weight, imperial ? Number(`${raw}e-2`) : Number(`${raw * 5}e-3`));
        if (!imperial) assert.equal(weightRawFromKg(res.details.weight!), raw);
      }),
      { numRuns: 500 },
    );
  });
});
