import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/drivers/profiles/decode-error.js";
import {
  decodeDateTimeCharacteristic,
  encodeDateTime,
} from "../../../src/drivers/profiles/gatt-date-time.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import { ctx, NOW_MS } from "./fixtures.js";

const reason = (r: string) => (e: unknown) => e instanceof DecodeError && e.reason === r;

describe("GATT Date Time 0x2A08 (clinical.md §1.1)", () => {
  it("decodes E8 07 03 0F 08 1E 00 as 2024-03-15 08:30:00", () => {
    const res = decodeDateTimeCharacteristic(hex("E8 07 03 0F 08 1E 00"), ctx);
    assert.equal(res.status?.deviceTimeMs, Date.UTC(2024, 2, 15, 8, 30, 0));
    assert.deepEqual(res.conditions, []);
    assert.equal(res.details.skewMs, Date.UTC(2024, 2, 15, 8, 30, 0) - NOW_MS);
  });

  it("treats device-local time with the configured UTC offset", () => {
    const res = decodeDateTimeCharacteristic(hex("E8 07 03 0F 08 1E 00"), { ...ctx, deviceUtcOffsetMin: 60 });
    assert.equal(res.status?.deviceTimeMs, Date.UTC(2024, 2, 15, 7, 30, 0));
  });

  it("treats year 0, month 0 or day 0 as 'no timestamp' (device clock not set)", () => {
    for (const [text, why] of [
      ["00 00 03 0F 08 1E 00", "year_unknown"],
      ["E8 07 00 0F 08 1E 00", "month_unknown"],
      ["E8 07 03 00 08 1E 00", "day_unknown"],
      ["00 00 00 00 00 00 00", "year_unknown"],
    ] as const) {
      const res = decodeDateTimeCharacteristic(hex(text), ctx);
      assert.equal(res.status, undefined, text);
      assert.deepEqual(res.conditions, ["clock_not_set"]);
      assert.equal(res.details.time.known, false);
      assert.equal(!res.details.time.known && res.details.time.reason, why);
    }
  });

  it("rejects impossible fields as invalid_date_time", () => {
    for (const text of [
      "2D 06 01 01 00 00 00", // year 1581
      "10 27 01 01 00 00 00", // year 10000
      "E8 07 0D 01 00 00 00", // month 13
      "E8 07 01 20 00 00 00", // day 32
      "E7 07 02 1D 00 00 00", // 2023-02-29
      "E8 07 04 1F 00 00 00", // 31 April
      "E8 07 01 01 18 00 00", // hour 24
      "E8 07 01 01 00 3C 00", // minute 60
      "E8 07 01 01 00 00 3C", // second 60
    ]) {
      assert.throws(() => decodeDateTimeCharacteristic(hex(text), ctx), reason("invalid_date_time"), text);
    }
  });

  it("accepts the range limits: 1582-01-01, 9999-12-31 23:59:59 and 29 February of a leap year", () => {
    assert.equal(
      decodeDateTimeCharacteristic(hex("2E 06 01 01 00 00 00"), ctx).status?.deviceTimeMs,
      Date.UTC(1582, 0, 1),
    );
    assert.equal(
      decodeDateTimeCharacteristic(hex("0F 27 0C 1F 17 3B 3B"), ctx).status?.deviceTimeMs,
      Date.UTC(9999, 11, 31, 23, 59, 59),
    );
    assert.equal(
      decodeDateTimeCharacteristic(hex("E8 07 02 1D 00 00 00"), ctx).status?.deviceTimeMs,
      Date.UTC(2024, 1, 29),
    );
  });

  it("rejects fewer than 7 octets as frame_too_short", () => {
    for (let n = 0; n < 7; n++) {
      assert.throws(
        () => decodeDateTimeCharacteristic(hex("E8 07 03 0F 08 1E 00").subarray(0, n), ctx),
        reason("frame_too_short"),
      );
    }
  });

  it("round-trips every instant in the valid range through the encoder, at any UTC offset", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1582, 0, 2), max: Date.UTC(9999, 11, 30) }),
        fc.integer({ min: -720, max: 840 }),
        (ms, offset) => {
          const whole = ms - (ms % 1000);
          const res = decodeDateTimeCharacteristic(encodeDateTime(whole, offset), {
            ...ctx,
            deviceUtcOffsetMin: offset,
          });
          assert.equal(res.status?.deviceTimeMs, whole);
        },
      ),
      { numRuns: 500 },
    );
  });
});
