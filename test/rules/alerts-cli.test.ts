import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import { alertsCommand } from "../../src/cli/alerts.js";
import { observeCommand } from "../../src/cli/observe.js";
import { GatewayError } from "../../src/errors.js";
import { waitFor } from "../helpers/gateway.js";
import { type AlertTestGateway, STATION, startAlertGateway } from "./alert-helpers.js";

function capture() {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => {
    text += d.toString();
  });
  return { out, text: () => text };
}

describe("vitalog alerts / vitalog observe", () => {
  let t: AlertTestGateway;
  let config: string;
  before(async () => {
    t = await startAlertGateway();
    config = join(t.dir, "cli.yaml");
    writeFileSync(
      config,
      [
        `gateway: { id: test-gw, stateDir: ${t.dir} }`,
        `mqtt: { host: 127.0.0.1, port: ${t.gw.mqtt.port} }`,
        `storage: { path: ${t.gw.config.storage.path} }`,
        "alerts:",
        "  consumers:",
        `    - { id: ${STATION}, passwordFile: ${join(t.secrets, "station.pw")}, canAcknowledge: true, canObserve: true }`,
      ].join("\n"),
    );
  });
  after(() => t.close());

  it("lists active alerts and recent transitions, acknowledges by id, and takes a NEWS2 entry", async () => {
    const station = await t.station();
    const dev = await t.device("cuff-cli");
    await dev.send("bp_systolic", 64, "mm[Hg]");
    const raise = await station.next((m) => m.transition === "raise");

    const list = capture();
    assert.equal(await alertsCommand(["--config", config], list.out), 0);
    const shown = JSON.parse(list.text()) as {
      active: { alert_id: string }[];
      recent: { event_id: string }[];
    };
    assert.ok(shown.active.some((a) => a.alert_id === raise.alert_id));
    assert.ok(shown.recent.some((e) => e.event_id === raise.event_id));

    const ack = capture();
    assert.equal(
      await alertsCommand(["ack", raise.alert_id, "--by", "dr.who", "--config", config], ack.out),
      0,
    );
    assert.equal(JSON.parse(ack.text()).ok, true);
    const acked = await station.next((m) => m.transition === "acknowledge");
    // the gateway host's CLI reaches the daemon over its control socket, and is recorded as such
    assert.deepEqual([acked.by, acked.via], ["dr.who", "cli"]);
    await waitFor(
      () =>
        (
          t.gw.db.prepare("SELECT state FROM alerts WHERE alert_id = ?").get(raise.alert_id) as {
            state: string;
          }
        ).state === "acknowledged",
    );
    const listed = capture();
    await alertsCommand(["--config", config], listed.out);
    const ackShown = JSON.parse(listed.text()).active.find(
      (a: { alert_id: string }) => a.alert_id === raise.alert_id,
    );
    assert.deepEqual([ackShown.state, ackShown.acknowledged_by], ["acknowledged", "dr.who"]);

    const again = capture();
    assert.equal(
      await alertsCommand(["ack", raise.alert_id, "--by", "dr.who", "--config", config], again.out),
      1,
    );
    assert.equal(JSON.parse(again.text()).error, "already_acknowledged");

    const obs = capture();
    const code = await observeCommand(
      [
        "--config",
        config,
        "--subject",
        "pt-cuff-cli",
        "--by",
        "nurse.kim",
        "--air",
        "--acvpu",
        "c",
        "--spo2-scale",
        "2",
      ],
      obs.out,
    );
    assert.equal(code, 0);
    const reply = JSON.parse(obs.text());
    assert.equal(reply.news2.scale, 2);
    assert.ok(!reply.news2.missing.includes("consciousness"));

    // a refused user exits 77 (EX_NOPERM), as `vitalog users` does; another refusal (above) exits 1
    const ghost = capture();
    const ghostArgs = ["--config", config, "--subject", "pt-cuff-cli", "--by", "nurse.ghost", "--air"];
    assert.equal(await observeCommand(ghostArgs, ghost.out), 77);
    assert.equal(JSON.parse(ghost.text()).error, "unknown_user");

    await assert.rejects(
      observeCommand(
        ["--config", config, "--subject", "pt-1", "--by", "x", "--air", "--oxygen"],
        capture().out,
      ),
      (e) => e instanceof GatewayError && e.code === "USAGE",
    );
    await assert.rejects(
      alertsCommand(["ack", raise.alert_id, "--config", config], capture().out),
      (e) => e instanceof GatewayError && e.code === "USAGE",
    );
  });
});
