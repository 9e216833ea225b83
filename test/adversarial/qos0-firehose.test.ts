/**
 * A QoS 0 firehose: one device writing PUBLISH packets to its socket as fast as TCP takes them. QoS 0
 * excess over the device's budget is dropped and counted [MQTT 3.1.1 §4.3.1: at most once, no
 * acknowledgement]; what is admitted is stored; the device stays connected; a bystander loses nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mqttPacket from "mqtt-packet";
import { DEFAULT_RATE_LIMIT } from "../../src/drivers/ingest-config.js";
import { Bystander, IN_PROCESS_INGEST, rawMqtt, storedDeviceTimes } from "../helpers/adversary.js";
import { startTestGateway, type TestGateway, waitFor } from "../helpers/gateway.js";

const HOSE = "hose-1";
const FIREHOSE_MS = 8000;

describe("a QoS 0 firehose (real broker, real SQLite)", () => {
  let t: TestGateway;
  let by: Bystander | undefined;

  before(async () => {
    t = await startTestGateway({ ingest: IN_PROCESS_INGEST });
  });
  after(async () => {
    await by?.end();
    await t.close();
  });

  it("stores what the budget admits, drops and counts the excess, keeps the device connected, and the bystander loses nothing", async (tc) => {
    by = (await Bystander.connect(t.url, "bystander-1", await t.provision("bystander-1"))).start(50);
    const hose = await rawMqtt(t.gw.mqtt.port, HOSE, await t.provision(HOSE));
    // one valid reading per PUBLISH, without a device time: every admitted frame is a new row
    const one = mqttPacket.generate({
      cmd: "publish",
      topic: `vitalog/dev/${HOSE}/senml`,
      payload: Buffer.from(JSON.stringify([{ bn: `urn:dev:hose:${HOSE}:`, n: "hr", u: "beat/min", v: 72 }])),
      qos: 0,
      retain: false,
      dup: false,
    });
    const PER_WRITE = 256;
    const batch = Buffer.concat(Array<Buffer>(PER_WRITE).fill(one));
    let sent = 0;
    let drainWaits = 0;
    let isRunning = true;
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      setTimeout(() => {
        isRunning = false;
        resolve();
      }, FIREHOSE_MS);
      const pump = () => {
        while (isRunning && !hose.isClosed) {
          sent += PER_WRITE;
          if (!hose.socket.write(batch)) {
            drainWaits++;
            hose.socket.once("drain", pump);
            return;
          }
        }
      };
      pump();
    });
    const dropped = () =>
      t.gw.metrics.sum("vitalog_mqtt_ack_withheld_total", { qos: "0", reason: "rate_limited_messages" }) +
      t.gw.metrics.sum("vitalog_mqtt_ack_withheld_total", { qos: "0", reason: "rate_limited_readings" });
    // the gateway reads what is still in the socket buffers: every frame ends stored or counted as dropped
    await waitFor(() => t.gw.store.count(HOSE) + dropped() >= sent, 60_000, "every frame stored or dropped");
    const elapsedSec = (performance.now() - t0) / 1000;
    const stored = t.gw.store.count(HOSE);
    tc.diagnostic(
      `${sent} QoS 0 PUBLISHes in ${FIREHOSE_MS / 1000} s (${Math.round(sent / (FIREHOSE_MS / 1000))}/s, ${drainWaits} waits for TCP), ${stored} stored, ${dropped()} dropped, all read after ${elapsedSec.toFixed(1)} s`,
    );
    assert.equal(stored + dropped(), sent, "each frame stored or counted as dropped, never both");
    assert.ok(dropped() > 0, "the excess is dropped");
    assert.ok(
      t.gw.metrics.sum("vitalog_rejections_total", { device: HOSE, reason: "rate_limited_messages" }) +
        t.gw.metrics.sum("vitalog_rejections_total", { device: HOSE, reason: "rate_limited_readings" }) ===
        dropped(),
      "the drops are counted per device",
    );
    const budget = DEFAULT_RATE_LIMIT.messagesBurst + DEFAULT_RATE_LIMIT.messagesPerSec * elapsedSec + 1;
    assert.ok(
      stored >= 1 && stored <= budget,
      `${stored} stored in ${elapsedSec.toFixed(1)} s, budget ${budget}`,
    );
    assert.equal(hose.isClosed, false, "the firehose device stays connected");
    assert.equal(t.gw.metrics.value("vitalog_commits_total", { outcome: "failed" }), 0);
    hose.socket.destroy();

    await by.stop();
    by.assertIntact(storedDeviceTimes(t.gw.db, by.id));
    tc.diagnostic(by.summary());
  });
});
