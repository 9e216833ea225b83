import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeAcmeVitals, encodeAcmeVitals } from "../../examples/vendor-acme-oximeter/src/acme-vitals.js";
import * as acme from "../../examples/vendor-acme-oximeter/src/definition.js";
import { DecodeError, hex } from "../../src/drivers/sdk.js";
import { registerConformanceTests } from "../../src/drivers/sdk-conformance.js";

const ctx = { nowMs: Date.UTC(2025, 0, 1) };

describe("example vendor package @acme/vitalog-oximeter", () => {
  it("decodes its documented example: SpO2 97 %, PR 72.0, RR 16, PI 4.5 %, battery 85 %", () => {
    const res = decodeAcmeVitals(hex("01 00 61 D0 02 10 2D 55"), ctx);
    assert.deepEqual(
      res.readings.map((r) => [r.kind, r.value, r.unit]),
      [
        ["spo2", 97, "%"],
        ["pulse_rate", 72, "/min"],
        ["respiratory_rate", 16, "/min"],
      ],
    );
    assert.deepEqual(res.status, { batteryPct: 85, sensorContact: true });
    assert.equal(res.details.perfusionIndexPct, 4.5);
  });

  it("reports finger-out as a technical condition with no physiological value", () => {
    const res = decodeAcmeVitals(
      encodeAcmeVitals({ status: 0x01, spo2: 97, pulseRate: 72, batteryPct: 50 }),
      ctx,
    );
    assert.deepEqual(res.readings, []);
    assert.deepEqual(res.conditions, ["probe_off"]);
    assert.deepEqual(res.status, { batteryPct: 50, sensorContact: false });
  });

  it("refuses an unknown format version with its own DecodeError reason", () => {
    assert.throws(
      () => decodeAcmeVitals(hex("02 00 61 D0 02 10 2D 55"), ctx),
      (e) => e instanceof DecodeError && e.reason === "unsupported_version",
    );
  });

  it("round-trips its encoder", () => {
    const res = decodeAcmeVitals(
      encodeAcmeVitals({ spo2: 93, pulseRate: 101.3, respiratoryRate: 22, status: 0x04 }),
      ctx,
    );
    assert.deepEqual(
      res.readings.map((r) => [r.value, r.flags]),
      [
        [93, ["device_reported_issue"]],
        [101.3, ["device_reported_issue"]],
        [22, ["device_reported_issue"]],
      ],
    );
    assert.deepEqual(res.conditions, ["signal_inadequate"]);
  });
});

// What a vendor's own test file contains: one call.
registerConformanceTests(acme, { nowMs: Date.UTC(2025, 0, 1) });
