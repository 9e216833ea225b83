/**
 * A graceful stop does not wait for clients to leave: `vitalog run` exits 0 on SIGTERM while a device and
 * a nurse station are still connected (a listener's close otherwise waits for every connection it accepted).
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import mqtt from "mqtt";
import { cli, writeConfig } from "./batcher/tlog-fixture.js";
import { spawnGateway, waitExit } from "./helpers/child-gateway.js";
import { tempDir, writeSecret } from "./helpers/gateway.js";

describe("graceful stop with clients connected", () => {
  const dir = tempDir("vitalog-shutdown-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  // without a bound, a stop that waits for its clients would hang the suite instead of failing it
  it("exits 0 on SIGTERM while a device and a consumer stay connected", { timeout: 30_000 }, async () => {
    const configFile = writeConfig(dir, [
      "alerts:",
      "  consumers:",
      `    - { id: station-s, passwordFile: ${writeSecret(dir, "station.pw", "station-s-secret")}, canAcknowledge: true }`,
    ]);
    writeFileSync(configFile, readFileSync(configFile, "utf8").replace("level: silent", "level: info"));
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
    const gw = await spawnGateway(configFile);
    const port = Number(/"mqttPort":(\d+)/.exec(gw.output())![1]);
    const opts = { protocolVersion: 4 as const, reconnectPeriod: 0 };
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      ...opts,
      clientId: "wear-s",
      username: "wear-s",
      password,
    });
    const station = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      ...opts,
      clientId: "station-s/1",
      username: "station-s",
      password: "station-s-secret",
    });
    await station.subscribeAsync("vitalog/alerts/#", { qos: 1 });
    device.on("error", () => {});
    station.on("error", () => {});
    gw.child.kill("SIGTERM");
    const exit = await waitExit(gw.child);
    assert.deepEqual(exit, { code: 0, signal: null }, gw.output().slice(-2000));
    device.end(true);
    station.end(true);
  });
});
