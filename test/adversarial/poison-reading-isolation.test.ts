/**
 * Poison readings: values that pass a naive decoder but that SQLite cannot store (a REAL in an INTEGER
 * column, an integer past 64 bits) or that no clock could have produced, sent in packs next to valid records
 * and interleaved with good devices' packs so they share group commits. Only the poison record is refused,
 * with a counted reason; the valid records around it, and every other device's readings, commit
 * [DESIGN.md "Bad input never takes good input down with it"].
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { MqttClient } from "mqtt";
import {
  Bystander,
  deepKindPayload,
  IN_PROCESS_INGEST,
  storedDeviceTimes,
  within,
} from "../helpers/adversary.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";

const POISON = "poison-1";
/** An hour ago, in whole seconds: valid records carry `BASE_SEC + k`, distinct per pack. */
const BASE_SEC = Math.floor(Date.now() / 1000) - 3600;

interface PoisonPack {
  name: string;
  format: "senml" | "json";
  payload: string;
  /** Device time (ms) of the valid record the pack also carries, if any. */
  goodTimeMs: number | null;
  /** Device times (ms) the gateway may store for the odd record instead of refusing it (rounded to the ms). */
  toleratedTimesMs?: number[];
}

const senmlHead = (k: number) => ({ bn: "urn:dev:poison:", bt: BASE_SEC + k, n: "hr", u: "beat/min", v: 70 });
const jsonGood = (k: number) => ({
  kind: "heart_rate",
  value: 70,
  unit: "/min",
  time: (BASE_SEC + k) * 1000,
});

/** Poison records after one valid record; the last ones are whole-frame poison with nothing valid. */
const POISONS: Array<(k: number) => PoisonPack> = [
  ...(
    [
      ["relative t -1e20", { n: "hr", u: "beat/min", v: 71, t: -1e20 }],
      ["base time 1e20", { bt: 1e20, n: "hr", u: "beat/min", v: 71 }],
      ["base time -1e20", { bt: -1e20, n: "hr", u: "beat/min", v: 71 }],
      ["time 1e15 s ahead (an int64 of ms, year 31 million)", { n: "hr", u: "beat/min", v: 71, t: 1e15 }],
      ["time past int64 milliseconds", { n: "hr", u: "beat/min", v: 71, t: 9.3e15 }],
      ["relative time 8 years ahead", { bt: 2 ** 28 - 0.5, n: "hr", u: "beat/min", v: 71 }],
      ["value 1e308", { n: "hr", u: "beat/min", v: 1e308 }],
    ] as const
  ).map(
    ([name, poison]) =>
      (k: number): PoisonPack => ({
        name: `senml ${name}`,
        format: "senml",
        payload: JSON.stringify([senmlHead(k), poison]),
        goodTimeMs: (BASE_SEC + k) * 1000,
      }),
  ),
  ...(
    [
      ["time 1e300", { time: 1e300 }],
      ["time -1e20", { time: -1e20 }],
      ["time past ECMAScript dates", { time: 8.64e15 + 1 }],
      ["time before ECMAScript dates", { time: -8.64e15 - 1 }],
      ["ISO year 275760", { time: "+275760-09-13T00:00:00.000Z" }],
      ["weight 1e308", { kind: "body_weight", value: 1e308, unit: "kg" }],
    ] as const
  ).map(
    ([name, poison]) =>
      (k: number): PoisonPack => ({
        name: `json ${name}`,
        format: "json",
        payload: JSON.stringify({
          readings: [jsonGood(k), { kind: "heart_rate", value: 71, unit: "/min", ...poison }],
        }),
        goodTimeMs: (BASE_SEC + k) * 1000,
      }),
  ),
  () => ({
    name: "json kind nested 5,000 deep",
    format: "json",
    payload: deepKindPayload(5000),
    goodTimeMs: null,
  }),
  () => ({
    name: "json pack time 1e300 for every reading",
    format: "json",
    payload: JSON.stringify({ time: 1e300, readings: [{ kind: "heart_rate", value: 70, unit: "/min" }] }),
    goodTimeMs: null,
  }),
];

describe("poison-reading isolation in shared group commits (real broker, real SQLite)", () => {
  let t: TestGateway;
  let poison: MqttClient;
  let poisonCloses = 0;
  const bystanders: Bystander[] = [];

  before(async () => {
    // a commit window long enough that every round's packs share one commit
    t = await startTestGateway({ storage: { batchMaxDelayMs: 25 }, ingest: IN_PROCESS_INGEST });
    for (const id of ["bystander-1", "good-2", "good-3"]) {
      bystanders.push(await Bystander.connect(t.url, id, await t.provision(id)));
    }
    poison = await t.connect(POISON, await t.provision(POISON));
    poison.on("close", () => poisonCloses++);
  });
  after(async () => {
    for (const b of bystanders) await b.end();
    await t.close();
  });

  it("refuses only the poison record, with a counted reason; valid records and other devices' readings in the same commits are stored", async (tc) => {
    const [steady, ...good] = bystanders;
    steady!.start(50);
    const packs = [...POISONS, ...POISONS].map((make, k) => make(k));
    const commitsBefore = t.gw.metrics.value("vitalog_commits_total", { outcome: "ok" });
    const acks: Array<Promise<unknown>> = [];
    let frames = 0;
    for (const p of packs) {
      // one round: the poison pack and a good reading from each good device, in the same tick
      acks.push(poison.publishAsync(`vitalog/dev/${POISON}/${p.format}`, p.payload, { qos: 1 }));
      for (const b of good) acks.push(b.publish("heart_rate", 72, "/min"));
      frames += 1 + good.length;
      await new Promise((r) => setTimeout(r, 60));
    }
    // firmware re-sends what it believes lost: the same poison again
    for (const p of packs)
      acks.push(poison.publishAsync(`vitalog/dev/${POISON}/${p.format}`, p.payload, { qos: 1 }));
    frames += packs.length;
    await within(Promise.all(acks), 30_000, "every pack acknowledged");

    const commits = t.gw.metrics.value("vitalog_commits_total", { outcome: "ok" }) - commitsBefore;
    assert.ok(commits < frames, `frames shared commits (${frames} frames in ${commits} commits)`);
    assert.equal(
      t.gw.metrics.value("vitalog_commits_total", { outcome: "failed" }),
      0,
      "no group commit failed",
    );
    assert.equal(poisonCloses, 0, "the poisoning device itself stays connected");

    // the valid records of poisoned packs are stored, once each despite the re-send; nothing else of the device
    const expected = packs
      .flatMap((p) => (p.goodTimeMs === null ? [] : [p.goodTimeMs]))
      .sort((a, b) => a - b);
    const stored = storedDeviceTimes(t.gw.db, POISON).sort((a, b) => a - b);
    assert.deepEqual(stored, expected, "exactly the valid records of the poisoned packs are stored");

    // every poison record is refused and counted, with a reason, per device; the counts reach the database
    const refusedPacks = packs.filter((p) => p.toleratedTimesMs === undefined).length * 2;
    const byReason = t.gw.metrics
      .snapshot()
      .vitalog_rejections_total!.filter((s) => s.labels.device === POISON)
      .map((s) => [s.labels.reason!, s.value] as const);
    const refused = byReason.reduce((n, [, v]) => n + v, 0);
    assert.ok(
      refused >= refusedPacks,
      `each poison counted (${refused} refusals for ${refusedPacks} poison sends)`,
    );
    for (const [reason] of byReason)
      assert.match(reason, /^[a-z0-9_]+$/, "reasons are snake_case wire strings");
    const counted = t.gw.db
      .prepare("SELECT reason, SUM(count) AS n FROM rejection_counts WHERE device_id = ? GROUP BY reason")
      .all(POISON) as Array<{ reason: string; n: number }>;
    assert.deepEqual(
      Object.fromEntries(counted.map((r) => [r.reason, r.n])),
      Object.fromEntries(byReason),
      "rejection_counts holds what the metrics counted, per reason",
    );
    tc.diagnostic(`refusal reasons: ${byReason.map(([r, n]) => `${r} ${n}`).join(", ")}`);

    // good devices and the steady bystander lose nothing
    await steady!.stop();
    for (const b of bystanders) {
      b.assertIntact(storedDeviceTimes(t.gw.db, b.id));
      tc.diagnostic(b.summary());
    }
  });

  it("refuses a battery level outside 0–100 % with a counted reason instead of alarming on it", async () => {
    const id = "battery-1";
    const c = await t.connect(id, await t.provision(id));
    const frames: Array<["senml" | "json", string]> = [
      ["senml", JSON.stringify([{ bn: `urn:dev:${id}:`, n: "bat", u: "%EL", v: -1e20 }])],
      ["senml", JSON.stringify([{ bn: `urn:dev:${id}:`, n: "bat", u: "%EL", v: 1e308 }])],
      ["json", JSON.stringify({ battery_pct: -5, readings: [] })],
      ["json", JSON.stringify({ battery_pct: 1e308, readings: [] })],
    ];
    for (const [format, payload] of frames)
      await c.publishAsync(`vitalog/dev/${id}/${format}`, payload, { qos: 1 });
    assert.equal(t.gw.metrics.sum("vitalog_rejections_total", { device: id }), frames.length, "each counted");
    const battery = t.gw.rules.engine
      .activeAlerts()
      .filter((a) => a.device_id === id && a.rule_id === "technical.battery_low");
    assert.deepEqual(
      battery.map((a) => a.reason),
      [],
      "no battery alarm raised from an impossible level",
    );
    assert.ok(c.connected);
  });
});
