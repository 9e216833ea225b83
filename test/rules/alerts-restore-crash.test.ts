/**
 * Active alerts survive SIGKILL: a HIGH alert raised before the crash is back after the restart with the same
 * alert id, in the retained active set, in `vitalog alerts`, and can be acknowledged (child-process gateway).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import mqtt, { type MqttClient } from "mqtt";
import { loadConfig } from "../../src/config.js";
import type { AlertSnapshot } from "../../src/rules/alert-event.js";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { MAIN, spawnGateway, waitExit } from "../helpers/child-gateway.js";
import { tempDir, waitFor, writeSecret } from "../helpers/gateway.js";
import { addUsers } from "../helpers/users.js";

const run = promisify(execFile);
const STATION = "station-r";
const STATION_PW = "station-r-secret";

/** Connects the nurse station and collects the retained active set and per-alert messages. */
async function station(port: number, suffix: string) {
  const client: MqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: `${STATION}/${suffix}`,
    username: STATION,
    password: STATION_PW,
    reconnectPeriod: 0,
  });
  client.on("error", () => {});
  const sets: { alerts: AlertSnapshot[] }[] = [];
  const perAlert = new Map<string, AlertMessage | null>();
  const events: AlertMessage[] = [];
  client.on("message", (topic, payload) => {
    const text = payload.toString();
    if (topic === "vitalog/alerts/active") sets.push(JSON.parse(text));
    else if (topic === "vitalog/alerts/events") events.push(JSON.parse(text));
    else if (topic.startsWith("vitalog/alerts/alert/"))
      perAlert.set(topic.slice("vitalog/alerts/alert/".length), text === "" ? null : JSON.parse(text));
  });
  await client.subscribeAsync("vitalog/alerts/#", { qos: 1 });
  return { client, sets, perAlert, events };
}

describe("active alerts across SIGKILL (child-process gateway)", () => {
  const dir = tempDir("vitalog-restore-crash-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("restores a HIGH alert with the same id: retained active set, CLI list, acknowledge after restart", async () => {
    const configFile = join(dir, "vitalog.yaml");
    const cuffPasswordFile = writeSecret(dir, "cuff.pw", "cuff-secret");
    const stationPasswordFile = writeSecret(dir, "station.pw", STATION_PW);
    // each life binds MQTT port 0; the CLI (which reaches the gateway over MQTT) then gets the port the
    // running gateway bound written into its config, as an operator's config names it
    const writeConfig = (mqttPort: number) =>
      writeFileSync(
        configFile,
        [
          "gateway: { id: restore-gw, stateDir: state }",
          `mqtt: { host: 127.0.0.1, port: ${mqttPort} }`,
          "admin: { port: 0 }",
          "log: { level: info }",
          "devices:",
          `  - { id: cuff-r, subject: pt-r, passwordFile: ${cuffPasswordFile} }`,
          "alerts:",
          "  consumers:",
          `    - { id: ${STATION}, passwordFile: ${stationPasswordFile}, canAcknowledge: true }`,
        ].join("\n"),
      );
    writeConfig(0);

    // the nurse who acknowledges after the restart is a user the gateway knows
    await addUsers(loadConfig(configFile), [{ id: "nurse1", role: "nurse" }]);
    const first = await spawnGateway(configFile);
    let alertId: string;
    try {
      const before = await station(first.mqttPort, "before");
      const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.mqttPort}`, {
        clientId: "cuff-r",
        username: "cuff-r",
        password: "cuff-secret",
        reconnectPeriod: 0,
      });
      device.on("error", () => {});
      // the PUBACK comes after the group commit that carried the raise
      await device.publishAsync(
        "vitalog/dev/cuff-r/json",
        JSON.stringify({ readings: [{ kind: "bp_systolic", value: 58, unit: "mm[Hg]" }] }),
        { qos: 1 },
      );
      await waitFor(() => before.events.some((e) => e.transition === "raise"), 10_000, "raise");
      const raise = before.events.find((e) => e.transition === "raise")!;
      assert.deepEqual([raise.priority, raise.rule_id], ["high", "threshold.bp_systolic.low"]);
      alertId = raise.alert_id;
      first.child.kill("SIGKILL");
      assert.equal((await waitExit(first.child)).signal, "SIGKILL");
      await device.endAsync(true).catch(() => {});
      await before.client.endAsync(true).catch(() => {});
    } finally {
      if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill("SIGKILL");
    }

    const second = await spawnGateway(configFile);
    writeConfig(second.mqttPort);
    try {
      assert.match(second.output(), /"restored":1,"skipped":0,"msg":"active alerts restored"/);
      // a fresh subscriber gets the retained active set (and the alert's retained topic) at once
      const after = await station(second.mqttPort, "after");
      await waitFor(() => after.sets.length > 0 && after.perAlert.has(alertId), 10_000, "retained messages");
      const restored = after.sets[0]!.alerts.find((a) => a.alert_id === alertId);
      assert.ok(restored, `alert ${alertId} in ${JSON.stringify(after.sets[0])}`);
      assert.deepEqual(
        [restored.state, restored.priority, restored.subject_id, restored.device_id, restored.condition],
        ["raised", "high", "pt-r", "cuff-r", "pt-r:threshold.bp_systolic.low"],
      );
      assert.equal(after.perAlert.get(alertId)?.alert_id, alertId);

      const listed = JSON.parse(
        (await run(process.execPath, [MAIN, "alerts", "--config", configFile])).stdout,
      );
      assert.ok(listed.active.some((a: AlertSnapshot) => a.alert_id === alertId && a.state === "raised"));

      const ack = await run(process.execPath, [
        MAIN,
        "alerts",
        "ack",
        alertId,
        "--by",
        "nurse1",
        "--config",
        configFile,
      ]);
      assert.equal(JSON.parse(ack.stdout).ok, true);
      await waitFor(
        () => after.sets.at(-1)?.alerts.find((a) => a.alert_id === alertId)?.state === "acknowledged",
        10_000,
        "acknowledged in the active set",
      );
      const acked = after.events.find((e) => e.transition === "acknowledge")!;
      assert.deepEqual([acked.alert_id, acked.by, acked.acknowledged_by], [alertId, "nurse1", "nurse1"]);
      // no second alert was raised for the same condition
      assert.equal(after.events.filter((e) => e.transition === "raise").length, 0);
      await after.client.endAsync(true).catch(() => {});
    } finally {
      second.child.kill("SIGTERM");
      await waitExit(second.child);
    }
  });
});
