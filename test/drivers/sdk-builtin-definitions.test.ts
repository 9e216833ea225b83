import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { definitions } from "../../src/drivers/definitions/sig-standard-devices.js";
import { uuid16 } from "../../src/drivers/sdk.js";
import { registerConformanceTests } from "../../src/drivers/sdk-conformance.js";

describe("built-in SIG definitions", () => {
  it("cover the seven standard health profiles, one service each", () => {
    const services = definitions.map((d) =>
      d.match.transport === "ble" ? d.match.serviceUuids?.[0] : undefined,
    );
    assert.deepEqual(services, [0x180d, 0x1809, 0x1810, 0x1822, 0x1808, 0x181d, 0x181f].map(uuid16));
  });

  it("bind each measurement characteristic with the property the SIG table gives", () => {
    const bindings = definitions.flatMap((d) => (d.notify ?? []).map((b) => [b.characteristic, b.property]));
    assert.deepEqual(bindings, [
      [uuid16(0x2a37), "notify"],
      [uuid16(0x2a1c), "indicate"],
      [uuid16(0x2a35), "indicate"],
      [uuid16(0x2a5f), "notify"],
      [uuid16(0x2a5e), "indicate"],
      [uuid16(0x2a18), "notify"],
      [uuid16(0x2a9d), "indicate"],
      [uuid16(0x2aa7), "notify"],
    ]);
  });
});

registerConformanceTests({ definitions }, { numRuns: 300, nowMs: Date.UTC(2025, 0, 1) });
