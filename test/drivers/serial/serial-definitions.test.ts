import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crc16Mcrf4xx } from "../../../src/drivers/profiles/crc16-mcrf4xx.js";
import { computeChecksum, FrameSplitter, hex, safeDecode } from "../../../src/drivers/sdk.js";
import { registerConformanceTests } from "../../../src/drivers/sdk-conformance.js";
import {
  asciiBedsideDefinition,
  asciiChecksum,
  encodeAsciiBedside,
} from "../../../src/drivers/serial/ascii-bedside.js";
import { binaryBedside, encodeBinaryBedside } from "../../../src/drivers/serial/binary-bedside.js";
import { UNREADABLE_CONTACT_STATUS } from "../../../src/reading.js";

const ctx = { nowMs: Date.UTC(2026, 0, 1) };
const ascii = asciiBedsideDefinition({ PULSE: { kind: "pulse_rate", unit: "/min" } });

registerConformanceTests([ascii, binaryBedside], { nowMs: ctx.nowMs, numRuns: 150 });

describe("serial definitions: ascii-bedside", () => {
  it("checks the NMEA-style XOR checksum and maps labels", () => {
    // V^S^,^H^R^=^7^2 = 0x0B (worked by hand)
    assert.equal(asciiChecksum("VS,HR=72"), "0B");
    const line = encodeAsciiBedside({ HR: 72, PULSE: 70, SPO2: null, PROBE: 0, BAT: 40, EXTRA: 5 });
    const out = safeDecode(ascii.serial!.decode, line, ctx);
    assert.ok(out.ok);
    assert.deepEqual(
      out.result.readings.map((r) => [r.kind, r.value]),
      [
        ["heart_rate", 72],
        ["pulse_rate", 70],
      ],
    );
    assert.deepEqual(out.result.absent, [{ kind: "spo2", reason: "measurement_unavailable" }]);
    assert.deepEqual(out.result.status, { sensorContact: false, batteryPct: 40 });
    assert.deepEqual((out.result.details as { unmapped: string[] }).unmapped, ["EXTRA"]);
  });

  it("never reads a blank probe field as contact: the line's values are flagged signal_unreliable", () => {
    const line = encodeAsciiBedside({ HR: 175, SPO2: 97, PROBE: null });
    const out = safeDecode(ascii.serial!.decode, line, ctx);
    assert.ok(out.ok);
    assert.deepEqual(
      out.result.readings.map((r) => [r.kind, r.flags]),
      [
        ["heart_rate", ["signal_unreliable"]],
        ["spo2", ["signal_unreliable"]],
      ],
    );
    assert.deepEqual(out.result.status, { measurementIssues: [UNREADABLE_CONTACT_STATUS] });
  });

  it("refuses a wrong checksum, a non-number and a line that is not a sentence", () => {
    const bad = Buffer.from(encodeAsciiBedside({ HR: 72 }))
      .toString()
      .replace(/\*..$/, "*00");
    const reason = (text: string) => {
      const o = safeDecode(ascii.serial!.decode, Buffer.from(text), ctx);
      return o.ok ? "ok" : o.reason;
    };
    assert.equal(reason(bad), "checksum_mismatch");
    assert.equal(reason(`$VS,HR=7x*${asciiChecksum("VS,HR=7x")}`), "field_invalid");
    assert.equal(reason("hello"), "frame_unrecognised");
    assert.equal(reason(`noise$VS,HR=80*${asciiChecksum("VS,HR=80")}`), "ok");
  });
});

describe("serial definitions: binary-bedside and checksummed framing", () => {
  it("frames, verifies the sum8 checksum and decodes SFLOAT records", () => {
    const wire = encodeBinaryBedside(3, { heart_rate: 72, body_temperature: 36.8, battery: 80 }, true);
    const s = new FrameSplitter(binaryBedside.serial!.framing);
    const [frame] = s.push(wire);
    assert.ok(frame);
    const out = safeDecode(binaryBedside.serial!.decode, frame, ctx);
    assert.ok(out.ok);
    assert.deepEqual(
      out.result.readings.map((r) => [r.kind, r.value, r.flags]),
      [
        ["heart_rate", 72, ["sensor_contact_lost"]],
        ["body_temperature", 36.8, ["sensor_contact_lost"]],
      ],
    );
    assert.deepEqual(out.result.status, { sensorContact: false, batteryPct: 80 });
    assert.deepEqual(binaryBedside.serial!.ack!(frame), Uint8Array.of(0x06, 3));
  });

  it("drops a frame with a bad checksum and rescans from the octet after its start octet", () => {
    const good = encodeBinaryBedside(1, { heart_rate: 60 });
    const s = new FrameSplitter(binaryBedside.serial!.framing);
    // a false start A5 with length 3 swallows the good frame's first octets; its checksum fails
    const events = s.pushDetailed(Uint8Array.of(0xa5, 0x03, ...good));
    assert.deepEqual(
      events.map((e) => (e.ok ? "frame" : e.reason)),
      ["checksum_mismatch", "frame"],
    );
    assert.equal(s.checksumErrors, 1);
  });

  it("gives up a stalled partial frame on flush and recovers the frame behind it", () => {
    const good = encodeBinaryBedside(2, { spo2: 97 });
    const s = new FrameSplitter(binaryBedside.serial!.framing);
    assert.deepEqual(s.pushDetailed(Uint8Array.of(0xa5, 0x3f, ...good)), []);
    assert.deepEqual(
      s.flush().map((e) => (e.ok ? "frame" : e.reason)),
      ["frame_incomplete", "frame"],
    );
    assert.equal(s.pending, 0);
  });

  it("verifies a CRC-16/MCRF4XX trailer, stored little-endian, over the length and payload", () => {
    const framing = {
      type: "length_prefixed",
      startByte: 0x7e,
      lengthOctets: 1,
      maxFrameBytes: 8,
      checksum: "crc16_mcrf4xx",
    } as const;
    const covered = hex("02 01 02");
    const crc = computeChecksum("crc16_mcrf4xx", covered);
    assert.deepEqual(crc, Uint8Array.of(crc16Mcrf4xx(covered) & 0xff, crc16Mcrf4xx(covered) >>> 8));
    const s = new FrameSplitter(framing);
    assert.deepEqual(s.push(Uint8Array.of(0x7e, ...covered, ...crc)), [hex("01 02")]);
    assert.deepEqual(s.push(Uint8Array.of(0x7e, ...covered, crc[1]!, crc[0]!)), []);
    assert.equal(s.checksumErrors, 1);
  });
});
