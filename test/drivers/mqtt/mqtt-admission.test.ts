import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import mqtt from "mqtt";
import mqttPacket, { type Packet } from "mqtt-packet";
import { startTestGateway, type TestGateway, waitFor } from "../../helpers/gateway.js";

const hr = (timeMs: number, v = 72) =>
  JSON.stringify({ readings: [{ kind: "heart_rate", value: v, unit: "/min", time: timeMs }] });

/** A raw MQTT 3.1.1 connection whose every packet the test writes and reads itself. */
async function rawClient(port: number, id: string, password: string, clean = true) {
  const socket: Socket = netConnect(port, "127.0.0.1");
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: Packet[] = [];
  parser.on("packet", (p) => packets.push(p));
  socket.on("data", (d) => parser.parse(d));
  await new Promise<void>((r) => socket.once("connect", () => r()));
  const send = (p: Record<string, unknown>) => socket.write(mqttPacket.generate(p as unknown as Packet));
  send({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: 4,
    clean,
    clientId: id,
    keepalive: 60,
    username: id,
    password: Buffer.from(password),
  });
  await waitFor(() => packets.some((p) => p.cmd === "connack"), 5000, "CONNACK");
  return { socket, packets, send, isClosed: () => socket.destroyed };
}

describe("MQTT admission: per-device budgets, QoS 2 exactly once, MQTT 5 (real aedes, real SQLite)", () => {
  let t: TestGateway;

  before(async () => {
    t = await startTestGateway({
      ingest: {
        limits: {
          device: { messagesPerSec: 5, messagesBurst: 10, readingsPerSec: 50, readingsBurst: 50 },
          models: {
            "fast-monitor": {
              messagesPerSec: 1000,
              messagesBurst: 1000,
              readingsPerSec: 1000,
              readingsBurst: 1000,
            },
          },
        },
      },
    });
  });
  after(() => t.close());

  it("holds QoS 1 frames the budget admits soon, withholds the rest, stores exactly what it acknowledges, keeps the connection", async () => {
    const pw = await t.provision("burst-1");
    const c = await t.connect("burst-1", pw);
    let closed = false;
    c.on("close", () => {
      closed = true;
    });
    const N = 40;
    let acked = 0;
    for (let i = 0; i < N; i++) {
      c.publish("vitalog/dev/burst-1/json", hr(1_763_700_000_000 + i), { qos: 1 }, (err) => {
        if (!err) acked++;
      });
    }
    const withheld = () =>
      t.gw.metrics.value("vitalog_mqtt_ack_withheld_total", { reason: "rate_limited_messages", qos: "1" });
    // the burst (10) at once, then what 5/s admits within the 2 s hold bound; the rest is not acknowledged
    await waitFor(() => acked + withheld() === N, 10_000, "every frame acknowledged or withheld");
    assert.ok(acked >= 10 + 5, `the burst and held frames acknowledged (${acked})`);
    assert.ok(withheld() > 0, "frames beyond the hold bound withheld");
    assert.ok(t.gw.metrics.sum("vitalog_mqtt_frames_held_total") > 0, "frames held");
    assert.equal(t.gw.store.count("burst-1"), acked, "stored exactly what was acknowledged");
    assert.equal(closed, false, "never disconnected");
    await c.endAsync(true);
  });

  it("drops QoS 0 frames over the budget and counts them", async () => {
    const pw = await t.provision("zero-1");
    const c = await t.connect("zero-1", pw);
    for (let i = 0; i < 200; i++) c.publish("vitalog/dev/zero-1/json", hr(1_763_700_100_000 + i), { qos: 0 });
    // a QoS 1 frame after them is answered once the budget admits it again
    await c.publishAsync("vitalog/dev/zero-1/json", hr(1_763_700_200_000), { qos: 1 });
    const dropped = t.gw.metrics.value("vitalog_mqtt_ack_withheld_total", {
      reason: "rate_limited_messages",
      qos: "0",
    });
    assert.ok(dropped > 0, "excess QoS 0 dropped and counted");
    assert.ok(t.gw.store.count("zero-1") < 201, "not everything stored");
    assert.equal(
      t.gw.store.count("zero-1") + dropped,
      201,
      "every frame either stored or counted as dropped",
    );
    assert.equal(c.connected, true);
    await c.endAsync();
  });

  it("lets a device model's budget admit what the default refuses", async () => {
    await t.gw.registry.add(
      { id: "fast-1", subjectId: "pt-fast", password: "pw-fast-1", model: "fast-monitor" },
      Date.now(),
    );
    const c = await t.connect("fast-1", "pw-fast-1");
    const heldBefore = t.gw.metrics.sum("vitalog_mqtt_frames_held_total");
    const sends = Array.from({ length: 100 }, (_, i) =>
      c.publishAsync("vitalog/dev/fast-1/json", hr(1_763_700_300_000 + i), { qos: 1 }),
    );
    await Promise.all(sends);
    assert.equal(t.gw.metrics.sum("vitalog_mqtt_frames_held_total"), heldBefore, "nothing held");
    assert.equal(t.gw.store.count("fast-1"), 100);
    await c.endAsync();
  });

  it("stores a QoS 2 PUBLISH re-sent with DUP before PUBREL once", async () => {
    const pw = await t.provision("qos2-1");
    const raw = await rawClient(t.gw.mqtt.port, "qos2-1", pw);
    // relative time: nothing in the reading itself lets the database spot the duplicate
    const payload = Buffer.from(JSON.stringify([{ bn: "urn:dev:q:", n: "spo2", u: "/", v: 0.95 }]));
    const publish = (dup: boolean) =>
      raw.send({
        cmd: "publish",
        topic: "vitalog/dev/qos2-1/senml",
        payload,
        qos: 2,
        messageId: 7,
        dup,
        retain: false,
      });
    // the original and its re-send in one TCP write: the re-send arrives while the original is being committed
    raw.socket.cork();
    publish(false);
    publish(true);
    raw.socket.uncork();
    await waitFor(() => raw.packets.filter((p) => p.cmd === "pubrec").length >= 2, 5000, "two PUBRECs");
    // and once more after the first PUBREC, still before PUBREL
    publish(true);
    await waitFor(() => raw.packets.filter((p) => p.cmd === "pubrec").length >= 3, 5000, "third PUBREC");
    raw.send({ cmd: "pubrel", messageId: 7 });
    await waitFor(() => raw.packets.some((p) => p.cmd === "pubcomp"), 5000, "PUBCOMP");
    assert.equal(t.gw.store.count("qos2-1"), 1, "exactly once");
    // after PUBREL the packet id is free again: a new message with it is a new reading
    publish(false);
    await waitFor(
      () => raw.packets.filter((p) => p.cmd === "pubrec").length >= 4,
      5000,
      "PUBREC of the new message",
    );
    assert.equal(t.gw.store.count("qos2-1"), 2);
    raw.socket.destroy();
  });

  it("stores a QoS 2 message re-sent with DUP after a reconnect (clean session off) once", async () => {
    const pw = await t.provision("qos2-2");
    const payload = Buffer.from(JSON.stringify([{ bn: "urn:dev:q:", n: "hr", u: "beat/min", v: 80 }]));
    const first = await rawClient(t.gw.mqtt.port, "qos2-2", pw, false);
    first.send({
      cmd: "publish",
      topic: "vitalog/dev/qos2-2/senml",
      payload,
      qos: 2,
      messageId: 9,
      dup: false,
      retain: false,
    });
    await waitFor(() => first.packets.some((p) => p.cmd === "pubrec"), 5000, "PUBREC");
    first.socket.destroy(); // the PUBREL never left
    await waitFor(() => t.gw.metrics.value("vitalog_mqtt_clients") === 0, 5000, "disconnect seen");
    const second = await rawClient(t.gw.mqtt.port, "qos2-2", pw, false);
    second.send({
      cmd: "publish",
      topic: "vitalog/dev/qos2-2/senml",
      payload,
      qos: 2,
      messageId: 9,
      dup: true,
      retain: false,
    });
    await waitFor(() => second.packets.some((p) => p.cmd === "pubrec"), 5000, "PUBREC after reconnect");
    second.send({ cmd: "pubrel", messageId: 9 });
    await waitFor(() => second.packets.some((p) => p.cmd === "pubcomp"), 5000, "PUBCOMP");
    assert.equal(t.gw.store.count("qos2-2"), 1);
    second.socket.destroy();
  });

  it("refuses an MQTT 5 CONNECT with return code 1 (unacceptable protocol version)", async () => {
    const pw = await t.provision("v5-1");
    await assert.rejects(
      mqtt.connectAsync(t.url, {
        clientId: "v5-1",
        username: "v5-1",
        password: pw,
        protocolVersion: 5,
        reconnectPeriod: 0,
      }),
      (err: Error & { code?: number }) => err.code === 1 || /protocol/i.test(err.message),
    );
  });
});

describe("MQTT back-pressure on the commit queue (real aedes, real SQLite)", () => {
  it("stops reading the heaviest sender while the queue is over its bound, then stores everything", async () => {
    const t = await startTestGateway({
      ingest: {
        maxPendingReadings: 64,
        limits: {
          device: { readingsPerSec: 1e5, readingsBurst: 1e5, messagesPerSec: 1e5, messagesBurst: 1e5 },
        },
      },
      // slow commits, so the queue fills
      storage: { batchMaxDelayMs: 50, batchMaxReadings: 100_000 },
    });
    try {
      const heavy = await t.connect("heavy-1", await t.provision("heavy-1"));
      const light = await t.connect("light-1", await t.provision("light-1"));
      const pack = (i: number) =>
        JSON.stringify({
          time: 1_763_700_000_000 + i,
          readings: [
            { kind: "heart_rate", value: 70, unit: "/min" },
            { kind: "spo2", value: 97, unit: "%" },
            { kind: "respiratory_rate", value: 14, unit: "/min" },
            { kind: "body_temperature", value: 36.8, unit: "Cel" },
          ],
        });
      const heavySends = Array.from({ length: 1500 }, (_, i) =>
        heavy.publishAsync("vitalog/dev/heavy-1/json", pack(i), { qos: 1 }),
      );
      const lightSends = Array.from({ length: 20 }, (_, i) =>
        light.publishAsync("vitalog/dev/light-1/json", hr(1_763_800_000_000 + i), { qos: 1 }),
      );
      await Promise.all([...heavySends, ...lightSends]);
      assert.ok(t.gw.metrics.sum("vitalog_mqtt_backpressure_total") > 0, "the heavy sender was held back");
      assert.equal(t.gw.store.count("heavy-1"), 6000, "all of the heavy sender's readings stored");
      assert.equal(t.gw.store.count("light-1"), 20, "the light sender lost nothing");
      assert.equal(heavy.connected && light.connected, true);
    } finally {
      await t.close();
    }
  });
});
