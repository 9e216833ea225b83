import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/drivers/profiles/decode-error.js";
import { encodeGlucoseMeasurement } from "../../../src/drivers/profiles/encode-glucose-measurement.js";
import { decodeGlucoseMeasurement } from "../../../src/drivers/profiles/gatt-glucose-measurement.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import { normaliseInput } from "../../../src/reading.js";
import { ctx, flagCombinations, NOW_MS } from "./fixtures.js";

const decode = (text: string) => decodeGlucoseMeasurement(hex(text), ctx);
const BASE = { year: 2024, month: 3, day: 15, hours: 7, minutes: 50, seconds: 0 };

describe("GATT Glucose Measurement 0x2A18 (clinical.md §1.7)", () => {
  it("decodes 03 05 00 … 5F B0 11: seq 5, 95 mg/dL capillary whole blood, finger, at 07:45", () => {
    const res = decode("03 05 00 E8 07 03 0F 07 2D 00 00 00 5F B0 11");
    assert.deepEqual(res.readings, [
      {
        kind: "glucose",
        value: 95,
        unit: "mg/dL",
        deviceTimeMs: Date.UTC(2024, 2, 15, 7, 45),
        mdc: 160184,
        decimals: 0,
      },
    ]);
    assert.equal(res.details.sequenceNumber, 5);
    assert.equal(res.details.timeOffsetMin, 0);
    assert.equal(res.details.sampleTypeName, "capillary_whole_blood");
    assert.equal(res.details.sampleLocationName, "finger");
    assert.equal(res.details.loinc, "41653-7");
    const n = normaliseInput(res.readings[0]!, NOW_MS);
    assert.ok(n.ok);
    assert.equal(n.value.loinc, "41653-7");
  });

  it("decodes 0F 06 00 …: base 07:50 − 5 min = 07:45, 5.3 mmol/L (LOINC 14743-9), battery low", () => {
    const res = decode("0F 06 00 E8 07 03 0F 07 32 00 FB FF 35 C0 11 01 00");
    assert.deepEqual(res.readings, [
      {
        kind: "glucose",
        value: 5.3,
        unit: "mmol/L",
        deviceTimeMs: Date.UTC(2024, 2, 15, 7, 45),
        mdc: 160184,
        decimals: 1,
      },
    ]);
    assert.equal(res.details.timeOffsetMin, -5);
    assert.equal(res.details.loinc, "14743-9");
    assert.deepEqual(res.details.sensorStatusNames, ["device_battery_low"]);
    assert.deepEqual(res.conditions, ["battery_low"]);
  });

  it("decodes the Nordic vector 1B 01 00 …: offset −5, 30 kg/L test value, type 2 / location 1, SSA 0x0105, context follows", () => {
    const res = decode("1B 01 00 E3 07 02 1B 0B 0A 1E FB FF 1E 00 12 05 01");
    assert.equal(res.details.sequenceNumber, 1);
    assert.deepEqual(res.details.baseTime, {
      year: 2019,
      month: 2,
      day: 27,
      hours: 11,
      minutes: 10,
      seconds: 30,
    });
    assert.equal(res.details.timeOffsetMin, -5);
    assert.equal(res.details.concentration?.ok && res.details.concentration.value, 30);
    assert.equal(res.details.concentrationUnit, "kg/L");
    assert.equal(res.readings[0]?.value, 3_000_000);
    assert.equal(res.readings[0]?.deviceTimeMs, Date.UTC(2019, 1, 27, 11, 5, 30));
    assert.equal(res.details.sampleType, 2);
    assert.equal(res.details.sampleLocation, 1);
    assert.equal(res.details.sensorStatus, 0x0105);
    assert.deepEqual(res.details.sensorStatusNames, [
      "device_battery_low",
      "sample_size_insufficient",
      "sensor_temperature_too_low",
    ]);
    assert.equal(res.details.contextFollows, true);
    assert.deepEqual(res.readings[0]?.flags, ["device_reported_issue", "signal_unreliable"]);
    assert.deepEqual(res.status, {
      measurementIssues: ["sample_size_insufficient", "sensor_temperature_too_low"],
    });
  });

  it("chooses the LOINC by sample type, the pair member by unit", () => {
    const expect: Record<number, [string | undefined, string | undefined]> = {
      1: ["41653-7", "14743-9"],
      2: ["2345-7", "14749-6"],
      3: ["2339-0", "15074-8"],
      4: ["2345-7", "14749-6"],
      5: ["2339-0", "15074-8"],
      6: ["2345-7", "14749-6"],
      7: ["2339-0", "15074-8"],
      8: ["2345-7", "14749-6"],
      9: ["99504-3", "105272-9"],
      0: [undefined, undefined],
      11: [undefined, undefined],
    };
    for (const [type, [mass, molar]] of Object.entries(expect)) {
      for (const unit of ["kg/L", "mol/L"] as const) {
        const res = decodeGlucoseMeasurement(
          encodeGlucoseMeasurement({
            sequenceNumber: 1,
            baseTime: BASE,
            concentration: unit === "kg/L" ? 0.001 : 0.0055,
            concentrationUnit: unit,
            sampleType: Number(type),
          }),
          ctx,
        );
        assert.equal(res.details.loinc, unit === "kg/L" ? mass : molar, `type ${type} ${unit}`);
      }
    }
  });

  it("drops control-solution readings (type 10 or location 4) as patient data", () => {
    for (const [sampleType, sampleLocation] of [
      [10, 1],
      [1, 4],
    ]) {
      const res = decodeGlucoseMeasurement(
        encodeGlucoseMeasurement({
          sequenceNumber: 9,
          baseTime: BASE,
          concentration: 0.001,
          sampleType,
          sampleLocation,
        }),
        ctx,
      );
      assert.deepEqual(res.readings, []);
      assert.deepEqual(res.absent, [{ kind: "glucose", reason: "control_solution" }]);
      assert.deepEqual(res.conditions, ["control_solution"]);
    }
  });

  it("keeps a 'result higher than device can process' value unflagged so HI still alerts, and names it", () => {
    const res = decodeGlucoseMeasurement(
      encodeGlucoseMeasurement({
        sequenceNumber: 2,
        baseTime: BASE,
        concentration: 0.006,
        sensorStatus: 1 << 5,
      }),
      ctx,
    );
    assert.equal(res.readings[0]?.value, 600);
    assert.equal(res.readings[0]?.flags, undefined);
    assert.deepEqual(res.conditions, ["result_out_of_device_range"]);
  });

  it("gives no timestamp when the base time is unknown, and flags a time fault, which gates the value", () => {
    const res = decodeGlucoseMeasurement(
      encodeGlucoseMeasurement({
        sequenceNumber: 3,
        baseTime: { ...BASE, year: 0 },
        timeOffsetMin: 10,
        concentration: 0.001,
        sensorStatus: 1 << 11,
      }),
      ctx,
    );
    assert.equal(res.readings[0]?.deviceTimeMs, undefined);
    assert.deepEqual(res.readings[0]?.flags, ["clock_drift", "signal_unreliable"]);
    assert.deepEqual(res.conditions, ["time_fault"]);
    assert.deepEqual(res.status, { measurementIssues: ["time_fault"] });
  });

  it("keeps the sequence number of a record without concentration, which yields no reading", () => {
    const res = decode("00 2A 00 E8 07 03 0F 07 2D 00");
    assert.equal(res.details.sequenceNumber, 42);
    assert.deepEqual(res.readings, []);
    assert.deepEqual(res.absent, []);
  });

  it("rejects frames shorter than the flags require (minimum 10 octets)", () => {
    const full = hex("0F 06 00 E8 07 03 0F 07 32 00 FB FF 35 C0 11 01 00");
    for (let n = 0; n < full.length; n++) {
      assert.throws(
        () => decodeGlucoseMeasurement(full.subarray(0, n), ctx),
        (e) => e instanceof DecodeError && e.reason === "frame_too_short",
      );
    }
  });

  it("decodes every flag combination as encoded", () => {
    for (const flags of flagCombinations([0x01, 0x02, 0x04, 0x08, 0x10])) {
      const hasConc = (flags & 0x02) !== 0;
      const molar = (flags & 0x04) !== 0;
      const bytes = encodeGlucoseMeasurement({
        sequenceNumber: flags,
        baseTime: BASE,
        timeOffsetMin: flags & 0x01 ? -15 : undefined,
        concentration: hasConc ? (molar ? 0.0061 : 0.0011) : undefined,
        concentrationUnit: molar ? "mol/L" : "kg/L",
        sensorStatus: flags & 0x08 ? 0 : undefined,
        contextFollows: (flags & 0x10) !== 0,
      });
      // the unit bit is only written together with a concentration
      assert.equal(bytes[0], hasConc ? flags : flags & ~0x04);
      const res = decodeGlucoseMeasurement(bytes, ctx);
      assert.equal(res.details.sequenceNumber, flags);
      assert.equal(res.details.timeOffsetMin, flags & 0x01 ? -15 : undefined);
      assert.deepEqual(
        res.readings.map((r) => [r.value, r.unit, r.deviceTimeMs]),
        hasConc
          ? [
              [
                molar ? 6.1 : 110,
                molar ? "mmol/L" : "mg/dL",
                Date.UTC(2024, 2, 15, 7, flags & 0x01 ? 35 : 50),
              ],
            ]
          : [],
      );
      assert.equal(res.details.sensorStatus, flags & 0x08 ? 0 : undefined);
      assert.equal(res.details.contextFollows, (flags & 0x10) !== 0);
    }
  });

  it("converts kg/L and mol/L by exact decimal shifts for every SFLOAT mantissa/exponent", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2045 }),
        fc.integer({ min: -8, max: -1 }),
        fc.boolean(),
        fc.integer({ min: -0x8000, max: 0x7fff }),
        (m, e, molar, offset) => {
          const res = decodeGlucoseMeasurement(
            encodeGlucoseMeasurement({
              sequenceNumber: 7,
              baseTime: BASE,
              timeOffsetMin: offset,
              concentration: { mantissa: m, exponent: e },
              concentrationUnit: molar ? "mol/L" : "kg/L",
            }),
            ctx,
          );
          const value = Number(`${m}e${e + (molar ? 3 : 5)}`);
          assert.equal(res.details.concentration?.ok && res.details.concentration.value, Number(`${m}e${e}`));
          if (Math.round(value * 100) === 0) {
            // below the 2 decimals ingest keeps: ≤ 0 after rounding, so absent with ingest's reason
            assert.deepEqual(res.absent, [{ kind: "glucose", reason: "below_physiologic_limit" }]);
          } else {
            assert.equal(res.readings[0]?.value, value);
            assert.equal(res.readings[0]?.deviceTimeMs, Date.UTC(2024, 2, 15, 7, 50) + offset * 60_000);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
