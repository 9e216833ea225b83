/**
 * A graceful stop ends every MQTT client's connection and completes, whatever the clients do: with alert
 * subscribers connected, one of which has stopped reading its socket. (How long it takes is measured by
 * bench/stop.ts, not asserted here.)
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import mqtt from "mqtt";
import mqttPacket from "mqtt-packet";
import { cli, writeConfig } from "../batcher/tlog-fixture.js";
import { spawnGateway, waitExit } from "../helpers/child-gateway.js";
import { tempDir, writeSecret } from "../helpers/gateway.js";

/** A subscriber that connects and subscribes by hand, then never reads again (a hung nurse station). */
async function stalledSubscriber(port: number): Promise<Socket> {
  const socket = connect(port, "127.0.0.1");
  await new Promise<void>((res, rej) => socket.once("connect", res).once("error", rej));
  socket.on("error", () => {});
  const send = (p: Parameters<typeof mqttPacket.generate>[0]) => socket.write(mqttPacket.generate(p));
  send({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: 4,
    clean: true,
    clientId: "station-s/stalled",
    keepalive: 0,
    username: "station-s",
    password: Buffer.from("station-s-secret"),
  });
  send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "vitalog/alerts/#", qos: 1 }] });
  // the CONNACK and SUBACK arrive; then the socket is never read again
  await new Promise<void>((res) => socket.once("data", () => res()));
  socket.pause();
  return socket;
}

describe("a graceful stop with clients connected", () => {
  const dir = tempDir("vitalog-stop-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("exits 0 and disconnects every client, a stalled one included", { timeout: 60_000 }, async () => {
    const configFile = writeConfig(dir, [
      "alerts:",
      "  consumers:",
      `    - { id: station-s, passwordFile: ${writeSecret(dir, "station.pw", "station-s-secret")}, canAcknowledge: true }`,
    ]);
    const added = await cli([
      "devices",
      "add",
      "--config",
      configFile,
      "--id",
      "wear-s",
      "--subject",
      "pt-s",
    ]);
    assert.equal(added.code, 0, added.stderr);
    const password = (JSON.parse(added.stdout) as { mqtt: { password: string } }).mqtt.password;
    // the "ready" line the test waits for, with the port, is logged at info
    writeFileSync(configFile, readFileSync(configFile, "utf8").replace("level: silent", "level: info"));
    const gw = await spawnGateway(configFile);
    const port = Number(/"mqttPort":(\d+)/.exec(gw.output())![1]);
    const opts = { protocolVersion: 4 as const, reconnectPeriod: 0 };
    const stations = await Promise.all(
      [1, 2, 3].map((i) =>
        mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          ...opts,
          clientId: `station-s/${i}`,
          username: "station-s",
          password: "station-s-secret",
        }),
      ),
    );
    for (const s of stations) {
      s.on("error", () => {});
      await s.subscribeAsync("vitalog/alerts/#", { qos: 1 });
    }
    const stalled = await stalledSubscriber(port);
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      ...opts,
      clientId: "wear-s",
      username: "wear-s",
      password,
    });
    device.on("error", () => {});
    // an alert on the way to every subscriber (systolic 60 mmHg: HIGH at once)
    const alerted = new Promise<void>((res) => stations[0]!.once("message", () => res()));
    await device.publishAsync(
      "vitalog/dev/wear-s/json",
      JSON.stringify({ readings: [{ kind: "bp_systolic", value: 60, unit: "mm[Hg]" }] }),
      { qos: 1 },
    );
    await alerted;
    const closed = [...stations, device].map((c) => new Promise<void>((res) => c.once("close", () => res())));
    const stalledClosed = new Promise<void>((res) => stalled.once("close", () => res()));
    gw.child.kill("SIGTERM");
    const exit = await waitExit(gw.child);
    assert.deepEqual(exit, { code: 0, signal: null }, gw.output().slice(-2000));
    stalled.resume();
    await Promise.all([...closed, stalledClosed]);
  });
});
