/**
 * The BLE and serial part of `vitalog demo`: when dbus-daemon and socat are installed, a simulated BlueZ on a
 * private D-Bus with three BLE peripherals (heart rate, thermometer, pulse oximeter) and two serial bedside
 * monitors on socat pty pairs (binary and ASCII), all following the shared patient scenarios, in child
 * processes. When a prerequisite is missing the demo runs without that transport and says why.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BleProfile } from "./ble-profiles.js";
import { hasDbusDaemon, type PrivateBus, startPrivateBus } from "./private-bus.js";
import { hasSocat, PtyPair } from "./pty-pair.js";
import { type Scenario, scenarioFor } from "./scenarios.js";

const SIM_DIR = dirname(fileURLToPath(import.meta.url));

export interface FieldDevice {
  deviceId: string;
  subjectId: string;
  scenario: Scenario;
  transport: "ble" | "serial";
}

export interface FieldDevices {
  /** Config keys to merge into the demo gateway's config (devices, ble, serial). */
  config: Record<string, unknown>;
  devices: FieldDevice[];
  /** One line per transport: what runs, or why it does not. */
  notes: string[];
  /** Starts the simulators (after the gateway is up). */
  startSimulators(ratePerSec: number): void;
  stop(): Promise<void>;
}

const BLE: Array<{ address: string; profile: BleProfile }> = [
  { address: "C0:FF:EE:00:00:01", profile: "heart_rate" },
  { address: "C0:FF:EE:00:00:02", profile: "thermometer" },
  { address: "C0:FF:EE:00:00:03", profile: "pulse_oximeter" },
];

/** Prepares buses and pty pairs in `stateDir`; sets DBUS_SYSTEM_BUS_ADDRESS for node-ble when BLE runs. */
export async function prepareFieldDevices(stateDir: string, firstIndex: number): Promise<FieldDevices> {
  const notes: string[] = [];
  const devices: FieldDevice[] = [];
  const children: ChildProcess[] = [];
  let bus: PrivateBus | null = null;
  const pairs: Array<{ pair: PtyPair; format: "binary" | "ascii"; scenario: Scenario }> = [];
  const passwordFile = join(stateDir, "field-devices.secret");
  writeFileSync(passwordFile, "not-used-by-ble-or-serial\n", { mode: 0o600 });
  const configDevices: Array<Record<string, string>> = [];
  const add = (deviceId: string, transport: FieldDevice["transport"]) => {
    const i = firstIndex + devices.length;
    const d = {
      deviceId,
      subjectId: `pt-${String(i + 1).padStart(3, "0")}`,
      scenario: scenarioFor(i),
      transport,
    };
    devices.push(d);
    configDevices.push({ id: deviceId, subject: d.subjectId, passwordFile, model: transport });
    return d;
  };
  const config: Record<string, unknown> = {};

  if (hasDbusDaemon()) {
    bus = await startPrivateBus();
    process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address; // node-ble reads it when the driver connects
    const bleDevices = BLE.map((b, k) => ({ ...b, deviceId: `ble-${String(k + 1).padStart(3, "0")}` }));
    for (const b of bleDevices) add(b.deviceId, "ble");
    config.ble = {
      enabled: true,
      scanIntervalMs: 500,
      devices: bleDevices.map((b) => ({ address: b.address, deviceId: b.deviceId })),
    };
    notes.push(
      `BLE: ${bleDevices.length} peripherals on a simulated BlueZ (private D-Bus ${bus.address}), via node-ble`,
    );
  } else {
    notes.push("BLE: not shown — dbus-daemon is not installed (Debian package `dbus`)");
  }
  if (hasSocat()) {
    for (const format of ["binary", "ascii"] as const) {
      const d = add(`serial-${format}`, "serial");
      pairs.push({ pair: await PtyPair.open(stateDir, format), format, scenario: d.scenario });
    }
    config.serial = {
      ports: pairs.map((p) => ({
        path: p.pair.gatewayPath,
        deviceId: `serial-${p.format}`,
        definition: `${p.format}-bedside`,
      })),
    };
    notes.push(`serial: ${pairs.length} bedside monitors (binary framed + ASCII lines) on socat pty pairs`);
  } else {
    notes.push("serial: not shown — socat is not installed (Debian package `socat`)");
  }
  if (configDevices.length > 0) config.devices = configDevices;

  return {
    config,
    devices,
    notes,
    startSimulators(rate) {
      if (bus) {
        const file = join(stateDir, "ble-devices.json");
        const scenarios = devices.filter((d) => d.transport === "ble").map((d) => d.scenario);
        writeFileSync(file, JSON.stringify(BLE.map((b, k) => ({ ...b, scenario: scenarios[k] }))));
        children.push(
          spawn(
            process.execPath,
            [
              join(SIM_DIR, "ble-peripheral.js"),
              "--bus",
              bus.address,
              "--devices",
              file,
              "--rate",
              String(rate),
              "--bad-every",
              "40",
              "--drop-every-sec",
              "90",
            ],
            { stdio: "ignore" },
          ),
        );
      }
      for (const p of pairs) {
        children.push(
          spawn(
            process.execPath,
            [
              join(SIM_DIR, "serial-device.js"),
              "--path",
              p.pair.devicePath,
              "--format",
              p.format,
              "--scenario",
              p.scenario,
              "--rate",
              String(rate),
              "--garbage-every",
              "30",
              "--bad-checksum-every",
              "45",
            ],
            { stdio: "ignore" },
          ),
        );
      }
    },
    async stop() {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((done) => {
              if (c.exitCode !== null || c.signalCode !== null) return done();
              c.once("exit", () => done());
              c.kill("SIGTERM");
            }),
        ),
      );
      for (const p of pairs) await p.pair.unplug();
      await bus?.stop();
    },
  };
}
