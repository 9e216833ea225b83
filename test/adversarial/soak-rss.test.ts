/**
 * A short soak of a gateway in a child process (its RSS is its own, read from /proc/<pid>/status): 16
 * well-behaved devices at 20 QoS 1 readings/s each, and one device sending packs of refused records at its
 * budget, for `VITALOG_SOAK_SEC` seconds (60 by default; the 10-minute soak belongs in the benchmark).
 * Memory must level off: the second half's trend (least squares over per-second samples) adds no more than
 * a generous bound, and RSS never passes the budget for a single-device flood (README, systemd). No timing
 * assertions on speed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mqtt from "mqtt";
import { PAYLOAD_LIMITS } from "../../src/drivers/mqtt/json-bounds.js";
import { Bystander, Flooder, storedDeviceTimes, unknownVitalPack } from "../helpers/adversary.js";
import { type ChildGateway, sampleSum, startChildGateway } from "../helpers/adversary-child.js";

const MIB = 1024 * 1024;
const SOAK_SEC = Number(process.env.VITALOG_SOAK_SEC ?? 60);
const DEVICES = Array.from({ length: 16 }, (_, i) => `wearable-${i + 1}`);
const ABUSER = "abuser-1";
/** Most RSS growth allowed over the soak's second half (its least-squares trend, so GC noise averages out). */
const MAX_SECOND_HALF_GROWTH = 24 * MIB;
/** The RSS budget under any single-device flood (README, systemd: "at most 300 MB resident"). */
const MAX_RSS = 300 * MIB;

/** Least-squares slope of `y` over `x`. */
function slope(points: ReadonlyArray<{ x: number; y: number }>): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const num = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

describe("a short soak with RSS sampled (child-process gateway, real broker, real SQLite)", () => {
  let g: ChildGateway;
  const cleanup: Array<{ end(): Promise<void> }> = [];

  before(async () => {
    g = await startChildGateway({ devices: [...DEVICES.map((id) => ({ id })), { id: ABUSER }] });
  });
  after(async () => {
    for (const c of cleanup) await c.end();
    await g.stop();
  });

  it("levels off in memory while devices publish and one keeps sending refused packs; nothing is lost", async (tc) => {
    const wearables: Bystander[] = [];
    for (const id of DEVICES) {
      const by = await Bystander.connect(g.url, id, g.password(id));
      cleanup.push(by);
      wearables.push(by);
    }
    // staggered, so the readings are spread over each 50 ms
    for (const [i, by] of wearables.entries()) setTimeout(() => by.start(50), (i * 50) / wearables.length);
    const abuser = new Flooder(
      await mqtt.connectAsync(g.url, {
        clientId: ABUSER,
        username: ABUSER,
        password: g.password(ABUSER),
        protocolVersion: 4,
        reconnectPeriod: 0,
      }),
      `vitalog/dev/${ABUSER}/senml`,
      () => unknownVitalPack(PAYLOAD_LIMITS.records.max),
    );
    cleanup.push(abuser);

    const samples: Array<{ x: number; y: number }> = [];
    const t0 = performance.now();
    while (performance.now() - t0 < SOAK_SEC * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(g.isAlive(), `the gateway exited:\n${g.output().slice(-3000)}`);
      samples.push({ x: (performance.now() - t0) / 60_000, y: g.rssBytes() });
    }
    abuser.stop();
    await Promise.all(wearables.map((by) => by.stop()));

    const second = samples.slice(Math.floor(samples.length / 2));
    const perMin = slope(second);
    const growth = perMin * (second.at(-1)!.x - second[0]!.x);
    const peak = Math.max(...samples.map((s) => s.y));
    const m = await g.metrics();
    const readings = sampleSum(m, "vitalog_readings_accepted_total");
    const refusals = sampleSum(m, "vitalog_rejections_total", { device: ABUSER });
    tc.diagnostic(
      `${SOAK_SEC} s, ${readings} readings stored, ${refusals} refusals: RSS start ${(samples[0]!.y / MIB).toFixed(0)} MiB, peak ${(peak / MIB).toFixed(0)} MiB, end ${(samples.at(-1)!.y / MIB).toFixed(0)} MiB; second half's trend ${(perMin / MIB).toFixed(2)} MiB/min, ${(growth / MIB).toFixed(1)} MiB`,
    );
    tc.diagnostic(`RSS MiB per second: ${samples.map((s) => (s.y / MIB).toFixed(0)).join(" ")}`);
    assert.ok(
      growth <= MAX_SECOND_HALF_GROWTH,
      `RSS grew ${(growth / MIB).toFixed(1)} MiB over the second half`,
    );
    assert.ok(peak <= MAX_RSS, `RSS peaked at ${(peak / MIB).toFixed(0)} MiB`);
    assert.equal(sampleSum(m, "vitalog_commits_total", { outcome: "failed" }), 0);
    assert.ok(refusals > 0 && abuser.closes === 0, "the abuser was refused, counted, and stayed connected");
    g.withDb((db) => {
      for (const by of wearables) by.assertIntact(storedDeviceTimes(db, by.id));
    });
    const wearableSummary = wearables.map((by) => by.summary().replace(/^[^:]+: /, ""));
    tc.diagnostic(`wearables: ${wearableSummary[0]} (first), ${wearableSummary.at(-1)} (last)`);

    for (const c of cleanup.splice(0)) await c.end();
    const exit = await g.stop();
    assert.deepEqual(
      { code: exit.code, signal: exit.signal },
      { code: 0, signal: null },
      "stops cleanly on SIGTERM",
    );
  });
});
