/**
 * The Driver conformance suite on the BLE driver: unmodified node-ble against the simulated BlueZ (firmware-sim)
 * on a private dbus-daemon. A heart-rate strap is allow-listed and authorised; a second one is allow-listed but
 * not authorised.
 */
import {
  measurementCharacteristic,
  peripheralSpec,
  profileFrame,
} from "../../../firmware-sim/ble-profiles.js";
import { FakeBluez } from "../../../firmware-sim/fake-bluez.js";
import { startPrivateBus } from "../../../firmware-sim/private-bus.js";
import { BleDriver } from "../../../src/drivers/ble/ble-driver.js";
import { definitions as sigDefinitions } from "../../../src/drivers/definitions/sig-standard-devices.js";
import { registerDriverConformanceTests } from "../../../src/drivers/driver-conformance.js";
import { NORMAL_SAMPLE } from "../../helpers/vitals.js";

const STRAP = "AA:BB:CC:DD:EE:11";
const STRANGER = "AA:BB:CC:DD:EE:12";
const HR = measurementCharacteristic("heart_rate");
const backoff = { initialDelayMs: 100, maxDelayMs: 400, multiplier: 2, jitter: 0 };

registerDriverConformanceTests({
  name: "BLE driver (node-ble, simulated BlueZ on a private D-Bus)",
  definitions: sigDefinitions.filter((d) => d.match.transport === "ble"),
  deviceKey: STRAP,
  refusedDeviceKey: STRANGER,
  backoff,
  reportsRefusals: true,
  hasDeviceAcks: false,
  timeoutMs: 20_000,
  async setUp(ctx) {
    const bus = await startPrivateBus();
    const savedEnv = process.env.DBUS_SYSTEM_BUS_ADDRESS;
    // node-ble reads the address when the driver creates its bus, at start
    process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address;
    const bluez = await FakeBluez.start(bus.address);
    bluez.addPeripheral(peripheralSpec(STRAP, "heart_rate", "Strap"));
    bluez.addPeripheral(peripheralSpec(STRANGER, "heart_rate", "Other strap"));
    const driver = new BleDriver(ctx, {
      devices: [
        { address: STRAP, definition: undefined, pairedOnly: false },
        { address: STRANGER, definition: undefined, pairedOnly: false },
      ],
      scanIntervalMs: 100,
      connectTimeoutMs: 5000,
      reconnect: backoff,
    });
    let seq = 0;
    const notify = (address: string) => {
      if (!bluez.notify(address, HR, profileFrame("heart_rate", NORMAL_SAMPLE, ++seq, Date.now())))
        throw new Error(`${address} is not subscribed`);
    };
    return {
      driver,
      sendFrame: async () => notify(STRAP),
      sendRefusedFrame: async () => notify(STRANGER),
      async dropLink() {
        bluez.dropConnection(STRAP);
      },
      async restoreLink() {},
      async close() {
        await bluez.stop();
        await bus.stop();
        if (savedEnv === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
        else process.env.DBUS_SYSTEM_BUS_ADDRESS = savedEnv;
      },
    };
  },
});
