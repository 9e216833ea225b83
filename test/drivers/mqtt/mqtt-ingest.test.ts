import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mqtt from "mqtt";
import { MAX_SAMPLE_PAYLOAD_BYTES } from "../../../src/batcher/commit/reading-store.js";
import { startTestGateway, type TestGateway, waitFor } from "../../helpers/gateway.js";

const hrPack = (i: number) =>
  JSON.stringify([{ bn: "urn:dev:test:", bt: 1_763_700_000 + i, n: "hr", u: "beat/min", v: 60 + (i % 40) }]);

describe("MQTT ingest through the embedded broker (real aedes, real SQLite)", () => {
  let t: TestGateway;
  let goodPassword: string;
  let badPassword: string;

  before(async () => {
    // these tests burst hundreds of frames at once: the per-device budget is not what they are about
    t = await startTestGateway({
      mqtt: { maxPayloadBytes: 2048 },
      ingest: { limits: { device: { messagesPerSec: 10_000, messagesBurst: 10_000 } } },
    });
    goodPassword = await t.provision("good-1", "pt-good");
    badPassword = await t.provision("bad-1", "pt-bad");
  });
  after(() => t.close());

  it("stores QoS 1 SenML readings with subject, LOINC and per-device sequence before PUBACK", async () => {
    const c = await t.connect("good-1", goodPassword);
    await c.publishAsync("vitalog/dev/good-1/senml", hrPack(0), { qos: 1 });
    // PUBACK came back: the reading must already be in the store
    const [r] = t.gw.store.query({ deviceId: "good-1" });
    assert.ok(r, "reading stored before PUBACK");
    assert.equal(r.subjectId, "pt-good");
    assert.equal(r.loinc, "8867-4");
    assert.equal(r.value, 60);
    assert.equal(r.unit, "/min");
    assert.equal(r.seq, 1);
    assert.equal(r.deviceTimeMs, 1_763_700_000_000);
    await c.endAsync();
  });

  it("accepts the plain JSON form on the json topic", async () => {
    const c = await t.connect("good-1", goodPassword);
    await c.publishAsync(
      "vitalog/dev/good-1/json",
      JSON.stringify({ time: 1_763_700_500_000, readings: [{ kind: "spo2", value: 96, unit: "%" }] }),
      { qos: 1 },
    );
    const rows = t.gw.store.query({ deviceId: "good-1" }).filter((r) => r.kind === "spo2");
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.loinc, "2708-6");
    await c.endAsync();
  });

  it("refuses bad payloads with a reason each, counted per device, while a good device loses nothing", async () => {
    const good = await t.connect("good-1", goodPassword);
    const bad = await t.connect("bad-1", badPassword);
    const notices: string[] = [];
    await bad.subscribeAsync("vitalog/dev/bad-1/rejected");
    bad.on("message", (_topic, payload) => notices.push(JSON.parse(payload.toString()).reason));
    const before = t.gw.store.count("good-1");
    const N = 200;
    const goodSends: Promise<unknown>[] = [];
    for (let i = 1; i <= N; i++)
      goodSends.push(good.publishAsync("vitalog/dev/good-1/senml", hrPack(1000 + i), { qos: 1 }));
    const badPayloads: Array<[string, string]> = [
      ["{not json", "payload_malformed_json"],
      ['{"n":"hr"}', "senml_not_array"],
      ['[{"n":"hr","u":"beat/min","v":"72"}]', "senml_invalid_field"],
      ['[{"n":"hr","u":"beat/min","v":1e999}]', "value_not_finite"],
      ['[{"n":"hr","u":"beat/min","v":400}]', "above_physiologic_limit"],
      ['[{"n":"hr","u":"furlongs","v":72}]', "unit_unsupported"],
      [JSON.stringify([{ n: "hr", u: "beat/min", v: 72, pad: "x".repeat(4096) }]), "payload_too_large"],
    ];
    for (const [payload] of badPayloads)
      await bad.publishAsync("vitalog/dev/bad-1/senml", payload, { qos: 1 });
    await Promise.all(goodSends);
    assert.equal(t.gw.store.count("good-1") - before, N, "every good reading stored");
    const stored = t.gw.store.rejections("bad-1").map((r) => r.reason);
    assert.deepEqual(
      stored,
      badPayloads.map(([, reason]) => reason),
    );
    for (const [, reason] of badPayloads) {
      assert.equal(t.gw.metrics.value("vitalog_rejections_total", { device: "bad-1", reason }), 1, reason);
    }
    assert.equal(t.gw.metrics.sum("vitalog_rejections_total", { device: "good-1" }), 0);
    assert.equal(
      t.gw.store.rejections("bad-1").at(-1)!.payload!.length,
      MAX_SAMPLE_PAYLOAD_BYTES,
      "oversize payload kept truncated",
    );
    await waitFor(() => notices.length === badPayloads.length, 3000, "rejection notices");
    assert.deepEqual(
      notices,
      badPayloads.map(([, reason]) => reason),
    );
    assert.ok(bad.connected, "a device sending bad payloads stays connected");
  });

  it("disconnects a device publishing under another device's topic and counts it", async () => {
    const bad = await t.connect("bad-1", badPassword);
    const closed = new Promise<void>((resolve) => bad.once("close", () => resolve()));
    bad.publish("vitalog/dev/good-1/senml", hrPack(5), { qos: 1 });
    await closed;
    assert.equal(t.gw.metrics.value("vitalog_mqtt_refusals_total", { reason: "topic_not_allowed" }), 1);
    assert.equal(
      t.gw.store.query({ deviceId: "good-1" }).filter((r) => r.deviceTimeMs === 1_763_700_005_000).length,
      0,
    );
  });

  it("refuses a subscription outside the device's own rejected topic", async () => {
    const c = await t.connect("good-1", goodPassword);
    // SUBACK return code 0x80 (failure): mqtt.js turns it into an error carrying the packet
    await assert.rejects(
      c.subscribeAsync("vitalog/dev/bad-1/#"),
      (err: Error & { packet?: { granted?: number[] } }) => {
        assert.deepEqual(err.packet?.granted, [128]);
        return true;
      },
    );
    assert.ok(c.connected, "a refused subscription does not drop the client");
    assert.equal(t.gw.metrics.value("vitalog_mqtt_refusals_total", { reason: "subscribe_not_allowed" }), 1);
    await c.endAsync();
  });

  it("refuses unknown devices, wrong passwords and mismatched client ids, counting each", async () => {
    const attempt = (opts: { clientId: string; username: string; password: string }) =>
      mqtt
        .connectAsync(t.url, { ...opts, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000 })
        .then(
          async (c) => {
            await c.endAsync();
            return "connected";
          },
          (err: Error & { code?: number }) => String(err.code ?? err.message),
        );
    assert.equal(await attempt({ clientId: "ghost", username: "ghost", password: "x" }), "4");
    assert.equal(await attempt({ clientId: "good-1", username: "good-1", password: "wrong" }), "4");
    assert.equal(await attempt({ clientId: "other", username: "good-1", password: goodPassword }), "2");
    assert.equal(t.gw.metrics.value("vitalog_mqtt_refusals_total", { reason: "unknown_device" }), 1);
    assert.equal(t.gw.metrics.value("vitalog_mqtt_refusals_total", { reason: "bad_password" }), 1);
    assert.equal(t.gw.metrics.value("vitalog_mqtt_refusals_total", { reason: "client_id_mismatch" }), 1);
  });

  it("stores a re-sent reading (same device, vital and device time) once", async () => {
    const c = await t.connect("good-1", goodPassword);
    const before = t.gw.store.count("good-1");
    await c.publishAsync("vitalog/dev/good-1/senml", hrPack(7777), { qos: 1 });
    await c.publishAsync("vitalog/dev/good-1/senml", hrPack(7777), { qos: 1 });
    assert.equal(t.gw.store.count("good-1") - before, 1);
    assert.equal(t.gw.metrics.value("vitalog_readings_duplicate_total", { device: "good-1" }), 1);
    await c.endAsync();
  });

  it("never stores device passwords in plain text", () => {
    const rows = t.gw.db.prepare("SELECT password_hash FROM devices").all() as Array<{
      password_hash: string;
    }>;
    assert.equal(rows.length, 2);
    for (const r of rows) {
      assert.match(r.password_hash, /^scrypt\$16384\$8\$1\$/);
      assert.ok(!r.password_hash.includes(goodPassword) && !r.password_hash.includes(badPassword));
    }
  });
});
