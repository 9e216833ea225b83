import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { crc16Mcrf4xx } from "../../../src/drivers/profiles/crc16-mcrf4xx.js";
import { DecodeError } from "../../../src/drivers/profiles/decode-error.js";
import {
  encodeCgmMeasurement,
  encodeCgmRecord,
} from "../../../src/drivers/profiles/encode-cgm-measurement.js";
import { decodeCgmMeasurement } from "../../../src/drivers/profiles/gatt-cgm-measurement.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import { ctx, flagCombinations } from "./fixtures.js";

const NORDIC = "0F E3 D2 E4 05 00 02 14 FF 02 F0 E5 F3 8E 3F";
const decode = (text: string, extra = {}) => decodeCgmMeasurement(hex(text), { ...ctx, ...extra });
const reason = (r: string) => (e: unknown) => e instanceof DecodeError && e.reason === r;

describe("GATT CGM Measurement 0x2AA7 (clinical.md §1.9)", () => {
  it("computes the E2E-CRC as CRC-16/MCRF4XX: 0x3F8E for the Nordic record (not CCITT-FALSE's 0xA0C3)", () => {
    assert.equal(crc16Mcrf4xx(hex(NORDIC), 0, 13), 0x3f8e);
    // the CRC catalogue check value of CRC-16/MCRF4XX over "123456789"
    assert.equal(crc16Mcrf4xx(new TextEncoder().encode("123456789")), 0x6f91);
  });

  it("decodes the Nordic record: 12.34 mg/dL, offset 5 min, SSA 02 14 FF, trend 0.2, quality 99.7 %", () => {
    const res = decode(NORDIC, { cgmSessionStartMs: Date.UTC(2024, 0, 1) });
    const rec = res.details.records[0]!;
    assert.equal(rec.size, 15);
    assert.equal(rec.flags, 0xe3);
    assert.equal(rec.glucose.ok && rec.glucose.value, 12.34);
    assert.equal(rec.timeOffsetMin, 5);
    assert.deepEqual([rec.statusOctet, rec.calTempOctet, rec.warningOctet], [0x02, 0x14, 0xff]);
    assert.equal(rec.trend?.ok && rec.trend.value, 0.2);
    assert.equal(rec.quality?.ok && rec.quality.value, 99.7);
    assert.equal(rec.e2eCrc, 0x3f8e);
    assert.deepEqual(res.readings, [
      {
        kind: "glucose",
        value: 12.34,
        unit: "mg/dL",
        deviceTimeMs: Date.UTC(2024, 0, 1, 0, 5),
        mdc: 160212,
        flags: ["device_reported_issue"],
        decimals: 2,
      },
    ]);
  });

  it("decodes 06 00 78 00 1E 00: 120 mg/dL 30 min after session start", () => {
    const res = decode("06 00 78 00 1E 00", { cgmSessionStartMs: Date.UTC(2024, 0, 1) });
    assert.deepEqual(res.readings, [
      {
        kind: "glucose",
        value: 120,
        unit: "mg/dL",
        deviceTimeMs: Date.UTC(2024, 0, 1, 0, 30),
        mdc: 160212,
        decimals: 0,
      },
    ]);
  });

  it("decodes 08 01 78 00 1E 00 F1 FF: trend −1.5 (mg/dL)/min; no device time without a session start", () => {
    const res = decode("08 01 78 00 1E 00 F1 FF");
    assert.equal(res.details.records[0]?.trend?.ok && res.details.records[0].trend.value, -1.5);
    assert.equal(res.readings[0]?.deviceTimeMs, undefined);
  });

  it("decodes several records in one notification", () => {
    const res = decode(`06 00 78 00 1E 00 08 01 7D 00 23 00 F1 FF ${NORDIC}`);
    assert.deepEqual(
      res.details.records.map((r) => r.timeOffsetMin),
      [30, 35, 5],
    );
    assert.deepEqual(
      res.readings.map((r) => r.value),
      [120, 125, 12.34],
    );
  });

  it("rejects a corrupted record as crc_mismatch", () => {
    const bytes = hex(NORDIC);
    bytes[2]! ^= 0x01;
    assert.throws(() => decodeCgmMeasurement(bytes, ctx), reason("crc_mismatch"));
    const badCrc = hex(NORDIC);
    badCrc[14]! ^= 0x80;
    assert.throws(() => decodeCgmMeasurement(badCrc, ctx), reason("crc_mismatch"));
  });

  it("requires a CRC when the CGM Feature says so (crc_missing)", () => {
    assert.throws(
      () => decodeCgmMeasurement(hex("06 00 78 00 1E 00"), ctx, { e2eCrc: "required" }),
      reason("crc_missing"),
    );
    assert.equal(decodeCgmMeasurement(hex(NORDIC), ctx, { e2eCrc: "required" }).readings.length, 1);
  });

  it("rejects sizes below 6, beyond the frame, or matching neither layout (invalid_record_size)", () => {
    assert.throws(() => decode("05 00 78 00 1E 00"), reason("invalid_record_size"));
    assert.throws(() => decode("07 00 78 00 1E 00"), reason("invalid_record_size"));
    assert.throws(() => decode("07 00 78 00 1E 00 00"), reason("invalid_record_size"));
    assert.throws(() => decode("06 00 78 00 1E 00 06 00"), reason("invalid_record_size"));
    assert.throws(() => decode(""), reason("frame_too_short"));
    assert.throws(() => decode("06 00 78"), reason("frame_too_short"));
  });

  it("reads SSA octets in wire order Status, Cal/Temp, Warning (flag bits 7, 6, 5)", () => {
    const res = decodeCgmMeasurement(
      encodeCgmRecord({ glucose: 100, timeOffsetMin: 1, statusOctet: 0x01, warningOctet: 0x80 }),
      ctx,
    );
    assert.deepEqual(res.details.records[0]?.sensorStatusNames, ["session_stopped", "above_device_range"]);
    assert.deepEqual(res.conditions, ["result_out_of_device_range", "session_stopped"]);
  });

  it("flags device_reported_issue for sensor faults, not for patient-threshold warnings", () => {
    const warn = decodeCgmMeasurement(
      encodeCgmRecord({ glucose: 60, timeOffsetMin: 1, warningOctet: 0x3f }),
      ctx,
    );
    assert.equal(warn.readings[0]?.flags, undefined);
    const fault = decodeCgmMeasurement(
      encodeCgmRecord({ glucose: 60, timeOffsetMin: 1, calTempOctet: 0x08 }),
      ctx,
    );
    assert.deepEqual(fault.readings[0]?.flags, ["device_reported_issue"]);
    assert.deepEqual(fault.conditions, ["calibration_required"]);
  });

  it("decodes every flag combination, with and without CRC, as encoded", () => {
    for (const flags of flagCombinations([0x01, 0x02, 0x20, 0x40, 0x80])) {
      for (const e2eCrc of [false, true]) {
        const fields = {
          glucose: 143,
          timeOffsetMin: 600,
          trend: flags & 0x01 ? -0.7 : undefined,
          quality: flags & 0x02 ? 95.5 : undefined,
          warningOctet: flags & 0x20 ? 0 : undefined,
          calTempOctet: flags & 0x40 ? 0 : undefined,
          statusOctet: flags & 0x80 ? 0 : undefined,
          e2eCrc,
        };
        const bytes = encodeCgmRecord(fields);
        assert.equal(bytes[1], flags);
        const rec = decodeCgmMeasurement(bytes, ctx).details.records[0]!;
        assert.equal(rec.glucose.ok && rec.glucose.value, 143);
        assert.equal(rec.trend?.ok && rec.trend.value, fields.trend);
        assert.equal(rec.quality?.ok && rec.quality.value, fields.quality);
        assert.deepEqual(
          [rec.statusOctet, rec.calTempOctet, rec.warningOctet],
          [fields.statusOctet, fields.calTempOctet, fields.warningOctet],
        );
        assert.equal(rec.e2eCrc !== undefined, e2eCrc);
      }
    }
  });

  it("round-trips random multi-record notifications; with CRC required, any single flipped bit is caught", () => {
    const record = fc.record({
      glucose: fc.integer({ min: 1, max: 2000 }),
      timeOffsetMin: fc.integer({ min: 0, max: 0xffff }),
      statusOctet: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
      calTempOctet: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
      warningOctet: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
      e2eCrc: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 4 }), fc.nat(), (records, bit) => {
        const bytes = encodeCgmMeasurement(records);
        const res = decodeCgmMeasurement(bytes, ctx);
        assert.deepEqual(
          res.details.records.map((r) => [
            r.glucose.ok && r.glucose.value,
            r.timeOffsetMin,
            r.statusOctet,
            r.calTempOctet,
            r.warningOctet,
          ]),
          records.map((r) => [r.glucose, r.timeOffsetMin, r.statusOctet, r.calTempOctet, r.warningOctet]),
        );
        if (records.length === 1 && records[0]!.e2eCrc) {
          const flipped = Uint8Array.from(bytes);
          const i = 1 + (bit % ((bytes.length - 1) * 8));
          flipped[Math.floor(i / 8)]! ^= 1 << (i % 8);
          // "required": with auto-detection a flipped Trend/Quality flag bit re-reads the CRC as a field
          assert.throws(() => decodeCgmMeasurement(flipped, ctx, { e2eCrc: "required" }), DecodeError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
