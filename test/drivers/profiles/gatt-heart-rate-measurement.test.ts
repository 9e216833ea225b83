import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/drivers/profiles/decode-error.js";
import { encodeHeartRateMeasurement } from "../../../src/drivers/profiles/encode-heart-rate-measurement.js";
import { decodeHeartRateMeasurement } from "../../../src/drivers/profiles/gatt-heart-rate-measurement.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import { ctx, flagCombinations } from "./fixtures.js";

const decode = (text: string) => decodeHeartRateMeasurement(hex(text), ctx);

describe("GATT Heart Rate Measurement 0x2A37 (clinical.md §1.3)", () => {
  it("decodes 16 48 55 03 40 03: 72 bpm, contact detected, RR 833.0 and 812.5 ms", () => {
    const res = decode("16 48 55 03 40 03");
    assert.deepEqual(res.readings, [
      { kind: "heart_rate", value: 72, unit: "/min", mdc: 147842, decimals: 0 },
    ]);
    assert.deepEqual(res.status, { sensorContact: true });
    assert.equal(res.details.sensorContact, "detected");
    assert.deepEqual(res.details.rrIntervalsRaw, [853, 832]);
    assert.deepEqual(
      res.details.rrIntervalsMs.map((ms) => Math.round(ms * 10) / 10),
      [833, 812.5],
    );
    assert.equal(res.details.energyExpendedKj, undefined);
  });

  it("decodes 19 4E 00 2C 01 00 04: uint16 78 bpm, contact not supported, EE 300 kJ, RR 1000 ms", () => {
    const res = decode("19 4E 00 2C 01 00 04");
    assert.equal(res.readings[0]?.value, 78);
    assert.equal(res.details.format, "uint16");
    assert.equal(res.details.sensorContact, "not_supported");
    assert.equal(res.status, undefined);
    assert.equal(res.details.energyExpendedKj, 300);
    assert.deepEqual(res.details.rrIntervalsMs, [1000]);
  });

  it("maps sensor contact bits: 0/1 unsupported, 2 lost (flag + condition), 3 detected", () => {
    assert.equal(decode("00 48").details.sensorContact, "not_supported");
    assert.equal(decode("02 48").details.sensorContact, "not_supported");
    const lost = decode("04 48");
    assert.equal(lost.details.sensorContact, "not_detected");
    assert.deepEqual(lost.status, { sensorContact: false });
    assert.deepEqual(lost.conditions, ["sensor_contact_lost"]);
    assert.deepEqual(lost.readings[0]?.flags, ["sensor_contact_lost"]);
    assert.deepEqual(decode("06 48").status, { sensorContact: true });
  });

  it("ignores RFU flag bits 5–7", () => {
    assert.deepEqual(decode("E0 48").readings, decode("00 48").readings);
  });

  it("moves an HR of 0 or ≥ 300 to absent with ingest's reason", () => {
    assert.deepEqual(decode("00 00").absent, [{ kind: "heart_rate", reason: "below_physiologic_limit" }]);
    assert.deepEqual(decode("01 2C 01").absent, [{ kind: "heart_rate", reason: "above_physiologic_limit" }]);
    assert.equal(decode("01 2B 01").readings[0]?.value, 299);
  });

  it("rejects a frame whose RR flag promises intervals it does not carry (frame_too_short), and an odd RR octet", () => {
    for (const text of ["10 48", "11 48 00", "18 48 2C 01", "16 48"]) {
      assert.throws(
        () => decode(text),
        (e) =>
          e instanceof DecodeError && e.reason === "frame_too_short" && e.offset === text.split(" ").length,
        text,
      );
    }
    assert.throws(
      () => decode("10 48 55"),
      (e) => e instanceof DecodeError && e.reason === "frame_length_invalid",
    );
    assert.deepEqual(decode("10 48 00 04").details.rrIntervalsRaw, [1024]);
  });

  it("rejects every frame shorter than its flags require as frame_too_short", () => {
    for (const text of ["", "00", "01 48", "08 48 2C", "19 4E"]) {
      assert.throws(
        () => decode(text),
        (e) => e instanceof DecodeError && e.reason === "frame_too_short",
        text,
      );
    }
  });

  it("decodes every combination of the flag bits as encoded", () => {
    for (const flags of flagCombinations([0x01, 0x02, 0x04, 0x08, 0x10])) {
      const contact = (["not_supported", "not_supported", "not_detected", "detected"] as const)[
        (flags >> 1) & 3
      ];
      const fields = {
        heartRate: 61,
        format: flags & 0x01 ? ("uint16" as const) : ("uint8" as const),
        sensorContact: contact,
        energyExpendedKj: flags & 0x08 ? 1234 : undefined,
        rrIntervalsRaw: flags & 0x10 ? [1000, 1010] : undefined,
      };
      const bytes = encodeHeartRateMeasurement(fields);
      const res = decodeHeartRateMeasurement(bytes, ctx);
      assert.equal(res.readings[0]?.value, 61);
      assert.equal(res.details.format, fields.format);
      assert.equal(res.details.sensorContact, contact);
      assert.equal(res.details.energyExpendedKj, fields.energyExpendedKj);
      assert.deepEqual(res.details.rrIntervalsRaw, fields.rrIntervalsRaw ?? []);
    }
  });

  it("round-trips random field sets through the encoder", () => {
    fc.assert(
      fc.property(
        fc.record({
          heartRate: fc.integer({ min: 0, max: 0xffff }),
          sensorContact: fc.constantFrom("not_supported", "not_detected", "detected" as const),
          energyExpendedKj: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
          // the RR flag promises at least one interval: an empty list is the malformed frame tested above
          rrIntervalsRaw: fc.option(
            fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 9 }),
            { nil: undefined },
          ),
        }),
        (f) => {
          const res = decodeHeartRateMeasurement(encodeHeartRateMeasurement(f), ctx);
          assert.equal(res.details.heartRate, f.heartRate);
          assert.equal(res.details.sensorContact, f.sensorContact);
          assert.equal(res.details.energyExpendedKj, f.energyExpendedKj);
          assert.deepEqual(res.details.rrIntervalsRaw, f.rrIntervalsRaw ?? []);
          assert.equal(res.readings.length + res.absent.length, 1);
        },
      ),
      { numRuns: 500 },
    );
  });
});
