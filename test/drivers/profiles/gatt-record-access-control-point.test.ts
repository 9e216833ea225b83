import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../src/drivers/profiles/decode-error.js";
import {
  decodeRacpResponse,
  encodeRacpRequest,
  racpReportAll,
  racpReportFrom,
} from "../../../src/drivers/profiles/gatt-record-access-control-point.js";
import { hex, toHex } from "../../../src/drivers/profiles/hex.js";

describe("GATT Record Access Control Point 0x2A52 (clinical.md §1.7.1)", () => {
  it("encodes 'get everything' as 01 01", () => {
    assert.equal(toHex(racpReportAll()), "01 01");
  });

  it("encodes 'get everything since seq N' as 01 03 01 <N LE16>", () => {
    assert.equal(toHex(racpReportFrom(0x1234)), "01 03 01 34 12");
  });

  it("encodes ≤, within-range, first, last, count, delete and abort requests", () => {
    assert.equal(
      toHex(encodeRacpRequest({ opCode: "report_stored_records", operator: "less_or_equal", max: 5 })),
      "01 02 01 05 00",
    );
    assert.equal(
      toHex(
        encodeRacpRequest({ opCode: "report_stored_records", operator: "within_range", min: 1, max: 0x0102 }),
      ),
      "01 04 01 01 00 02 01",
    );
    assert.equal(toHex(encodeRacpRequest({ opCode: "report_stored_records", operator: "first" })), "01 05");
    assert.equal(toHex(encodeRacpRequest({ opCode: "report_stored_records", operator: "last" })), "01 06");
    assert.equal(toHex(encodeRacpRequest({ opCode: "report_number_of_records", operator: "all" })), "04 01");
    assert.equal(toHex(encodeRacpRequest({ opCode: "delete_stored_records", operator: "all" })), "02 01");
    assert.equal(toHex(encodeRacpRequest({ opCode: "abort_operation", operator: "null" })), "03 00");
  });

  it("refuses an operator without its operand, or an operand it does not take (RangeError)", () => {
    assert.throws(
      () => encodeRacpRequest({ opCode: "report_stored_records", operator: "greater_or_equal" }),
      RangeError,
    );
    assert.throws(
      () => encodeRacpRequest({ opCode: "report_stored_records", operator: "within_range", min: 1 }),
      RangeError,
    );
    assert.throws(
      () => encodeRacpRequest({ opCode: "report_stored_records", operator: "all", min: 1 }),
      RangeError,
    );
    assert.throws(() => racpReportFrom(0x10000), RangeError);
  });

  it("decodes response 06 00 01 01 as success for 'report stored records'", () => {
    assert.deepEqual(decodeRacpResponse(hex("06 00 01 01")), {
      type: "response_code",
      requestOpCode: 1,
      responseCode: 1,
      response: "success",
    });
  });

  it("decodes response code 0x06 as no_records_found and unknown codes as unknown", () => {
    assert.equal(
      (decodeRacpResponse(hex("06 00 01 06")) as { response: string }).response,
      "no_records_found",
    );
    assert.equal((decodeRacpResponse(hex("06 00 01 7F")) as { response: string }).response, "unknown");
  });

  it("decodes a number-of-records response 05 00 <uint16>", () => {
    assert.deepEqual(decodeRacpResponse(hex("05 00 2C 01")), { type: "number_of_records", count: 300 });
  });

  it("rejects short responses and non-response op codes with DecodeError", () => {
    for (const text of ["", "06", "06 00 01", "05 00 2C"]) {
      assert.throws(
        () => decodeRacpResponse(hex(text)),
        (e) => e instanceof DecodeError && e.reason === "frame_too_short",
        text,
      );
    }
    assert.throws(
      () => decodeRacpResponse(hex("01 01")),
      (e) => e instanceof DecodeError && e.reason === "unknown_op_code",
    );
  });

  it("throws nothing but DecodeError for any response bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), (bytes) => {
        try {
          decodeRacpResponse(bytes);
        } catch (e) {
          assert.ok(e instanceof DecodeError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
