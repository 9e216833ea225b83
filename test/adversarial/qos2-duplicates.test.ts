/**
 * QoS 2 duplicates written as raw MQTT 3.1.1 packets, so the test controls the DUP flag and when (or
 * whether) PUBREL is sent. [MQTT 3.1.1 §4.3.3] the receiver must not deliver a message twice: a PUBLISH
 * re-sent with DUP before PUBREL, in the same TCP segment, after PUBREC, or on a new connection of the same
 * session (clean session off), is stored once. The payloads carry no device time, so the database's own
 * duplicate check (device, vital, device time) cannot hide a second delivery.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  Bystander,
  IN_PROCESS_INGEST,
  type RawMqtt,
  rawMqtt,
  storedDeviceTimes,
} from "../helpers/adversary.js";
import { startTestGateway, type TestGateway, waitFor } from "../helpers/gateway.js";

const spo2 = (v: number) => Buffer.from(JSON.stringify([{ bn: "urn:dev:q:", n: "spo2", u: "/", v }]));

function publish(raw: RawMqtt, id: string, messageId: number, payload: Buffer, dup: boolean): void {
  raw.send({
    cmd: "publish",
    topic: `vitalog/dev/${id}/senml`,
    payload,
    qos: 2,
    messageId,
    dup,
    retain: false,
  });
}

describe("QoS 2 exactly once under DUP re-sends (raw MQTT packets, real broker, real SQLite)", () => {
  let t: TestGateway;
  let bystanders = 0;
  const running: Bystander[] = [];

  /** Runs `fn` while a fresh bystander publishes, then asserts it lost nothing. */
  async function withBystander(fn: () => Promise<void>): Promise<void> {
    const id = `bystander-${++bystanders}`;
    const by = (await Bystander.connect(t.url, id, await t.provision(id))).start(50);
    running.push(by);
    await fn();
    await by.stop();
    by.assertIntact(storedDeviceTimes(t.gw.db, id), 1);
  }

  before(async () => {
    t = await startTestGateway({ ingest: IN_PROCESS_INGEST });
  });
  after(async () => {
    for (const by of running) await by.end();
    await t.close();
  });

  it("stores a PUBLISH re-sent with DUP in the same segment and after PUBREC, before PUBREL, once", () =>
    withBystander(async () => {
      const id = "q2-same";
      const raw = await rawMqtt(t.gw.mqtt.port, id, await t.provision(id));
      raw.socket.cork();
      publish(raw, id, 7, spo2(0.95), false);
      publish(raw, id, 7, spo2(0.95), true);
      raw.socket.uncork();
      await raw.waitForPackets("pubrec", 2);
      publish(raw, id, 7, spo2(0.95), true);
      await raw.waitForPackets("pubrec", 3);
      raw.send({ cmd: "pubrel", messageId: 7 });
      await raw.waitForPackets("pubcomp", 1);
      assert.equal(t.gw.store.count(id), 1, "stored once");
      // after PUBCOMP the packet id is free: a new PUBLISH with it is a new message
      publish(raw, id, 7, spo2(0.96), false);
      await raw.waitForPackets("pubrec", 4);
      assert.equal(t.gw.store.count(id), 2);
      assert.equal(raw.isClosed, false);
      raw.socket.destroy();
    }));

  it("stores 50 interleaved QoS 2 messages, each followed by its DUP, once each", () =>
    withBystander(async () => {
      const id = "q2-many";
      const raw = await rawMqtt(t.gw.mqtt.port, id, await t.provision(id));
      const N = 50;
      raw.socket.cork();
      for (let m = 1; m <= N; m++) publish(raw, id, m, spo2(0.9 + m / 1000), false);
      for (let m = 1; m <= N; m++) publish(raw, id, m, spo2(0.9 + m / 1000), true);
      raw.socket.uncork();
      await raw.waitForPackets("pubrec", 2 * N);
      for (let m = 1; m <= N; m++) raw.send({ cmd: "pubrel", messageId: m });
      await raw.waitForPackets("pubcomp", N);
      assert.equal(t.gw.store.count(id), N);
      assert.equal(raw.isClosed, false);
      raw.socket.destroy();
    }));

  it("stores a QoS 2 message re-sent with DUP on a new connection of the same session (clean session off) once", () =>
    withBystander(async () => {
      const id = "q2-session";
      const password = await t.provision(id);
      const first = await rawMqtt(t.gw.mqtt.port, id, password, { clean: false });
      publish(first, id, 9, spo2(0.93), false);
      await first.waitForPackets("pubrec", 1);
      first.socket.destroy(); // the PUBREL never leaves
      const second = await rawMqtt(t.gw.mqtt.port, id, password, { clean: false });
      publish(second, id, 9, spo2(0.93), true);
      await second.waitForPackets("pubrec", 1);
      second.send({ cmd: "pubrel", messageId: 9 });
      await second.waitForPackets("pubcomp", 1);
      assert.equal(t.gw.store.count(id), 1);
      second.socket.destroy();
    }));

  it("stores a QoS 2 message once when the connection drops right after the PUBLISH and the DUP follows on reconnect", () =>
    withBystander(async () => {
      // the drop races the commit: the gateway may or may not have taken the first copy; either way one row
      const id = "q2-race";
      const password = await t.provision(id);
      const rounds = 12;
      for (let r = 0; r < rounds; r++) {
        const messageId = 100 + r;
        const payload = spo2(0.85 + r / 200);
        const first = await rawMqtt(t.gw.mqtt.port, id, password, { clean: false });
        publish(first, id, messageId, payload, false);
        // a few rounds give the first copy time to be committed before the drop, most do not
        if (r % 3 === 2) await new Promise((res) => setTimeout(res, 20));
        first.socket.end();
        await waitFor(() => first.isClosed, 5000, "first connection closed");
        const second = await rawMqtt(t.gw.mqtt.port, id, password, { clean: false });
        publish(second, id, messageId, payload, true);
        await second.waitForPackets("pubrec", 1);
        second.send({ cmd: "pubrel", messageId });
        await second.waitForPackets("pubcomp", 1);
        second.socket.destroy();
        assert.equal(t.gw.store.count(id), r + 1, `round ${r}: one row per message`);
      }
    }));
});
