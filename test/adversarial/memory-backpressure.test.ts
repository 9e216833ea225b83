/**
 * Memory back-pressure must stop the offenders, not the ward. A gateway in a child process (its RSS is its
 * own) whose memory bound is below what it uses at rest: resident memory stays over the bound whatever the
 * devices do (as after a spike the allocator does not give back), yet devices with a reading or two in
 * flight are still read, while a device keeping many packs in flight is the one held back.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mqtt from "mqtt";
import { Bystander, Flooder, storedDeviceTimes, validFloodPack } from "../helpers/adversary.js";
import { type ChildGateway, startChildGateway } from "../helpers/adversary-child.js";

const MIB = 1024 * 1024;

describe("memory over its bound (child-process gateway, real broker, real SQLite)", () => {
  let g: ChildGateway;
  const cleanup: Array<{ end(): Promise<void> }> = [];

  before(async () => {
    g = await startChildGateway({
      devices: [{ id: "bystander-1" }, { id: "bystander-2" }, { id: "uploader-1", model: "uploader" }],
      config: {
        ingest: {
          maxRssBytes: 32 * MIB,
          limits: { models: { uploader: { readingsPerSec: 5000, readingsBurst: 5000 } } },
        },
      },
    });
  });
  after(async () => {
    for (const c of cleanup) await c.end();
    await g.stop();
  });

  it("keeps reading well-behaved devices while memory is over its bound", async (tc) => {
    const bystanders = [
      await Bystander.connect(g.url, "bystander-1", g.password("bystander-1")),
      await Bystander.connect(g.url, "bystander-2", g.password("bystander-2")),
    ];
    cleanup.push(...bystanders);
    for (const by of bystanders) by.start(50);
    const uploader = new Flooder(
      await mqtt.connectAsync(g.url, {
        clientId: "uploader-1",
        username: "uploader-1",
        password: g.password("uploader-1"),
        protocolVersion: 4,
        reconnectPeriod: 0,
      }),
      "vitalog/dev/uploader-1/senml",
      () => validFloodPack("uploader-1", 500),
    );
    cleanup.push(uploader);
    await new Promise((r) => setTimeout(r, 6000));
    uploader.stop();
    tc.diagnostic(
      `child RSS ${(g.rssBytes() / MIB).toFixed(0)} MiB; uploader packs acknowledged ${uploader.acked}`,
    );
    await Promise.all(bystanders.map((by) => by.stop(10_000)));
    for (const by of bystanders) tc.diagnostic(by.summary());
    for (const by of bystanders) g.withDb((db) => by.assertIntact(storedDeviceTimes(db, by.id)));
  });

  it("stops cleanly on SIGTERM once the devices are gone", async () => {
    for (const c of cleanup.splice(0)) await c.end();
    const exit = await g.stop();
    assert.deepEqual(
      { code: exit.code, signal: exit.signal },
      { code: 0, signal: null },
      "exit 0, not killed",
    );
  });
});
