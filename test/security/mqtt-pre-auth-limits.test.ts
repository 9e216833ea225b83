/**
 * Limits that hold before and around authentication, each driven with raw sockets against the real
 * gateway (real aedes on loopback): the packet size read from each fixed header, the CONNECT deadline, the
 * caps on connections waiting for authentication, the deadline of a partial packet, and the count of
 * every refusal by a bounded reason.
 */
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import mqtt from "mqtt";
import mqttPacket from "mqtt-packet";
import { startTestGateway, type TestGateway, waitFor } from "../helpers/gateway.js";
import { closed, connectOnce, connectPacket, rawSocket, remainingLength } from "./connect-storm.js";

const MAX_PAYLOAD = 2048;
const PACKET_TIMEOUT_MS = 300;
const CONNECT_TIMEOUT_MS = 1500;
const PER_ADDRESS = 4;
const TOTAL = 12;

describe("limits before and around authentication (real gateway, raw sockets)", () => {
  let t: TestGateway;
  let port: number;
  let password: string;
  const sockets: Socket[] = [];
  const refusals = (reason: string) => t.gw.metrics.value("vitalog_mqtt_refusals_total", { reason });
  const open = async (localAddress: string) => {
    const s = await rawSocket(port, localAddress);
    sockets.push(s);
    return s;
  };
  /** An authenticated raw connection of the test device. */
  const authenticated = async (localAddress: string, keepalive = 0) => {
    const r = await connectOnce(port, { localAddress, clientId: "wear-raw", password, keepalive }, true);
    assert.equal(r.code, 0, "test device connects");
    sockets.push(r.socket!);
    return r.socket!;
  };
  const expectCounted = async (reason: string, before: number) =>
    waitFor(() => refusals(reason) === before + 1, 5000, `${reason} counted`);

  before(async () => {
    t = await startTestGateway({
      mqtt: {
        maxPayloadBytes: MAX_PAYLOAD,
        maxConnectBytes: 512,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        packetTimeoutMs: PACKET_TIMEOUT_MS,
        maxUnauthenticatedPerAddress: PER_ADDRESS,
        maxUnauthenticated: TOTAL,
      },
    });
    port = t.gw.mqtt.port;
    password = await t.provision("wear-raw");
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await t.close();
  });

  it("closes a connection whose first packet is not a CONNECT at its first byte", async () => {
    const before = refusals("protocol_violation");
    const s = await open("127.0.0.20");
    // the original attack: no CONNECT, a PUBLISH announcing 268 MB
    s.write(Buffer.concat([Buffer.from([0x30]), remainingLength(268_435_455)]));
    await closed(s);
    await expectCounted("protocol_violation", before);
  });

  it("closes a CONNECT announced over maxConnectBytes as soon as its header arrives", async () => {
    const before = refusals("packet_too_large");
    const s = await open("127.0.0.21");
    s.write(Buffer.concat([Buffer.from([0x10]), remainingLength(268_435_455)]));
    await closed(s);
    await expectCounted("packet_too_large", before);
  });

  it("closes an authenticated client's PUBLISH announced over the packet limit at its header", async () => {
    const before = refusals("packet_too_large");
    const s = await authenticated("127.0.0.22", 30);
    s.write(Buffer.concat([Buffer.from([0x32]), remainingLength(100_000_000)]));
    await closed(s);
    await expectCounted("packet_too_large", before);
  });

  it("still refuses a payload a little over maxPayloadBytes with an explanation, acknowledged", async () => {
    const before = refusals("packet_too_large");
    const c = await t.connect("wear-raw", password);
    await c.publishAsync("vitalog/dev/wear-raw/senml", "x".repeat(MAX_PAYLOAD + 500), { qos: 1 });
    assert.equal(t.gw.store.rejections("wear-raw").at(-1)?.reason, "payload_too_large");
    assert.equal(refusals("packet_too_large"), before, "the connection was not refused");
    assert.ok(c.connected);
    await c.endAsync();
  });

  it("closes a connection that sends no CONNECT within connectTimeoutMs", async () => {
    const before = refusals("connect_timeout");
    const s = await open("127.0.0.23");
    await closed(s);
    await expectCounted("connect_timeout", before);
  });

  it("closes an authenticated keep-alive-0 client that leaves a PUBLISH unfinished past packetTimeoutMs", async () => {
    const before = refusals("packet_timeout");
    const s = await authenticated("127.0.0.24", 0);
    const publish = mqttPacket.generate({
      cmd: "publish",
      topic: "vitalog/dev/wear-raw/senml",
      payload: Buffer.alloc(1000, 0x20),
      qos: 1,
      messageId: 7,
      retain: false,
      dup: false,
    });
    s.write(publish.subarray(0, 40));
    await closed(s);
    await expectCounted("packet_timeout", before);
  });

  it("closes the oldest waiting connection of an address over its cap; the newcomer and other addresses stay", async () => {
    const before = refusals("unauthenticated_address_limit");
    const same = [];
    for (let i = 0; i < PER_ADDRESS; i++) same.push(await open("127.0.0.30"));
    const other = await open("127.0.0.31");
    const closes = same.map((s) => closed(s).then(() => s));
    const newcomer = await open("127.0.0.30");
    const first = await Promise.race(closes);
    await expectCounted("unauthenticated_address_limit", before);
    assert.ok(same.includes(first), "one of the earlier connections was closed");
    assert.equal(newcomer.closed, false, "not the newcomer");
    assert.equal(other.closed, false, "nor another address's");
    assert.equal(same.filter((s) => s.closed).length, 1, "exactly one");
    for (const s of [...same, other, newcomer]) s.destroy();
  });

  it("over the total cap, closes a connection of the address holding the most", async () => {
    const before = refusals("unauthenticated_limit");
    const heavy = [await open("127.0.0.40"), await open("127.0.0.40"), await open("127.0.0.40")];
    const light = [];
    for (let i = 0; light.length + heavy.length < TOTAL; i++) light.push(await open(`127.0.0.${41 + i}`));
    const heavyCloses = heavy.map((s) => closed(s).then(() => s));
    const newcomer = await open("127.0.0.60");
    await Promise.race(heavyCloses);
    await expectCounted("unauthenticated_limit", before);
    assert.equal(light.filter((s) => s.closed).length, 0, "single connections of other addresses stay");
    assert.equal(newcomer.closed, false);
    for (const s of [...heavy, ...light, newcomer]) s.destroy();
  });

  it("counts every refusal aedes decides itself, by reason", async () => {
    const cases: Array<[string, (s: Socket) => void]> = [
      ["topic_wildcard", (s) => s.write(publishTo("vitalog/dev/wear-raw/#"))],
      ["topic_wildcard", (s) => s.write(publishTo("vitalog/+/wear-raw/senml"))],
      ["topic_too_deep", (s) => s.write(publishTo(`vitalog${"/x".repeat(100)}`))],
      ["topic_empty", (s) => s.write(publishTo(""))],
      [
        "topic_filter_invalid",
        (s) =>
          s.write(
            mqttPacket.generate({
              cmd: "subscribe",
              messageId: 3,
              subscriptions: [{ topic: "a/#/b", qos: 0 }],
            }),
          ),
      ],
      [
        "protocol_violation",
        (s) => s.write(connectPacket({ clientId: "wear-raw", username: "wear-raw", password })),
      ],
    ];
    for (const [reason, send] of cases) {
      const before = refusals(reason);
      const s = await authenticated("127.0.0.25", 30);
      send(s);
      await closed(s);
      await expectCounted(reason, before);
    }
  });

  it("counts a malformed CONNECT and an MQTT 5 CONNECT before any authentication", async () => {
    const malformedBefore = refusals("malformed_packet");
    const s1 = await open("127.0.0.26");
    const bad = connectPacket({ clientId: "wear-raw", username: "wear-raw", password });
    bad.write("MQXX", 4, "latin1"); // [MQTT-3.1.2-1] the protocol name must be "MQTT"
    s1.write(bad);
    await closed(s1);
    await expectCounted("malformed_packet", malformedBefore);

    const v5Before = refusals("protocol_version_unsupported");
    const v5 = await connectOnce(port, { localAddress: "127.0.0.27", clientId: "wear-raw", password });
    assert.equal(v5.code, 0, "sanity: MQTT 3.1.1 accepted");
    const s2 = await open("127.0.0.27");
    s2.write(connectPacket({ clientId: "wear-raw", username: "wear-raw", password, protocolVersion: 5 }));
    await closed(s2);
    await expectCounted("protocol_version_unsupported", v5Before);
  });

  it("labels refusals only with bounded reasons, never a client id or an address", async () => {
    // refusals of its own, from a client id and an address a leaking label would carry
    const before = [refusals("unknown_device"), refusals("bad_password"), refusals("topic_wildcard")];
    const ghost = await connectOnce(port, { localAddress: "127.0.0.29", clientId: "wear-ghost", password });
    assert.notEqual(ghost.code, 0, "an unknown device is refused");
    const wrong = await connectOnce(port, {
      localAddress: "127.0.0.29",
      clientId: "wear-raw",
      password: "x",
    });
    assert.notEqual(wrong.code, 0, "a wrong password is refused");
    const s = await authenticated("127.0.0.29", 30);
    s.write(publishTo("vitalog/dev/wear-raw/#"));
    await closed(s);
    await expectCounted("topic_wildcard", before[2]!);
    assert.deepEqual(
      [refusals("unknown_device"), refusals("bad_password")],
      [before[0]! + 1, before[1]! + 1],
    );
    const samples = t.gw.metrics.snapshot().vitalog_mqtt_refusals_total ?? [];
    for (const s of samples) {
      assert.deepEqual(Object.keys(s.labels), ["reason"]);
      assert.match(s.labels.reason!, /^[a-z0-9_]+$/);
      assert.doesNotMatch(s.labels.reason!, /wear|127|ghost/);
    }
  });

  it("lets a well-behaved device connect and publish under these limits", async () => {
    const c = await mqtt.connectAsync(t.url, {
      clientId: "wear-raw",
      username: "wear-raw",
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: 0,
    });
    await c.publishAsync(
      "vitalog/dev/wear-raw/json",
      JSON.stringify({ readings: [{ kind: "hr", value: 70, unit: "/min" }] }),
      {
        qos: 1,
      },
    );
    await c.endAsync();
  });
});

function publishTo(topic: string): Buffer {
  // mqtt-packet validates nothing about a PUBLISH topic: it writes what it is given
  return mqttPacket.generate({
    cmd: "publish",
    topic,
    payload: Buffer.from("{}"),
    qos: 0,
    retain: false,
    dup: false,
  });
}
