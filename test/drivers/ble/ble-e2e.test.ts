/**
 * End to end: unmodified node-ble (inside a real gateway) against the simulated BlueZ on a private
 * dbus-daemon. Discovery, notifications and indications from several profiles, a bad frame, link loss and
 * reconnection, adapter power loss, and devices that must be ignored (not allow-listed, not provisioned,
 * not paired).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  BAD_FRAME,
  measurementCharacteristic,
  peripheralSpec,
  profileFrame,
} from "../../../firmware-sim/ble-profiles.js";
import { FakeBluez } from "../../../firmware-sim/fake-bluez.js";
import { type PrivateBus, startPrivateBus } from "../../../firmware-sim/private-bus.js";
import type { Reading } from "../../../src/reading.js";
import { startTestGateway, type TestGateway, tempDir, waitFor, writeSecret } from "../../helpers/gateway.js";
import { NORMAL_SAMPLE } from "../../helpers/vitals.js";

const HR = "AA:BB:CC:DD:EE:01";
const THERMO = "AA:BB:CC:DD:EE:02";
const OXI = "AA:BB:CC:DD:EE:03";
const STRANGER = "AA:BB:CC:DD:EE:04"; // advertises Blood Pressure, not allow-listed
const UNPROVISIONED = "AA:BB:CC:DD:EE:05"; // allow-listed, but its device id is not in the registry
const UNPAIRED = "AA:BB:CC:DD:EE:06"; // allow-listed with pairedOnly, not bonded

const sample = NORMAL_SAMPLE;

describe("BLE driver end to end (node-ble ↔ simulated BlueZ on a private D-Bus)", () => {
  let bus: PrivateBus;
  let bluez: FakeBluez;
  let t: TestGateway;
  const readings: Reading[] = [];
  const savedEnv = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  const hrChar = measurementCharacteristic("heart_rate");

  /** Sends one frame once the central is subscribed. */
  const send = async (
    address: string,
    profile: Parameters<typeof measurementCharacteristic>[0],
    bytes: Uint8Array,
  ) => {
    await waitFor(
      () => bluez.isSubscribed(address, measurementCharacteristic(profile)),
      15_000,
      `${address} subscribed`,
    );
    assert.ok(bluez.notify(address, measurementCharacteristic(profile), bytes));
  };
  const byDevice = (id: string) => readings.filter((r) => r.deviceId === id);
  const bleStatus = () =>
    t.gw.status().ble as {
      adapter: { state: string };
      devices: Array<{
        address: string;
        deviceId: string;
        state: string;
        reconnects: number;
        rejected: number;
      }>;
      refusedAddresses: string[];
    };

  before(async () => {
    bus = await startPrivateBus();
    // node-ble reads the address when the driver creates its bus: set it before the gateway starts
    process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address;
    bluez = await FakeBluez.start(bus.address);
    bluez.addPeripheral(peripheralSpec(HR, "heart_rate", "Polar H10"));
    bluez.addPeripheral(peripheralSpec(THERMO, "thermometer", "Thermo"));
    bluez.addPeripheral(peripheralSpec(OXI, "pulse_oximeter", "Nonin"));
    bluez.addPeripheral(peripheralSpec(STRANGER, "blood_pressure", "Intruder cuff"));
    bluez.addPeripheral(peripheralSpec(UNPROVISIONED, "heart_rate", "Spare strap"));
    bluez.addPeripheral(peripheralSpec(UNPAIRED, "heart_rate", "Unbonded strap", false));
    const secrets = tempDir();
    const pw = writeSecret(secrets, "pw", "unused-for-ble");
    t = await startTestGateway({
      devices: [
        { id: "hr-1", subject: "pt-1", passwordFile: pw },
        { id: "thermo-1", subject: "pt-1", passwordFile: pw },
        { id: "oxi-1", subject: "pt-2", passwordFile: pw },
        { id: "hr-unpaired", subject: "pt-3", passwordFile: pw },
      ],
      ble: {
        enabled: true,
        scanIntervalMs: 100,
        connectTimeoutMs: 5000,
        reconnect: { initialDelayMs: 100, maxDelayMs: 400, multiplier: 2, jitter: 0.2 },
        devices: [
          { address: HR, deviceId: "hr-1" },
          { address: THERMO.toLowerCase(), deviceId: "thermo-1" },
          { address: OXI, deviceId: "oxi-1", definition: "Pulse Oximeter Profile oximeter" },
          { address: UNPROVISIONED, deviceId: "hr-spare" },
          { address: UNPAIRED, deviceId: "hr-unpaired", pairedOnly: true },
        ],
      },
    });
    t.gw.ingest.addListener({ onReading: (r) => readings.push(r) });
  });

  after(async () => {
    await t?.close();
    await bluez?.stop();
    await bus?.stop();
    if (savedEnv === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
    else process.env.DBUS_SYSTEM_BUS_ADDRESS = savedEnv;
  });

  it("discovers allow-listed devices and decodes notifications and indications of several profiles", async () => {
    await send(HR, "heart_rate", profileFrame("heart_rate", sample, 1, Date.now()));
    await send(THERMO, "thermometer", profileFrame("thermometer", sample, 1, Date.now())); // an indication
    await send(OXI, "pulse_oximeter", profileFrame("pulse_oximeter", sample, 1, Date.now()));
    await waitFor(
      () => byDevice("hr-1").length >= 1 && byDevice("thermo-1").length >= 1 && byDevice("oxi-1").length >= 2,
    );
    assert.deepEqual(
      byDevice("hr-1").map((r) => [r.kind, r.value, r.subjectId]),
      [["heart_rate", 72, "pt-1"]],
    );
    assert.deepEqual(
      byDevice("thermo-1").map((r) => [r.kind, r.value, r.unit]),
      [["body_temperature", 36.8, "Cel"]],
    );
    assert.deepEqual(
      byDevice("oxi-1")
        .map((r) => [r.kind, r.value])
        .sort(),
      [
        ["pulse_rate", 72],
        ["spo2", 97],
      ],
    );
    await waitFor(() => t.gw.store.count("oxi-1") === 2, 5000, "readings committed");
    for (const d of bleStatus().devices.filter((x) => [HR, THERMO, OXI].includes(x.address)))
      assert.equal(d.state, "connected", d.address);
  });

  it("counts a malformed frame per device and reason and keeps the device up", async () => {
    await send(HR, "heart_rate", BAD_FRAME);
    await waitFor(
      () => t.gw.store.rejections("hr-1").some((r) => r.reason === "frame_too_short"),
      5000,
      "rejection stored",
    );
    assert.equal(
      t.gw.metrics.value("vitalog_rejections_total", { device: "hr-1", reason: "frame_too_short" }),
      1,
    );
    const before = byDevice("hr-1").length;
    await send(HR, "heart_rate", profileFrame("heart_rate", { ...sample, heartRate: 75 }, 2, Date.now()));
    await waitFor(() => byDevice("hr-1").length === before + 1);
    assert.equal(byDevice("hr-1").at(-1)!.value, 75);
  });

  it("reconnects with backoff after link loss and resumes notifications", async () => {
    await waitFor(() => bluez.isSubscribed(HR, hrChar));
    bluez.dropConnection(HR);
    assert.equal(bluez.isSubscribed(HR, hrChar), false);
    await waitFor(
      () => (bleStatus().devices.find((d) => d.address === HR)?.reconnects ?? 0) >= 1,
      5000,
      "link loss seen",
    );
    const before = byDevice("hr-1").length;
    await send(HR, "heart_rate", profileFrame("heart_rate", { ...sample, heartRate: 88 }, 3, Date.now()));
    await waitFor(() => byDevice("hr-1").length === before + 1, 5000, "reading after reconnect");
    assert.equal(byDevice("hr-1").at(-1)!.value, 88);
  });

  it("survives adapter power loss and reconnects every device when power returns", async () => {
    bluez.setPowered(false);
    await waitFor(() => bleStatus().adapter.state === "powered_off", 5000, "power loss seen");
    assert.equal(bluez.isConnected(HR), false);
    bluez.setPowered(true);
    const before = byDevice("oxi-1").length;
    await send(OXI, "pulse_oximeter", profileFrame("pulse_oximeter", { ...sample, spo2: 94 }, 4, Date.now()));
    await waitFor(() => byDevice("oxi-1").length === before + 2, 10_000, "readings after power returns");
    assert.ok(byDevice("oxi-1").some((r) => r.kind === "spo2" && r.value === 94));
    await send(HR, "heart_rate", profileFrame("heart_rate", sample, 5, Date.now()));
    assert.equal(bleStatus().adapter.state, "ready");
  });

  it("never connects to a device that is not allow-listed, not provisioned or not paired, and records the refusal", async () => {
    await waitFor(() => bleStatus().refusedAddresses.includes(STRANGER), 5000, "stranger refused");
    await waitFor(
      () => t.gw.store.rejections().filter((r) => r.reason === "device_not_provisioned").length >= 2,
      5000,
      "refusals stored",
    );
    const details = t.gw.store
      .rejections()
      .filter((r) => r.reason === "device_not_provisioned")
      .map((r) => r.detail);
    assert.ok(details.some((d) => d.includes(STRANGER) && d.includes("not configured")));
    assert.ok(details.some((d) => d.includes(UNPROVISIONED) && d.includes("hr-spare")));
    const states = Object.fromEntries(bleStatus().devices.map((d) => [d.address, d.state]));
    assert.equal(states[UNPROVISIONED], "refused");
    assert.equal(states[UNPAIRED], "refused");
    for (const a of [STRANGER, UNPROVISIONED, UNPAIRED]) assert.equal(bluez.isConnected(a), false, a);
    assert.equal(readings.filter((r) => !["hr-1", "thermo-1", "oxi-1"].includes(r.deviceId)).length, 0);
  });
});
