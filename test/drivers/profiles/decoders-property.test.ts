import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/drivers/profiles/decode-error.js";
import type { DecodeContext, DecodeResult } from "../../../src/drivers/profiles/decode-result.js";
import { decodeBloodPressureMeasurement } from "../../../src/drivers/profiles/gatt-blood-pressure-measurement.js";
import { decodeCgmMeasurement } from "../../../src/drivers/profiles/gatt-cgm-measurement.js";
import { decodeDateTimeCharacteristic } from "../../../src/drivers/profiles/gatt-date-time.js";
import { decodeGlucoseMeasurement } from "../../../src/drivers/profiles/gatt-glucose-measurement.js";
import { decodeHeartRateMeasurement } from "../../../src/drivers/profiles/gatt-heart-rate-measurement.js";
import { decodePlxContinuousMeasurement } from "../../../src/drivers/profiles/gatt-plx-continuous-measurement.js";
import { decodePlxSpotCheckMeasurement } from "../../../src/drivers/profiles/gatt-plx-spot-check-measurement.js";
import { decodeTemperatureMeasurement } from "../../../src/drivers/profiles/gatt-temperature-measurement.js";
import { decodeWeightMeasurement } from "../../../src/drivers/profiles/gatt-weight-measurement.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import { frameArbitrary, frameProblems } from "../../../src/drivers/sdk-conformance.js";
import { NOW_MS } from "./fixtures.js";

type AnyDecoder = (bytes: Uint8Array, ctx: DecodeContext) => DecodeResult;

/** Every decoder with the spec vectors of clinical.md §1 as mutation seeds. */
const DECODERS: ReadonlyArray<[string, AnyDecoder, string[]]> = [
  ["Heart Rate Measurement", decodeHeartRateMeasurement, ["16 48 55 03 40 03", "19 4E 00 2C 01 00 04"]],
  [
    "Temperature Measurement",
    decodeTemperatureMeasurement,
    ["06 6C 01 00 FF E8 07 03 0F 08 1E 00 06", "01 DA 03 00 FF"],
  ],
  [
    "Blood Pressure Measurement",
    decodeBloodPressureMeasurement,
    ["1E 79 00 51 00 AF F3 E8 07 03 0F 08 1E 00 48 00 01 04 00"],
  ],
  [
    "PLX Spot-Check",
    decodePlxSpotCheckMeasurement,
    ["01 61 00 44 00 E8 07 03 0F 08 1E 00", "1F 61 00 44 00 E8 07 03 0F 08 1E 00 00 00 00 00 00 19 F0"],
  ],
  [
    "PLX Continuous",
    decodePlxContinuousMeasurement,
    [
      "10 62 00 48 00 19 F0",
      "08 FF 07 FF 07 00 08 00",
      "1F 62 00 48 00 62 00 48 00 62 00 48 00 00 00 00 00 00 19 F0",
    ],
  ],
  [
    "Glucose Measurement",
    decodeGlucoseMeasurement,
    ["03 05 00 E8 07 03 0F 07 2D 00 00 00 5F B0 11", "1B 01 00 E3 07 02 1B 0B 0A 1E FB FF 1E 00 12 05 01"],
  ],
  ["Weight Measurement", decodeWeightMeasurement, ["0E 90 38 E8 07 03 0F 07 00 00 01 EC 00 D8 06"]],
  [
    "CGM Measurement",
    decodeCgmMeasurement,
    ["0F E3 D2 E4 05 00 02 14 FF 02 F0 E5 F3 8E 3F", "06 00 78 00 1E 00 08 01 78 00 1E 00 F1 FF"],
  ],
  ["Date Time", decodeDateTimeCharacteristic, ["E8 07 03 0F 08 1E 00"]],
];

const context = fc.record({
  deviceUtcOffsetMin: fc.option(fc.integer({ min: -720, max: 840 }), { nil: undefined }),
  cgmSessionStartMs: fc.option(fc.integer({ min: NOW_MS - 86_400_000, max: NOW_MS }), { nil: undefined }),
});

describe("every profile decoder under random and mutated frames (fast-check)", () => {
  for (const [name, decode, examples] of DECODERS) {
    it(`${name}: throws only DecodeError, stays pure, and yields only values inside the hard limits`, () => {
      let decoded = 0;
      let rejected = 0;
      fc.assert(
        fc.property(frameArbitrary(examples.map((e) => hex(e))), context, (bytes, c) => {
          const ctx = { ...c, nowMs: NOW_MS };
          assert.deepEqual(frameProblems(decode, bytes, ctx), []);
          try {
            decode(bytes, ctx);
            decoded++;
          } catch (e) {
            assert.ok(e instanceof DecodeError);
            rejected++;
          }
        }),
        { numRuns: 1500 },
      );
      // the generator must exercise both paths, or the property proves little
      assert.ok(decoded >= 15 && rejected >= 15, `decoded ${decoded}, rejected ${rejected}`);
    });
  }

  it("every flag octet of every decoder: short frames throw DecodeError, long zero frames decode", () => {
    for (const [, decode] of DECODERS) {
      for (let flags = 0; flags < 256; flags++) {
        for (const length of [1, 2, 5, 9]) {
          const bytes = new Uint8Array(length);
          bytes[0] = flags;
          assert.deepEqual(frameProblems(decode, bytes, { nowMs: NOW_MS }), []);
        }
      }
    }
  });
});
