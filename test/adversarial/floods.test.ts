/**
 * Floods from one device, each kept 4 packs in flight: 16 KiB packs of ~8,000 entries that are not readings,
 * packs of as many refused records as a pack may hold, packs of 1,800 valid readings and packs of as many
 * valid readings as a pack may hold. Refusals are kept bounded (counts per device, reason and minute, and a
 * capped sample), so a rejection flood grows the database by no more than about 1 MB a minute; valid readings
 * are admitted at the device's budget (token buckets, per device model); a bystander on the same gateway
 * loses nothing [DESIGN.md "One device cannot hurt the others"].
 */
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import mqttPacket from "mqtt-packet";
import { DEFAULT_RATE_LIMIT } from "../../src/drivers/ingest-config.js";
import { PAYLOAD_LIMITS } from "../../src/drivers/mqtt/json-bounds.js";
import {
  Bystander,
  bytesByTable,
  databaseBytes,
  Flooder,
  IN_PROCESS_INGEST,
  rawMqtt,
  rejectionFloodPack,
  storedDeviceTimes,
  unknownVitalPack,
  validFloodPack,
} from "../helpers/adversary.js";
import { startTestGateway, type TestGateway, waitFor } from "../helpers/gateway.js";

const MIB = 1024 * 1024;
/** The budget on database growth during a rejection flood (bench:abuse measures the same phase). */
const REJECTION_GROWTH_PER_MIN = 1 * MIB;
/** Generous room for each reading the bystander stores meanwhile: its row, index entries, log record, tiles. */
const BYSTANDER_BYTES_PER_READING = 2048;
const BULK = { messagesPerSec: 400, messagesBurst: 400 };
const MAX_RECORDS = PAYLOAD_LIMITS.records.max;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Frames over a budget, held unacknowledged or refused without acknowledgement, for `reason`. */
const rateLimited = (t: TestGateway, reason: string) =>
  t.gw.metrics.sum("vitalog_mqtt_frames_held_total", { reason }) +
  t.gw.metrics.sum("vitalog_mqtt_ack_withheld_total", { reason });
/** Refusals counted for a device, per reason, leaving out frames not admitted (they are never stored). */
const refusalsOf = (t: TestGateway, device: string) =>
  Object.fromEntries(
    (t.gw.metrics.snapshot().vitalog_rejections_total ?? [])
      .filter((s) => s.labels.device === device && !s.labels.reason!.startsWith("rate_limited"))
      .map((s) => [s.labels.reason!, s.value]),
  ) as Record<string, number>;
const countedInDb = (t: TestGateway, device: string) =>
  Object.fromEntries(
    (
      t.gw.db
        .prepare("SELECT reason, SUM(count) AS n FROM rejection_counts WHERE device_id = ? GROUP BY reason")
        .all(device) as Array<{ reason: string; n: number }>
    ).map((r) => [r.reason, r.n]),
  );

describe("rejection and valid-reading floods (real broker, real SQLite)", () => {
  let t: TestGateway;
  const cleanup: Array<{ end(): Promise<void> }> = [];

  before(async () => {
    t = await startTestGateway({
      ingest: { ...IN_PROCESS_INGEST, limits: { models: { "bulk-uploader": BULK } } },
    });
  });
  after(async () => {
    for (const c of cleanup) await c.end();
    await t.close();
  });

  it("keeps a rejection flood's database growth under 1 MB/min, counts every refusal, rate-limits the flooder, and the bystander loses nothing", async (tc) => {
    const by = await Bystander.connect(t.url, "bystander-r", await t.provision("bystander-r"));
    cleanup.push(by);
    for (const id of ["flood-records", "flood-bulk"]) {
      await t.gw.registry.add(
        { id, subjectId: `pt-${id}`, password: `pw-${id}`, model: "bulk-uploader" },
        Date.now(),
      );
    }
    const oversize = rejectionFloodPack();
    assert.ok(oversize.length <= 16_384 && oversize.length > 16_000);
    const refusedRecords = unknownVitalPack(MAX_RECORDS);
    by.start(50);
    await sleep(300);
    const bytesBefore = databaseBytes(t.gw.db);
    const storedBefore = storedDeviceTimes(t.gw.db, by.id).length;
    const t0 = performance.now();
    // bench:abuse's reject-flood shape at the default budget and unthrottled, and the worst case for the
    // counts: a pack of as many records as allowed, each refused on its own; the database bound must not rest
    // on the rate limit
    const floods = [
      {
        perPack: 1,
        f: new Flooder(
          await t.connect("flood-default", await t.provision("flood-default")),
          "vitalog/dev/flood-default/json",
          () => oversize,
        ),
      },
      {
        perPack: 1,
        f: new Flooder(
          await t.connect("flood-bulk", "pw-flood-bulk"),
          "vitalog/dev/flood-bulk/json",
          () => oversize,
        ),
      },
      {
        perPack: MAX_RECORDS,
        f: new Flooder(
          await t.connect("flood-records", "pw-flood-records"),
          "vitalog/dev/flood-records/senml",
          () => refusedRecords,
        ),
      },
    ];
    cleanup.push(...floods.map((x) => x.f));
    await sleep(15_000);
    for (const { f } of floods) f.stop();
    const elapsedSec = (performance.now() - t0) / 1000;
    // what was in flight is answered (the default flooder's at its budget's pace)
    for (const { f } of floods)
      await waitFor(() => f.acked === f.sent, 20_000, `${f.topic}: last acknowledgements`);
    await by.stop();
    const grown = databaseBytes(t.gw.db) - bytesBefore;
    const bystanderReadings = storedDeviceTimes(t.gw.db, by.id).length - storedBefore;
    const allowed =
      (REJECTION_GROWTH_PER_MIN * elapsedSec) / 60 +
      bystanderReadings * BYSTANDER_BYTES_PER_READING +
      64 * 1024;
    const top = bytesByTable(t.gw.db)
      .slice(0, 5)
      .map((r) => `${r.name} ${(r.bytes / 1024).toFixed(0)} KiB`)
      .join(", ");
    tc.diagnostic(
      `${elapsedSec.toFixed(1)} s: packs acknowledged ${floods.map(({ f }) => `${f.topic.split("/")[2]} ${f.acked}`).join(", ")}; database +${(grown / 1024).toFixed(0)} KiB (${(((grown / elapsedSec) * 60) / MIB).toFixed(2)} MiB/min, allowed ${(allowed / 1024).toFixed(0)} KiB); largest: ${top}`,
    );
    assert.ok(
      grown <= allowed,
      `database grew ${grown} bytes in ${elapsedSec.toFixed(1)} s (allowed ${allowed.toFixed(0)})`,
    );

    // the default-budget flooder is held to its budget; the excess is counted
    const [byDefault, byBulk, byRecords] = floods.map((x) => x.f) as [Flooder, Flooder, Flooder];
    const budget = DEFAULT_RATE_LIMIT.messagesBurst + DEFAULT_RATE_LIMIT.messagesPerSec * elapsedSec + 4;
    assert.ok(
      byDefault.acked <= budget,
      `default flooder acknowledged ${byDefault.acked} > budget ${budget}`,
    );
    assert.ok(
      byBulk.acked > byDefault.acked,
      "the unthrottled flooder sent more than the default budget allows",
    );
    assert.ok(byRecords.acked > 20, "the record flooder got through enough to be a flood");
    assert.ok(rateLimited(t, "rate_limited_messages") > 0, "frames over the message budget are counted");

    // every refusal is counted, per device and reason, and the counts reach the database
    for (const { f, perPack } of floods) {
      const device = f.topic.split("/")[2]!;
      const metric = refusalsOf(t, device);
      const total = Object.values(metric).reduce((a, b) => a + b, 0);
      assert.ok(
        total >= f.acked * perPack,
        `${device}: ${total} refusals counted for ${f.acked} packs of ${perPack}`,
      );
      assert.deepEqual(countedInDb(t, device), metric, `${device}: the counts in rejection_counts`);
      assert.equal(f.closes, 0, `${device} stays connected`);
    }
    const samples = (t.gw.db.prepare("SELECT COUNT(*) AS n FROM rejections").get() as { n: number }).n;
    assert.ok(samples > 0 && samples < 1000, `a capped sample of refusals is kept (${samples} rows)`);
    assert.equal(t.gw.metrics.value("vitalog_commits_total", { outcome: "failed" }), 0);

    by.assertIntact(storedDeviceTimes(t.gw.db, by.id));
    tc.diagnostic(by.summary());
  });

  it("admits a valid-reading flood at the device's reading budget, whole frames only; a pack over the record limit is refused; the bystander loses nothing", async (tc) => {
    const by = await Bystander.connect(t.url, "bystander-v", await t.provision("bystander-v"));
    cleanup.push(by);
    by.start(50);
    // packs of 1,800 valid readings: more records than a pack may hold, refused whole (and acknowledged)
    const big = await t.connect("flood-1800", await t.provision("flood-1800"));
    const pack1800 = validFloodPack("flood-1800", 1800);
    assert.ok(pack1800.length <= 16_384);
    for (let i = 0; i < 4; i++) await big.publishAsync("vitalog/dev/flood-1800/senml", pack1800, { qos: 1 });
    assert.equal(t.gw.store.count("flood-1800"), 0);
    assert.deepEqual(refusalsOf(t, "flood-1800"), { [PAYLOAD_LIMITS.records.reason]: 4 });

    // packs of as many valid readings as allowed: admitted at the reading budget
    const id = "flood-valid";
    const frame = MAX_RECORDS;
    const pack = validFloodPack(id, frame);
    const t0 = performance.now();
    const flood = new Flooder(
      await t.connect(id, await t.provision(id)),
      `vitalog/dev/${id}/senml`,
      () => pack,
    );
    cleanup.push(flood);
    await sleep(8000);
    flood.stop();
    const elapsedSec = (performance.now() - t0) / 1000;
    const stored = t.gw.store.count(id);
    const acked = flood.acked;
    tc.diagnostic(
      `${elapsedSec.toFixed(1)} s: ${flood.sent} packs of ${frame} sent, ${acked} acknowledged, ${stored} readings stored`,
    );
    assert.ok(acked >= 1, "the flooder is not starved: its budget admits packs");
    // a frame is stored whole or not at all, and only once acknowledged (at most the 4 in flight are racing)
    assert.equal(stored % frame, 0, "whole frames only");
    assert.ok(
      stored >= acked * frame && stored <= (acked + 4) * frame,
      `${stored} stored for ${acked} acknowledged`,
    );
    // the budget: the burst, the rate, and one frame larger than the burst taken on credit
    const budget = DEFAULT_RATE_LIMIT.readingsBurst + DEFAULT_RATE_LIMIT.readingsPerSec * elapsedSec + frame;
    assert.ok(stored <= budget, `${stored} readings stored in ${elapsedSec.toFixed(1)} s, budget ${budget}`);
    assert.ok(rateLimited(t, "rate_limited_readings") > 0, "frames over the reading budget are counted");
    assert.equal(flood.closes, 0, "the flooder stays connected");

    await by.stop();
    by.assertIntact(storedDeviceTimes(t.gw.db, by.id));
    tc.diagnostic(by.summary());
  });

  it("sees a device that disconnects while its over-budget frames are held, and drops those frames unacknowledged", async () => {
    const by = await Bystander.connect(t.url, "bystander-g", await t.provision("bystander-g"));
    cleanup.push(by);
    by.start(50);
    const id = "flood-gone";
    const heldBefore = rateLimited(t, "rate_limited_readings");
    const flood = new Flooder(await t.connect(id, await t.provision(id)), `vitalog/dev/${id}/senml`, () =>
      validFloodPack(id, MAX_RECORDS),
    );
    // the first pack spends the reading budget; the next ones wait about 20 s each for it
    await waitFor(
      () => flood.acked >= 1 && rateLimited(t, "rate_limited_readings") > heldBefore,
      10_000,
      "a held frame",
    );
    const connected = t.gw.metrics.value("vitalog_mqtt_clients");
    // a frame over the budget is either held (and dropped unacknowledged at the disconnect) or, when the
    // budget would keep it waiting longer than the hold bound, withheld at once
    const unacknowledged = () =>
      ["disconnected", "rate_limited_readings", "rate_limited_messages"].reduce(
        (n, reason) => n + t.gw.metrics.value("vitalog_mqtt_ack_withheld_total", { reason, qos: "1" }),
        0,
      );
    const dropped = unacknowledged();
    await flood.end();
    // a socket the gateway no longer reads must still be seen to close, or a device that went away keeps its
    // held frames in memory, counts as connected, and holds up shutdown until its budget admits them
    await waitFor(
      () => t.gw.metrics.value("vitalog_mqtt_clients") === connected - 1,
      5000,
      "the disconnect seen",
    );
    assert.ok(unacknowledged() > dropped, "frames over the budget left unacknowledged and counted");
    assert.equal(t.gw.store.count(id), flood.acked * MAX_RECORDS, "nothing unacknowledged stored");
    await by.stop();
    by.assertIntact(storedDeviceTimes(t.gw.db, by.id));
  });

  it("stops reading the socket of a device over its budget instead of buffering what it sends", async (tc) => {
    const by = await Bystander.connect(t.url, "bystander-s", await t.provision("bystander-s"));
    cleanup.push(by);
    by.start(50);
    const id = "flood-socket";
    const raw = await rawMqtt(t.gw.mqtt.port, id, await t.provision(id));
    cleanup.push({ end: async () => void raw.socket.destroy() });
    const payload = Buffer.from(validFloodPack(id, MAX_RECORDS));
    // 1,000 QoS 1 packs written at once, as a device with a backlog would: 200 times its reading budget
    const packets = Array.from({ length: 1000 }, (_, i) =>
      mqttPacket.generate({
        cmd: "publish",
        topic: `vitalog/dev/${id}/senml`,
        payload,
        qos: 1,
        messageId: i + 1,
        dup: false,
        retain: false,
      }),
    );
    const written = packets.reduce((n, p) => n + p.length, 0);
    const t0 = performance.now();
    raw.socket.write(Buffer.concat(packets));
    await new Promise((r) => setTimeout(r, 3000));
    const server = (t.gw.mqtt.broker as unknown as { clients: Record<string, { conn: Socket }> }).clients[
      id
    ]!;
    const read = server.conn.bytesRead;
    const admitted = raw.count("puback");
    const elapsedSec = (performance.now() - t0) / 1000;
    tc.diagnostic(`${written} bytes written, ${read} read by the gateway, ${admitted} packs acknowledged`);
    // what was read is what was admitted plus a few socket reads' worth; the rest waits in TCP
    assert.ok(read < written / 4, `the gateway read ${read} of ${written} bytes`);
    const budget =
      DEFAULT_RATE_LIMIT.readingsBurst + DEFAULT_RATE_LIMIT.readingsPerSec * elapsedSec + MAX_RECORDS;
    assert.ok(
      admitted >= 1 && admitted * MAX_RECORDS <= budget,
      `${admitted} packs admitted, budget ${budget}`,
    );
    assert.equal(t.gw.store.count(id), admitted * MAX_RECORDS);
    assert.equal(raw.isClosed, false, "the device stays connected");
    await by.stop();
    by.assertIntact(storedDeviceTimes(t.gw.db, by.id));
  });
});
