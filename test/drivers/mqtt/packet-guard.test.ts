import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import mqttPacket from "mqtt-packet";
import { ManualClock } from "../../../src/clock.js";
import {
  defaultMaxPacketBytes,
  PacketGuard,
  type PacketRefusal,
} from "../../../src/drivers/mqtt/packet-guard.js";
import { connectPacket, remainingLength } from "../../security/connect-storm.js";

const LIMITS = { maxConnectBytes: 256, maxPacketBytes: 2048, packetTimeoutMs: 1000 };

function guard(opts: { isReadHeld?: () => boolean } = {}) {
  const clock = new ManualClock();
  const refusals: PacketRefusal[] = [];
  const g = new PacketGuard({
    limits: LIMITS,
    clock,
    isReadHeld: opts.isReadHeld ?? (() => false),
    onRefuse: (reason) => refusals.push(reason),
  });
  return { g, clock, refusals };
}

const publish = (payloadBytes: number) =>
  mqttPacket.generate({
    cmd: "publish",
    topic: "vitalog/dev/d/senml",
    payload: Buffer.alloc(payloadBytes, 0x20),
    qos: 1,
    messageId: 1,
    retain: false,
    dup: false,
  });

const CONNECT = connectPacket({ clientId: "wear-001", username: "wear-001", password: "secret" });

describe("packet guard (fixed-header framing, MQTT 3.1.1 §2.2)", () => {
  it("passes a CONNECT and packets within the limit, whatever the chunking", () => {
    const stream = Buffer.concat([
      CONNECT,
      publish(100),
      publish(1900),
      mqttPacket.generate({ cmd: "pingreq" }),
    ]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 20 }), (cuts) => {
        const { g, refusals } = guard();
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        let at = 0;
        for (const p of [...points, stream.length]) {
          assert.equal(g.scan(stream.subarray(at, p)), true);
          at = p;
        }
        assert.deepEqual(refusals, []);
        assert.equal(g.isPartial, false, "every packet complete");
      }),
    );
  });

  it("refuses a first packet that is not a CONNECT at its first byte", () => {
    const { g, refusals } = guard();
    assert.equal(g.scan(Buffer.from([0x30])), false);
    assert.deepEqual(refusals, ["protocol_violation"]);
    assert.equal(g.scan(CONNECT), false, "nothing more is parsed");
  });

  it("refuses a CONNECT announced over the CONNECT limit once its length is read, before any body byte", () => {
    const { g, refusals } = guard();
    const header = Buffer.concat([Buffer.from([0x10]), remainingLength(LIMITS.maxConnectBytes)]);
    assert.equal(g.scan(header), false);
    assert.deepEqual(refusals, ["packet_too_large"]);
  });

  it("refuses a later packet announced over the packet limit, even with its length split across reads", () => {
    const { g, refusals } = guard();
    assert.equal(g.scan(CONNECT), true);
    const header = Buffer.concat([Buffer.from([0x32]), remainingLength(268_435_455)]);
    for (const byte of header.subarray(0, -1)) assert.equal(g.scan(Buffer.from([byte])), true);
    assert.equal(g.scan(header.subarray(-1)), false);
    assert.deepEqual(refusals, ["packet_too_large"]);
  });

  it("counts the fixed header in the limit", () => {
    const exact = guard();
    exact.g.scan(CONNECT);
    // 0x32 + two length bytes + body = the limit exactly
    assert.equal(
      exact.g.scan(Buffer.concat([Buffer.from([0x32]), remainingLength(LIMITS.maxPacketBytes - 3)])),
      true,
    );
    const over = guard();
    over.g.scan(CONNECT);
    assert.equal(
      over.g.scan(Buffer.concat([Buffer.from([0x32]), remainingLength(LIMITS.maxPacketBytes - 2)])),
      false,
    );
  });

  it("refuses a remaining length of more than four bytes (§2.2.3)", () => {
    const { g, refusals } = guard();
    g.scan(CONNECT);
    assert.equal(g.scan(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80])), false);
    assert.deepEqual(refusals, ["malformed_packet"]);
  });

  it("refuses a packet that has not fully arrived by the deadline while the gateway was reading", () => {
    const { g, clock, refusals } = guard();
    g.scan(CONNECT);
    const packet = publish(500);
    g.scan(packet.subarray(0, 40));
    clock.advance(LIMITS.packetTimeoutMs - 1);
    g.scan(packet.subarray(40, 80));
    assert.deepEqual(refusals, [], "more bytes of the same packet do not extend its deadline");
    clock.advance(1);
    assert.deepEqual(refusals, ["packet_timeout"]);
  });

  it("gives each packet its own deadline and none between packets", () => {
    const { g, clock, refusals } = guard();
    g.scan(CONNECT);
    const a = publish(100);
    const b = publish(100);
    g.scan(a.subarray(0, 10));
    clock.advance(900);
    // the first completes and the second starts in the same read
    g.scan(Buffer.concat([a.subarray(10), b.subarray(0, 10)]));
    clock.advance(900);
    assert.deepEqual(refusals, []);
    g.scan(b.subarray(10));
    clock.advance(10_000);
    assert.deepEqual(refusals, [], "an idle connection between packets is the keep-alive's business");
  });

  it("starts the deadline over while the gateway is not reading the socket", () => {
    let isHeld = true;
    const { g, clock, refusals } = guard({ isReadHeld: () => isHeld });
    g.scan(CONNECT);
    g.scan(publish(500).subarray(0, 40));
    clock.advance(5 * LIMITS.packetTimeoutMs);
    assert.deepEqual(refusals, [], "held by the gateway: not the client's fault");
    isHeld = false;
    clock.advance(LIMITS.packetTimeoutMs);
    assert.deepEqual(refusals, ["packet_timeout"]);
  });

  it("stops its deadline when the connection closes", () => {
    const { g, clock, refusals } = guard();
    g.scan(CONNECT.subarray(0, 5));
    g.stop();
    clock.advance(10 * LIMITS.packetTimeoutMs);
    assert.deepEqual(refusals, []);
  });

  it("defaults the packet limit to twice the payload limit and 1 KiB", () => {
    assert.equal(defaultMaxPacketBytes(16_384), 33_792);
  });
});
