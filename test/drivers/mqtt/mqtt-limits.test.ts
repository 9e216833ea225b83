import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, it } from "node:test";
import { parseConfig } from "../../../src/config.js";
import { brokerRefusalReason, CountedRefusal } from "../../../src/drivers/mqtt/broker-refusals.js";
import { GatewayError } from "../../../src/errors.js";
import { tempDir } from "../../helpers/gateway.js";

describe("MQTT limits in the config (mqtt slice)", () => {
  const dir = tempDir("vitalog-mqtt-limits-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("defaults every limit before and around authentication", () => {
    const { mqtt } = parseConfig({ gateway: { id: "gw-1", stateDir: dir } }, dir);
    assert.deepEqual(
      {
        maxPacketBytes: mqtt.maxPacketBytes,
        maxConnectBytes: mqtt.maxConnectBytes,
        connectTimeoutMs: mqtt.connectTimeoutMs,
        packetTimeoutMs: mqtt.packetTimeoutMs,
        maxUnauthenticated: mqtt.maxUnauthenticated,
        maxUnauthenticatedPerAddress: mqtt.maxUnauthenticatedPerAddress,
        authFreeFailures: mqtt.authFreeFailures,
        authBackoffMaxMs: mqtt.authBackoffMaxMs,
      },
      {
        maxPacketBytes: undefined,
        maxConnectBytes: 2048,
        connectTimeoutMs: 5000,
        packetTimeoutMs: 10_000,
        maxUnauthenticated: 512,
        maxUnauthenticatedPerAddress: 32,
        authFreeFailures: 5,
        authBackoffMaxMs: 60_000,
      },
    );
  });

  it("refuses a packet limit that leaves no room for a full payload and its topic", () => {
    assert.throws(
      () =>
        parseConfig(
          { gateway: { id: "gw-1", stateDir: dir }, mqtt: { maxPayloadBytes: 4096, maxPacketBytes: 4096 } },
          dir,
        ),
      (err: unknown) =>
        err instanceof GatewayError &&
        err.code === "CONFIG_INVALID" &&
        /mqtt\.maxPacketBytes: must be at least maxPayloadBytes \+ 1024/.test(err.message),
    );
  });
});

describe("refusals aedes decides itself", () => {
  it("are not counted again when the gateway decided and counted them", () => {
    assert.equal(brokerRefusalReason(new CountedRefusal("bad_password", 4), false), undefined);
  });

  it("are not refusals when the peer went away or a keep-alive expired", () => {
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    assert.equal(brokerRefusalReason(reset, false), undefined);
    assert.equal(brokerRefusalReason(new Error("keep alive timeout"), false), undefined);
  });

  it("are a malformed packet whatever the message when the parser raised them", () => {
    assert.equal(brokerRefusalReason(new Error("Invalid header flag bits"), true), "malformed_packet");
  });
});
