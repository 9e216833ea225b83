/**
 * A gateway's config is checked in one pass before anything opens (DESIGN.md "Configuration is validated in
 * one pass"): `loadGatewayConfig` lists a problem in every section at once, the vendor definition packages
 * and the drivers' definition references included, so an operator fixes the file in one go.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadGatewayConfig } from "../../src/config.js";
import { GatewayError } from "../../src/errors.js";
import { tempDir, writeSecret } from "../helpers/gateway.js";

const dir = tempDir("vitalog-config-one-pass-");
after(() => rmSync(dir, { recursive: true, force: true }));

const sdkUrl = new URL("../../src/drivers/sdk.js", import.meta.url).href;
const project = join(dir, "project");
const future = join(project, "node_modules/vitalog-future-device");
mkdirSync(future, { recursive: true });
writeFileSync(join(project, "package.json"), JSON.stringify({ name: "ward", private: true }));
writeFileSync(
  join(future, "package.json"),
  JSON.stringify({ name: "vitalog-future-device", type: "module", main: "index.js" }),
);
writeFileSync(
  join(future, "index.js"),
  `import { plxContinuous } from ${JSON.stringify(sdkUrl)};
export const definitions = [{ vendor: "Future", model: "F-2", sdkVersion: "^2.0.0",
  match: { transport: "ble", serviceUuids: ["1822"] }, notify: [plxContinuous()] }];\n`,
);
mkdirSync(join(dir, "state"), { mode: 0o700 });
writeSecret(dir, "wear.pw", "pw");

type Problem = { path: string; message: string };

async function problemsOf(yaml: string): Promise<Problem[]> {
  const file = join(dir, "vitalog.yaml");
  writeFileSync(file, yaml);
  let caught: unknown;
  try {
    await loadGatewayConfig(file);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GatewayError && caught.code === "CONFIG_INVALID", String(caught));
  assert.equal(caught.exitCode, 78);
  return caught.details as Problem[];
}

describe("the gateway's config in one pass", () => {
  it("lists a problem in each section, packages and definition references included, in one run", async () => {
    const problems = await problemsOf(`gateway: { id: gw-1, stateDir: state, origin: "Not An Origin" }
mqtt: { maxPayloadBytes: 10 }
storage: { synchronous: sometimes }
devices: [{ id: "bad id", subject: pt-1, passwordFile: wear.pw }]
admin: { port: 70000 }
log: { level: chatty }
ingest: { maxPendingReadings: lots }
tlog: { checkpointIntervalSec: 0 }
rules: { alarm: {} }
alerts: { noConsumer: { prio: high } }
ble:
  enabled: true
  devices: [{ address: "AA:BB:CC:DD:EE:01", deviceId: wear-1, definition: "Nobody/Nothing" }]
serial:
  ports: [{ path: /dev/ttyUSB0, deviceId: bm-1, definition: binary-bedside, fields: { HR: { kind: heart_rate, unit: /min } } }]
drivers: { packages: [vitalog-not-installed, vitalog-future-device], packagesFrom: ${JSON.stringify(project)} }
anchor: { confirmations: -1 }
`);
    const paths = problems.map((p) => p.path).sort();
    assert.deepEqual(paths, [
      "admin.port",
      "alerts.noConsumer",
      "anchor.confirmations",
      "ble.devices.0.definition",
      "devices.0.id",
      "drivers.packages.0",
      "drivers.packages.1",
      "gateway.origin",
      "ingest.maxPendingReadings",
      "log.level",
      "mqtt.maxPayloadBytes",
      "rules",
      "serial.ports.0.fields",
      "storage.synchronous",
      "tlog.checkpointIntervalSec",
    ]);
    const byPath = new Map(problems.map((p) => [p.path, p.message]));
    assert.match(byPath.get("drivers.packages.0")!, /vitalog-not-installed is not installed/);
    assert.match(byPath.get("drivers.packages.1")!, /vitalog-future-device/);
    assert.match(byPath.get("ble.devices.0.definition")!, /no single BLE definition named Nobody\/Nothing/);
    assert.match(byPath.get("rules")!, /Unrecognized key: "alarm"/);
  });

  it("returns the config and the loaded vendor definitions when the file is sound", async () => {
    const file = join(dir, "sound.yaml");
    writeFileSync(
      file,
      `gateway: { id: gw-1, stateDir: state }
serial:
  ports: [{ path: /dev/ttyUSB0, deviceId: bm-1, definition: ascii-bedside, fields: { HR: { kind: heart_rate, unit: /min } } }]
`,
    );
    const { config, definitions } = await loadGatewayConfig(file);
    assert.equal(config.serial.ports[0]!.definition, "ascii-bedside");
    assert.deepEqual(definitions, []);
  });
});
