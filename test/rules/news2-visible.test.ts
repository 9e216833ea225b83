/**
 * The current NEWS2 of every subject is visible, complete or not: on a retained MQTT topic per subject that
 * only configured consumers may read, through `vitalog news2` (the running daemon's control socket), and in
 * the reply to an `observe` with nothing observed; never on the unauthenticated admin `/status`. A real
 * gateway (aedes on loopback, SQLite in a temp dir); the CLI command runs in-process against its socket.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { news2Command } from "../../src/cli/news2.js";
import { GatewayError } from "../../src/errors.js";
import type { News2Message, News2View } from "../../src/rules/news2-view.js";
import { tempDir, waitFor } from "../helpers/gateway.js";
import { withFreshPort } from "../helpers/ports.js";
import { type AlertTestGateway, type Station, startAlertGateway, WALL } from "./alert-helpers.js";

function capture() {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => {
    text += d.toString();
  });
  return { out, text: () => text };
}

/** A consumer that keeps the latest payload of every NEWS2 topic ("" once cleared). */
async function news2Reader(url: string): Promise<{ client: MqttClient; latest: Map<string, string> }> {
  const client = await mqtt.connectAsync(url, {
    clientId: WALL,
    username: WALL,
    password: "wall-pw",
    reconnectPeriod: 0,
  });
  const latest = new Map<string, string>();
  client.on("message", (topic, payload) => latest.set(topic, payload.toString()));
  await client.subscribeAsync("vitalog/alerts/news2/+", { qos: 1 });
  return { client, latest };
}

const parsed = (text: string | undefined) => (text ? (JSON.parse(text) as News2Message) : undefined);

describe("NEWS2 visible on a running gateway", () => {
  let t: AlertTestGateway;
  let station: Station;
  let config: string;
  let adminPort: number;
  before(async () => {
    // every device value scored as it comes (the persistence window would hold them 10 s of real time; what a
    // pending value looks like on the wire is in news2-persistence.test.ts)
    t = await withFreshPort((port) =>
      startAlertGateway({ admin: { port }, rules: { news2: { persistSec: 0 } } }),
    );
    adminPort = t.gw.adminPort;
    station = await t.station();
    config = join(t.dir, "cli.yaml");
    writeFileSync(config, `gateway: { id: test-gw, stateDir: ${t.dir} }\n`);
  });
  after(() => t.close());

  it("publishes an incomplete NEWS2 retained per subject, then the total once the bedside entry is made", async () => {
    const dev = await t.device("wear-v1");
    for (const [kind, value, unit] of [
      ["respiratory_rate", 22, "/min"],
      ["spo2", 95, "%"],
      ["bp_systolic", 120, "mm[Hg]"],
      ["heart_rate", 95, "/min"],
      ["body_temperature", 37, "Cel"],
    ] as const)
      await dev.send(kind, value, unit);
    // a screen connecting now gets the retained state at once
    const wall = await news2Reader(t.url);
    const topic = "vitalog/alerts/news2/pt-wear-v1";
    await waitFor(() => parsed(wall.latest.get(topic))?.parameters.length === 5, 5000, "retained NEWS2");
    const incomplete = parsed(wall.latest.get(topic))!;
    assert.deepEqual(
      [incomplete.is_complete, incomplete.total, incomplete.band, incomplete.missing],
      [false, null, null, ["supplemental_oxygen", "consciousness"]],
    );
    assert.deepEqual(
      incomplete.parameters.map((p) => [p.parameter, p.value, p.score, p.source.type]),
      [
        ["respiratory_rate", 22, 2, "device"],
        ["spo2", 95, 1, "device"],
        ["systolic_bp", 120, 0, "device"],
        ["pulse", 95, 1, "device"],
        ["temperature", 37, 0, "device"],
      ],
    );

    await station.command("observe", {
      subject_id: "pt-wear-v1",
      by: "nurse.amy",
      supplemental_oxygen: true,
      acvpu: "A",
    });
    await waitFor(() => parsed(wall.latest.get(topic))?.is_complete === true, 5000, "complete NEWS2");
    const complete = parsed(wall.latest.get(topic))!;
    assert.deepEqual(
      [complete.total, complete.band, complete.priority, complete.missing],
      [6, "medium", "medium", []],
    );
    const acvpu = complete.parameters.find((p) => p.parameter === "consciousness");
    assert.deepEqual(
      [acvpu?.value, acvpu?.source],
      ["A", { type: "clinician", entered_by: "nurse.amy", entered_at_ms: acvpu?.observed_at_ms }],
    );
    await wall.client.endAsync(true);
  });

  it("lets no device read a NEWS2 topic", async () => {
    const snoop = await t.device("snoop-n2");
    await assert.rejects(
      snoop.client.subscribeAsync("vitalog/alerts/news2/+", { qos: 1 }),
      /Subscribe error/,
    );
    await assert.rejects(
      snoop.client.subscribeAsync("vitalog/alerts/news2/pt-wear-v1", { qos: 1 }),
      /Subscribe error/,
    );
  });

  it("answers an observe with nothing observed with the current NEWS2 and records nothing", async () => {
    const reply = await station.command("observe", { subject_id: "pt-wear-v1", by: "nurse.amy" });
    assert.equal(reply.ok, true);
    assert.equal((reply.news2 as { total: number }).total, 6);
    // the same News2Message as on the subject's retained topic
    const wall = await news2Reader(t.url);
    const topic = "vitalog/alerts/news2/pt-wear-v1";
    await waitFor(() => wall.latest.has(topic), 5000, "retained NEWS2");
    assert.deepEqual(
      { ...(reply.news2 as News2Message), at_ms: 0 },
      { ...parsed(wall.latest.get(topic))!, at_ms: 0 },
    );
    await wall.client.endAsync(true);
    // group commits are in order: once a later frame is acknowledged, anything recorded before it is stored
    const marker = await t.device("cuff-marker");
    await marker.send("bp_systolic", 120, "mm[Hg]");
    const rows = t.gw.db
      .prepare("SELECT count(*) AS n FROM clinician_observations WHERE subject_id = 'pt-wear-v1'")
      .get() as { n: number };
    assert.equal(rows.n, 1);
  });

  it("replies to an entry with the subject's NEWS2 in the snake_case form of its retained topic", async () => {
    const wall = await news2Reader(t.url);
    const topic = "vitalog/alerts/news2/pt-wear-v1";
    const reply = await station.command("observe", { subject_id: "pt-wear-v1", by: "nurse.amy", acvpu: "A" });
    const news2 = reply.news2 as News2Message;
    const consciousness = news2.parameters.find((p) => p.parameter === "consciousness")!;
    await waitFor(
      () =>
        parsed(wall.latest.get(topic))?.parameters.find((p) => p.parameter === "consciousness")
          ?.observed_at_ms === consciousness.observed_at_ms,
      5000,
      "the entry on the topic",
    );
    assert.deepEqual({ ...news2, at_ms: 0 }, { ...parsed(wall.latest.get(topic))!, at_ms: 0 });
    assert.deepEqual([news2.is_complete, news2.total, news2.subject_id], [true, 6, "pt-wear-v1"]);
    assert.ok(!("isComplete" in news2) && !("subjectId" in news2) && !("staleObservedAtMs" in news2));
    await wall.client.endAsync(true);
  });

  it("lists every bound subject in vitalog news2, complete or not, with what is missing", async () => {
    await t.provision("cuff-quiet", "pt-quiet");
    const text = capture();
    assert.equal(await news2Command(["--config", config], text.out), 0);
    const out = text.text();
    assert.match(
      out,
      /^pt-wear-v1 {2}NEWS2 6 {2}medium clinical risk, SpO2 scale 1 {2}alert priority medium$/m,
    );
    assert.match(out, /^ {2}alert \S+ MEDIUM raised: NEWS2 6 \(medium clinical risk, SpO2 scale 1\)$/m);
    assert.match(out, /^ {2}air or oxygen +oxygen +score 2 .* entered by nurse\.amy$/m);
    assert.match(
      out,
      /^pt-quiet {2}NEWS2 incomplete \(no total\): missing respiration rate, SpO2, air or oxygen, systolic BP, pulse, consciousness, temperature$/m,
    );

    const json = capture();
    assert.equal(await news2Command(["--config", config, "--subject", "pt-quiet", "--json"], json.out), 0);
    const { subjects } = JSON.parse(json.text()) as { subjects: News2View[] };
    assert.deepEqual(
      subjects.map((s) => [s.subject_id, s.is_complete, s.missing.length, s.alert]),
      [["pt-quiet", false, 7, null]],
    );
  });

  it("refuses a subject the gateway knows nothing of, rather than showing it as merely incomplete", async () => {
    await assert.rejects(
      news2Command(["--config", config, "--subject", "pt-typo"], capture().out),
      (err: unknown) => err instanceof GatewayError && err.code === "SUBJECT_UNKNOWN",
    );
  });

  it("keeps NEWS2 and subject ids off the admin /status", async () => {
    const res = await fetch(`http://127.0.0.1:${adminPort}/status`);
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.equal((JSON.parse(body) as { gateway: string }).gateway, "test-gw");
    for (const word of ["pt-wear-v1", "pt-quiet", "news2", "NEWS2"]) assert.ok(!body.includes(word), word);
  });

  it("clears a released subject's retained NEWS2 topic", async () => {
    const wall = await news2Reader(t.url);
    const topic = "vitalog/alerts/news2/pt-wear-v1";
    await waitFor(() => parsed(wall.latest.get(topic))?.total === 6, 5000, "retained NEWS2");
    t.gw.rules.engine.releaseSubject("pt-wear-v1", "admin");
    await waitFor(() => wall.latest.get(topic) === "", 5000, "cleared topic");
    await wall.client.endAsync(true);
  });
});

describe("vitalog news2 without a running gateway", () => {
  it("says no gateway is running on the state directory", async () => {
    const dir = tempDir("vitalog-news2-");
    const config = join(dir, "cli.yaml");
    writeFileSync(config, `gateway: { id: test-gw, stateDir: ${dir} }\n`);
    await assert.rejects(
      news2Command(["--config", config], capture().out),
      (err: unknown) =>
        err instanceof GatewayError &&
        err.code === "CONTROL_FAILED" &&
        /no gateway is running/.test(err.message),
    );
  });
});
