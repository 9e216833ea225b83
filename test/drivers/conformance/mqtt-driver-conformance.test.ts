/**
 * The Driver conformance suite on the MQTT driver: the embedded aedes broker on a loopback port, a real device
 * registry in a SQLite file, mqtt.js clients as the devices. The authorised device publishes SenML at QoS 1 (its
 * PUBACK is the device-level acknowledgement); the refused one presents a wrong password. Devices connect to
 * this driver, so it reports a lost connection and never backs off on their behalf.
 */
import { rmSync } from "node:fs";
import mqtt, { type MqttClient } from "mqtt";
import { systemClock } from "../../../src/clock.js";
import { parseConfig } from "../../../src/config.js";
import { openDatabase } from "../../../src/db.js";
import { Admission } from "../../../src/drivers/admission.js";
import { builtinMqttDefinitions } from "../../../src/drivers/definitions/mqtt-payload-definitions.js";
import { DeviceRegistry } from "../../../src/drivers/device-registry.js";
import { registerDriverConformanceTests } from "../../../src/drivers/driver-conformance.js";
import { MqttTransport } from "../../../src/drivers/mqtt/mqtt-transport.js";
import { createLogger } from "../../../src/log.js";
import { Metrics } from "../../../src/metrics.js";
import { MIGRATIONS } from "../../../src/migrations.js";
import { tempDir } from "../../helpers/gateway.js";

const DEVICE = "band-1";
const INTRUDER = "band-2";
const PASSWORD = "band-1-secret-password";
const pack = (hr: number) => JSON.stringify([{ n: "hr", u: "beat/min", v: hr }]);

registerDriverConformanceTests({
  name: "MQTT driver (embedded aedes on loopback, mqtt.js devices)",
  definitions: [],
  deviceKey: DEVICE,
  refusedDeviceKey: INTRUDER,
  reportsRefusals: false,
  hasDeviceAcks: true,
  async setUp(ctx) {
    const dir = tempDir("vitalog-mqtt-conformance-");
    const config = parseConfig(
      {
        gateway: { id: "gw", origin: "test.vitalog.invalid/gw/gw", stateDir: dir },
        mqtt: { port: 0 },
        admin: { port: 0 },
        log: { level: "silent" },
      },
      dir,
    );
    const db = openDatabase(`${dir}/vitalog.db`, MIGRATIONS, { synchronous: "normal", busyTimeoutMs: 25 });
    const registry = new DeviceRegistry(db);
    await registry.add({ id: DEVICE, subjectId: "pt-1", password: PASSWORD }, Date.now());
    await registry.add({ id: INTRUDER, subjectId: "pt-2", password: "the-real-password" }, Date.now());
    const driver = new MqttTransport({
      config: config.mqtt,
      registry,
      sink: ctx.sink,
      backlog: { pendingWeight: 0, countNotAdmitted() {} },
      definitions: builtinMqttDefinitions,
      admission: new Admission({ config: config.ingest, clock: systemClock }),
      clock: ctx.clock,
      maxPendingReadings: config.ingest.maxPendingReadings,
      maxRssBytes: config.ingest.maxRssBytes,
      log: createLogger("silent"),
      metrics: new Metrics(),
    });
    const clients: MqttClient[] = [];
    const connect = async (id: string, password: string) => {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${driver.port}`, {
        clientId: id,
        username: id,
        password,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
      clients.push(c);
      return c;
    };
    let device: MqttClient | undefined;
    let acks = 0;
    let hr = 60;
    return {
      driver,
      async sendFrame() {
        device ??= await connect(DEVICE, PASSWORD);
        // the PUBACK is counted when it comes; the send itself does not wait for it
        device.publish(`vitalog/dev/${DEVICE}/senml`, pack(++hr), { qos: 1 }, (err) => {
          if (!err) acks++;
        });
      },
      async sendRefusedFrame() {
        const c = await connect(INTRUDER, "a-guessed-password");
        await c.publishAsync(`vitalog/dev/${INTRUDER}/senml`, pack(70), { qos: 1 });
      },
      acks: () => acks,
      async dropLink() {
        device?.end(true);
        device = undefined;
      },
      async restoreLink() {
        device = await connect(DEVICE, PASSWORD);
      },
      async close() {
        for (const c of clients) c.end(true);
        db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
