/**
 * A vendor MQTT payload format as a definition package (examples/vendor-acme-band): installed into a temp npm
 * project, named in `drivers.packages`, loaded with the config as `vitalog run` loads it, and used by a real
 * gateway for a device publishing to its topic. The package also passes the definition conformance suite.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import mqtt, { type MqttClient } from "mqtt";
import { encodeAcmeBand } from "../../../examples/vendor-acme-band/src/acme-band.js";
import * as acmeBand from "../../../examples/vendor-acme-band/src/definition.js";
import { Gateway } from "../../../src/app/gateway.js";
import { systemClock } from "../../../src/clock.js";
import { loadGatewayConfig } from "../../../src/config.js";
import { registerConformanceTests } from "../../../src/drivers/sdk-conformance.js";
import { createLogger } from "../../../src/log.js";
import { tempDir, waitFor } from "../../helpers/gateway.js";

const here = dirname(fileURLToPath(import.meta.url));
const exampleBuilt = resolve(here, "../../../examples/vendor-acme-band"); // dist/examples/…
const exampleManifest = resolve(here, "../../../../examples/vendor-acme-band/package.json");

describe("a vendor MQTT payload format loaded through drivers.packages", () => {
  let project: string;
  let gw: Gateway;
  let client: MqttClient;
  const notices: Array<{ reason: string; detail: string }> = [];

  before(async () => {
    project = tempDir("vitalog-mqtt-vendor-");
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "ward-7-gateway", private: true }));
    // "npm install @acme/vitalog-band": its own manifest, its built files linked in
    const pkg = join(project, "node_modules/@acme/vitalog-band");
    mkdirSync(join(pkg, "dist"), { recursive: true });
    writeFileSync(join(pkg, "package.json"), readFileSync(exampleManifest));
    symlinkSync(join(exampleBuilt, "src"), join(pkg, "dist/src"));
    const file = join(project, "vitalog.yaml");
    writeFileSync(
      file,
      [
        "gateway: { id: gw-7, origin: ward7.example.invalid/vitalog/gw-7, stateDir: state }",
        "mqtt: { port: 0 }",
        "admin: { port: 0 }",
        "log: { level: silent }",
        `drivers: { packages: ["@acme/vitalog-band"], packagesFrom: ${JSON.stringify(project)} }`,
        "",
      ].join("\n"),
    );
    mkdirSync(join(project, "state"), { mode: 0o700 });
    const { config, definitions } = await loadGatewayConfig(file);
    assert.deepEqual(
      definitions.map((d) => [d.origin, d.definition.match.transport]),
      [["@acme/vitalog-band", "mqtt"]],
    );
    gw = await Gateway.start(config, { log: createLogger("silent"), clock: systemClock, definitions });
    await gw.registry.add({ id: "band-7", subjectId: "pt-7", password: "band-7-password" }, Date.now());
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqtt.port}`, {
      clientId: "band-7",
      username: "band-7",
      password: "band-7-password",
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await client.subscribeAsync("vitalog/dev/band-7/rejected");
    client.on("message", (_topic, payload) => notices.push(JSON.parse(payload.toString())));
  });

  after(async () => {
    await client?.endAsync(true).catch(() => {});
    await gw?.stop();
    rmSync(project, { recursive: true, force: true });
  });

  it("stores the readings of a payload published to the vendor's topic before its PUBACK", async () => {
    await client.publishAsync(
      "vitalog/dev/band-7/acme_band",
      Buffer.from(encodeAcmeBand({ heartRate: 72, spo2: 97, skinTemperatureC: 33.5, batteryPct: 80 })),
      { qos: 1 },
    );
    assert.deepEqual(
      gw.store.query({ deviceId: "band-7" }).map((r) => [r.kind, r.value, r.unit, r.subjectId]),
      [
        ["heart_rate", 72, "/min", "pt-7"],
        ["spo2", 97, "%", "pt-7"],
      ],
    );
  });

  it("stores, counts and tells the device a refusal with the vendor's own reason", async () => {
    const bad = encodeAcmeBand({ heartRate: 80 });
    bad[7] = (bad[7]! + 1) & 0xff;
    await client.publishAsync("vitalog/dev/band-7/acme_band", Buffer.from(bad), { qos: 1 });
    assert.deepEqual(
      gw.store.rejections("band-7").map((r) => r.reason),
      ["band_checksum"],
    );
    assert.equal(
      gw.metrics.value("vitalog_rejections_total", { device: "band-7", reason: "band_checksum" }),
      1,
    );
    await waitFor(() => notices.length === 1, 5000, "the rejected message");
    assert.equal(notices[0]!.reason, "band_checksum");
  });

  it("keeps the built-in formats on their own topics next to it", async () => {
    await client.publishAsync("vitalog/dev/band-7/senml", JSON.stringify([{ n: "rr", u: "1/min", v: 16 }]), {
      qos: 1,
    });
    assert.ok(gw.store.query({ deviceId: "band-7" }).some((r) => r.kind === "respiratory_rate"));
  });
});

// What the vendor's own test file contains: one call.
registerConformanceTests(acmeBand, { nowMs: Date.UTC(2025, 0, 1) });
