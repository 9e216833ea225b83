/**
 * The pieces behind the RACP fetch, without a bus: the definition's `recordAccess` (SDK validation and the
 * built-in glucose meter) and the simulated meter's RACP server [clinical.md §1.7.1].
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GlucoseRecordStore } from "../../../firmware-sim/ble-profiles.js";
import type { VitalsSample } from "../../../firmware-sim/scenarios.js";
import { genericGlucoseMeter } from "../../../src/drivers/definitions/sig-standard-devices.js";
import { decodeGlucoseMeasurement } from "../../../src/drivers/profiles/gatt-glucose-measurement.js";
import { hex, toHex } from "../../../src/drivers/profiles/hex.js";
import { definitionProblems, glucoseMeasurement, glucoseRecordAccess } from "../../../src/drivers/sdk.js";

const sample = { heartRate: 72, spo2: 97, respiratoryRate: 14, temperatureC: 36.8 } as VitalsSample;

describe("glucose record access (RACP)", () => {
  it("the built-in glucose meter declares its RACP, with canonical UUIDs and the record's sequence number", () => {
    const ra = genericGlucoseMeter.recordAccess!;
    assert.equal(ra.name, "glucose_racp");
    assert.equal(ra.service, "00001808-0000-1000-8000-00805f9b34fb");
    assert.equal(ra.characteristic, "00002a52-0000-1000-8000-00805f9b34fb");
    assert.equal(ra.records, "glucose_measurement");
    const result = decodeGlucoseMeasurement(hex("03 05 00 E8 07 03 0F 07 2D 00 00 00 5F B0 11"), {
      nowMs: 0,
    });
    assert.equal(ra.sequenceNumber(result), 5);
  });

  it("validates recordAccess with the rest of the definition", () => {
    const base = {
      vendor: "Acme",
      model: "Meter",
      sdkVersion: "^1.0.0",
      match: { transport: "ble" as const, serviceUuids: ["1808"] },
      notify: [glucoseMeasurement()],
    };
    assert.deepEqual(definitionProblems({ ...base, recordAccess: glucoseRecordAccess() }), []);
    assert.deepEqual(
      definitionProblems({ ...base, recordAccess: glucoseRecordAccess({ records: "nope" }) }),
      ["recordAccess.records must name one of the notify bindings"],
    );
    assert.deepEqual(
      definitionProblems({ ...base, recordAccess: { ...glucoseRecordAccess(), characteristic: "xyz" } }),
      ["recordAccess.characteristic must be a UUID"],
    );
  });

  it("the simulated meter answers report-stored-records requests by sequence number", () => {
    const store = new GlucoseRecordStore();
    assert.deepEqual(toHex(store.answer(hex("01 01")).response), "06 00 01 06"); // no records found
    for (let k = 0; k < 5; k++) store.add(sample, Date.UTC(2024, 2, 15, 7, k * 5));
    const all = store.answer(hex("01 01"));
    assert.equal(all.frames.length, 5);
    assert.equal(toHex(all.response), "06 00 01 01");
    const since4 = store.answer(hex("01 03 01 04 00"));
    assert.deepEqual(
      since4.frames.map((f) => decodeGlucoseMeasurement(f, { nowMs: 0 }).details.sequenceNumber),
      [4, 5],
    );
    assert.equal(toHex(store.answer(hex("01 03 01 06 00")).response), "06 00 01 06");
    assert.equal(toHex(store.answer(hex("01 00")).response), "06 00 01 03"); // invalid operator
    store.failNextWith = 0x08;
    const failed = store.answer(hex("01 01"));
    assert.deepEqual([failed.frames.length, toHex(failed.response)], [0, "06 00 01 08"]);
    assert.equal(store.requests.length, 6);
  });
});
