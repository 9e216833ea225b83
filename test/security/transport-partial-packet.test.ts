/**
 * An authenticated client with keep-alive 0 ([MQTT 3.1.1 §3.1.2.10]: no keep-alive at all) cannot hold
 * a partial packet open: the deadline (`mqtt.packetTimeoutMs`) runs from a packet's first byte, so
 * trickling the rest a byte at a time does not extend it. Raw sockets against the real gateway.
 */
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import mqttPacket from "mqtt-packet";
import { startTestGateway, type TestGateway, waitFor } from "../helpers/gateway.js";
import { closed, connectOnce } from "./connect-storm.js";

const PACKET_TIMEOUT_MS = 300;
/** Far below the deadline: each byte alone would reset a per-byte idle timer. */
const TRICKLE_EVERY_MS = 20;

describe("partial packets of keep-alive-0 clients (real gateway, raw sockets)", () => {
  let t: TestGateway;
  let password: string;
  const sockets: Socket[] = [];
  const refusals = (reason: string) => t.gw.metrics.value("vitalog_mqtt_refusals_total", { reason });
  const authenticated = async (localAddress: string) => {
    const r = await connectOnce(
      t.gw.mqtt.port,
      { localAddress, clientId: "wear-slow", password, keepalive: 0 },
      true,
    );
    assert.equal(r.code, 0, "the device connects with keep-alive 0");
    sockets.push(r.socket!);
    return r.socket!;
  };

  before(async () => {
    t = await startTestGateway({ mqtt: { packetTimeoutMs: PACKET_TIMEOUT_MS } });
    password = await t.provision("wear-slow");
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await t.close();
  });

  it("closes a PUBLISH trickled a byte at a time once packetTimeoutMs has passed since its first byte", async () => {
    const before = refusals("packet_timeout");
    const s = await authenticated("127.0.0.41");
    const publish = mqttPacket.generate({
      cmd: "publish",
      topic: "vitalog/dev/wear-slow/json",
      payload: Buffer.from(
        JSON.stringify({ readings: [{ kind: "spo2", value: 96, unit: "%" }] }).padEnd(400),
      ),
      qos: 1,
      messageId: 1,
      retain: false,
      dup: false,
    });
    const isClosed = closed(s);
    let sent = 0;
    let isOpen = true;
    void isClosed.then(() => {
      isOpen = false;
    });
    // every byte but the last, so the packet is never complete whatever happens
    while (isOpen && sent < publish.length - 1) {
      s.write(publish.subarray(sent, sent + 1));
      sent++;
      await new Promise((r) => setTimeout(r, TRICKLE_EVERY_MS));
    }
    await isClosed;
    assert.ok(sent < publish.length - 1, `closed mid-packet (${sent} of ${publish.length} bytes sent)`);
    await waitFor(() => refusals("packet_timeout") === before + 1, 5000, "packet_timeout counted");
    assert.equal(t.gw.store.query({ deviceId: "wear-slow" }).length, 0);
  });

  it("closes a connection that sends one byte of a PINGREQ and nothing more", async () => {
    const before = refusals("packet_timeout");
    const s = await authenticated("127.0.0.42");
    // [MQTT 3.1.1 §3.12] PINGREQ is 0xC0 0x00: the length byte never comes
    s.write(Buffer.from([0xc0]));
    await closed(s);
    await waitFor(() => refusals("packet_timeout") === before + 1, 5000, "packet_timeout counted");
  });

  it("keeps an idle keep-alive-0 connection that has no partial packet, and takes its next PUBLISH", async () => {
    const c = await t.connect("wear-slow", password, { keepalive: 0 });
    // longer than the packet deadline, with nothing in flight
    await new Promise((r) => setTimeout(r, PACKET_TIMEOUT_MS * 3));
    assert.ok(c.connected);
    await c.publishAsync(
      "vitalog/dev/wear-slow/json",
      JSON.stringify({ readings: [{ kind: "spo2", value: 95, unit: "%" }] }),
      {
        qos: 1,
      },
    );
    assert.equal(t.gw.store.query({ deviceId: "wear-slow" }).length, 1);
    await c.endAsync();
  });
});
