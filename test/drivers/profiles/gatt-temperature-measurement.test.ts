import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/drivers/profiles/decode-error.js";
import { encodeTemperatureMeasurement } from "../../../src/drivers/profiles/encode-temperature-measurement.js";
import { decodeTemperatureMeasurement } from "../../../src/drivers/profiles/gatt-temperature-measurement.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import { normaliseInput } from "../../../src/reading.js";
import { ctx, flagCombinations, NOW_MS } from "./fixtures.js";

const decode = (text: string) => decodeTemperatureMeasurement(hex(text), ctx);

describe("GATT Temperature Measurement 0x2A1C (clinical.md §1.4)", () => {
  it("decodes 06 6C 01 00 FF … 06: 36.4 °C at 2024-03-15 08:30:00, mouth", () => {
    const res = decode("06 6C 01 00 FF E8 07 03 0F 08 1E 00 06");
    assert.deepEqual(res.readings, [
      {
        kind: "body_temperature",
        value: 36.4,
        unit: "Cel",
        deviceTimeMs: Date.UTC(2024, 2, 15, 8, 30),
        mdc: 150364,
        decimals: 1,
      },
    ]);
    assert.equal(res.details.site, "mouth");
    assert.equal(res.details.temperatureType, 6);
  });

  it("decodes the Nordic vector: 37.60 °C (2 decimals) at 2012-12-05 11:50:27, finger", () => {
    const res = decode("06 B0 0E 00 FE DC 07 0C 05 0B 32 1B 04");
    assert.equal(res.readings[0]?.value, 37.6);
    assert.equal(res.readings[0]?.decimals, 2);
    assert.equal(res.readings[0]?.deviceTimeMs, Date.UTC(2012, 11, 5, 11, 50, 27));
    assert.equal(res.details.site, "finger");
  });

  it("decodes 01 DA 03 00 FF as 98.6 [degF], which ingest converts to 37.0 Cel", () => {
    const res = decode("01 DA 03 00 FF");
    assert.equal(res.readings[0]?.unit, "[degF]");
    assert.equal(res.readings[0]?.value, 98.6);
    const n = normaliseInput(res.readings[0]!, NOW_MS);
    assert.ok(n.ok);
    assert.equal(n.value.value, 37);
    assert.equal(n.value.unit, "Cel");
  });

  it("gives no reading but an absent reason for each FLOAT special value", () => {
    for (const [word, special] of [
      ["FF FF 7F 00", "nan"],
      ["00 00 80 00", "nres"],
      ["FE FF 7F 00", "positive_infinity"],
      ["02 00 80 00", "negative_infinity"],
      ["01 00 80 00", "reserved"],
    ] as const) {
      const res = decode(`00 ${word}`);
      assert.deepEqual(res.readings, []);
      assert.deepEqual(res.absent, [{ kind: "body_temperature", reason: special }]);
    }
  });

  it("rejects a temperature at the hard limits (≤10 or ≥50 °C) as absent", () => {
    assert.deepEqual(decode("00 0A 00 00 00").absent, [
      { kind: "body_temperature", reason: "below_physiologic_limit" },
    ]);
    assert.deepEqual(decode("00 32 00 00 00").absent, [
      { kind: "body_temperature", reason: "above_physiologic_limit" },
    ]);
  });

  it("leaves RFU temperature types unnamed and the timestamp out when the date is not known", () => {
    const res = decode("06 6C 01 00 FF 00 00 00 00 00 00 00 0A");
    assert.equal(res.details.site, undefined);
    assert.equal(res.details.temperatureType, 10);
    assert.equal(res.readings[0]?.deviceTimeMs, undefined);
  });

  it("rejects short frames as frame_too_short", () => {
    const full = hex("06 6C 01 00 FF E8 07 03 0F 08 1E 00 06");
    for (let n = 0; n < full.length; n++) {
      assert.throws(
        () => decodeTemperatureMeasurement(full.subarray(0, n), ctx),
        (e) => e instanceof DecodeError && e.reason === "frame_too_short",
      );
    }
  });

  it("decodes every flag combination as encoded", () => {
    for (const flags of flagCombinations([0x01, 0x02, 0x04])) {
      const unit = flags & 0x01 ? ("[degF]" as const) : ("Cel" as const);
      const bytes = encodeTemperatureMeasurement({
        temperature: unit === "Cel" ? 38.25 : 100.9,
        unit,
        timeStamp: flags & 0x02 ? Date.UTC(2024, 5, 1, 12) : undefined,
        temperatureType: flags & 0x04 ? 9 : undefined,
      });
      assert.equal(bytes[0], flags);
      const res = decodeTemperatureMeasurement(bytes, ctx);
      assert.equal(res.readings[0]?.unit, unit);
      assert.equal(res.readings[0]?.value, unit === "Cel" ? 38.25 : 100.9);
      assert.equal(res.readings[0]?.deviceTimeMs, flags & 0x02 ? Date.UTC(2024, 5, 1, 12) : undefined);
      assert.equal(res.details.site, flags & 0x04 ? "tympanum" : undefined);
    }
  });

  it("round-trips random temperatures (FLOAT mantissa/exponent) through the encoder", () => {
    fc.assert(
      fc.property(fc.integer({ min: -8388605, max: 8388605 }), fc.integer({ min: -10, max: 5 }), (m, e) => {
        const res = decodeTemperatureMeasurement(
          encodeTemperatureMeasurement({ temperature: { mantissa: m, exponent: e } }),
          ctx,
        );
        assert.deepEqual(res.details.temperature, {
          ok: true,
          value: Number(`${m}e${e}`),
          mantissa: m,
          exponent: e,
          decimals: Math.max(0, -e),
        });
        assert.equal(res.readings.length + res.absent.length, 1);
      }),
      { numRuns: 500 },
    );
  });
});
