/**
 * Glucose Measurement 0x2A18 Sensor Status Annunciation [clinical.md §1.7; §5.2 "Signal-quality gating": use
 * glucose SSA]: which bits keep the reading out of the physiological rules, byte-exact real frames.
 *
 * Every frame below is `0B 07 00 E8 07 03 0F 07 2D 00 00 00 5F B0 11 <SSA lo> <SSA hi>`: flags 0x0B (time
 * offset, concentration + type/location, SSA; kg/L), sequence 7, base time 2024-03-15 07:45:00, offset 0 min,
 * 0xB05F = 95 × 10⁻⁵ kg/L = 95 mg/dL, capillary whole blood from a finger, then the SSA word little-endian.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeGlucoseMeasurement,
  GLUCOSE_SENSOR_STATUS_BITS,
} from "../../../src/drivers/profiles/gatt-glucose-measurement.js";
import { hex } from "../../../src/drivers/profiles/hex.js";
import { isSignalGated } from "../../../src/reading.js";
import { ctx } from "./fixtures.js";

const FRAME = "0B 07 00 E8 07 03 0F 07 2D 00 00 00 5F B0 11";
const withSsa = (word: number) =>
  `${FRAME} ${(word & 0xff).toString(16).padStart(2, "0")} ${(word >> 8).toString(16).padStart(2, "0")}`;
const decode = (text: string) => decodeGlucoseMeasurement(hex(text), ctx);

/** [clinical.md §1.7] the bits that make the value unreliable, and bit 11: a time fault. */
const GATING_BITS = [1, 2, 3, 4, 7, 8, 9, 10, 11];

describe("Glucose Measurement 0x2A18 Sensor Status Annunciation gating", () => {
  it("reads the frame byte-exact: 95 mg/dL with no SSA bit set, nothing gated, status naming no issue", () => {
    const res = decode(withSsa(0x0000));
    assert.equal(hex(withSsa(0)).length, 17);
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
    assert.deepEqual(res.status, { measurementIssues: [] });
    assert.deepEqual(res.conditions, []);
  });

  for (const bit of GATING_BITS) {
    const name = GLUCOSE_SENSOR_STATUS_BITS[bit as keyof typeof GLUCOSE_SENSOR_STATUS_BITS];
    it(`keeps the value out of the physiological rules on bit ${bit} (${name}) and names it in the status`, () => {
      const res = decode(withSsa(1 << bit));
      assert.equal(res.readings.length, 1);
      assert.equal(res.readings[0]!.value, 95);
      assert.ok(res.readings[0]!.flags?.includes("signal_unreliable"), String(res.readings[0]!.flags));
      assert.ok(isSignalGated(res.readings[0]!.flags ?? []));
      assert.deepEqual(res.status, { measurementIssues: [name] });
      assert.equal(res.conditions.length, 1);
    });
  }

  it("names every gating bit of a frame, in bit order: 0x0208 is strip insertion error and read interrupted", () => {
    const res = decode(`${FRAME} 08 02`);
    assert.deepEqual(res.status, { measurementIssues: ["strip_insertion_error", "read_interrupted"] });
    assert.deepEqual(res.readings[0]!.flags, ["device_reported_issue", "signal_unreliable"]);
    assert.deepEqual(res.conditions, ["sample_error"]);
  });

  it("does not gate a low battery: the result stands, the condition is battery_low [bit 0]", () => {
    const res = decode(withSsa(0x0001));
    assert.equal(res.readings[0]!.flags, undefined);
    assert.deepEqual(res.status, { measurementIssues: [] });
    assert.deepEqual(res.conditions, ["battery_low"]);
  });

  it("does not gate a result beyond the device's range, so HI and LO still alarm [bits 5, 6]", () => {
    for (const word of [1 << 5, 1 << 6]) {
      const res = decode(withSsa(word));
      assert.equal(res.readings[0]!.flags, undefined);
      assert.equal(isSignalGated(res.readings[0]!.flags ?? []), false);
      assert.deepEqual(res.conditions, ["result_out_of_device_range"]);
    }
  });

  it("ignores the RFU bits 12–15 [clinical.md §1.0]", () => {
    const res = decode(withSsa(0xf000));
    assert.equal(res.readings[0]!.flags, undefined);
    assert.deepEqual(res.status, { measurementIssues: [] });
    assert.deepEqual(res.details.sensorStatusNames, []);
  });

  it("says nothing of the status when the frame carries no SSA field", () => {
    const res = decode("03 05 00 E8 07 03 0F 07 2D 00 00 00 5F B0 11");
    assert.equal(res.status, undefined);
    assert.equal(res.readings[0]!.flags, undefined);
  });
});
