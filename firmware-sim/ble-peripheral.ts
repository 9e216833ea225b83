#!/usr/bin/env node
/**
 * BLE peripheral simulator: a simulated BlueZ (fake-bluez.ts) on a private D-Bus with N peripherals, each a
 * standard GATT health profile following a patient scenario, sending the exact profile bytes (notifications
 * and indications) at a rate, plus optional bad frames and link drops.
 *
 *   node dist/firmware-sim/ble-peripheral.js --bus unix:path=… --devices devices.json [--rate 1]
 *        [--bad-every 20] [--drop-every-sec 60]
 *
 * devices.json: [{ "address": "AA:BB:CC:DD:EE:01", "profile": "heart_rate", "scenario"?: "stable",
 *                  "name"?: "…", "paired"?: false, "storedRecords"?: 5 }, …]
 *
 * A glucose meter keeps every measurement (plus `storedRecords` older ones, 5 minutes apart, from its
 * scenario) and serves them through its Record Access Control Point [clinical.md §1.7.1].
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  BAD_FRAME,
  type BleProfile,
  GlucoseRecordStore,
  measurementCharacteristic,
  peripheralSpec,
  profileFrame,
  serveGlucoseRecords,
} from "./ble-profiles.js";
import { FakeBluez } from "./fake-bluez.js";
import { rng, type Scenario, sampleVitals, scenarioFor } from "./scenarios.js";

export interface SimBleDevice {
  address: string;
  profile: BleProfile;
  scenario?: Scenario | undefined;
  name?: string | undefined;
  paired?: boolean | undefined;
  /** Glucose only: records already stored when the simulator starts (default 0). */
  storedRecords?: number | undefined;
}

export interface BlePeripheralOptions {
  busAddress: string;
  devices: readonly SimBleDevice[];
  /** Measurements per second per device. */
  rateHz?: number | undefined;
  /** Every n-th frame of a device is malformed (0 = never). */
  badEvery?: number | undefined;
  /** Each connected device loses its link every this many seconds (0 = never). */
  dropEverySec?: number | undefined;
  seed?: number | undefined;
}

/** Starts the simulated BlueZ and the peripherals' measurement loops. */
export async function startBlePeripherals(o: BlePeripheralOptions) {
  const bluez = await FakeBluez.start(o.busAddress);
  const stats = { sent: 0, bad: 0, drops: 0 };
  const timers: NodeJS.Timeout[] = [];
  const startedAt = Date.now();
  /** The record store of each glucose meter, by address. */
  const glucose = new Map<string, GlucoseRecordStore>();
  o.devices.forEach((d, i) => {
    bluez.addPeripheral(
      peripheralSpec(d.address, d.profile, d.name ?? `VITALOG-${d.profile}-${i + 1}`, d.paired),
    );
    const random = rng((o.seed ?? 1) * 104729 + i);
    const scenario = d.scenario ?? scenarioFor(i);
    const char = measurementCharacteristic(d.profile);
    const store = d.profile === "glucose" ? new GlucoseRecordStore() : undefined;
    if (store) {
      const n = d.storedRecords ?? 0;
      for (let k = n; k >= 1; k--) {
        const sample = sampleVitals(scenario, 0, random);
        if (sample) store.add(sample, startedAt - k * 300_000);
      }
      glucose.set(d.address.toUpperCase(), store);
      serveGlucoseRecords(bluez, d.address, store);
    }
    let seq = 0;
    const tick = () => {
      const sample = sampleVitals(scenario, (Date.now() - startedAt) / 1000, random);
      if (!sample) return;
      seq++;
      const bad = (o.badEvery ?? 0) > 0 && seq % o.badEvery! === 0;
      const bytes = bad
        ? BAD_FRAME
        : store
          ? store.add(sample, Date.now()).frame // a meter keeps what it measures
          : profileFrame(d.profile, sample, seq, Date.now());
      if (bluez.notify(d.address, char, bytes)) {
        stats.sent++;
        if (bad) stats.bad++;
      }
    };
    timers.push(setInterval(tick, 1000 / (o.rateHz ?? 1)));
    if ((o.dropEverySec ?? 0) > 0) {
      timers.push(
        setInterval(() => {
          if (bluez.isConnected(d.address)) {
            stats.drops++;
            bluez.dropConnection(d.address);
          }
        }, o.dropEverySec! * 1000),
      );
    }
  });
  return {
    bluez,
    stats,
    glucose,
    async stop() {
      for (const t of timers) clearInterval(t);
      await bluez.stop();
    },
  };
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bus: { type: "string" },
      devices: { type: "string" },
      rate: { type: "string", default: "1" },
      "bad-every": { type: "string", default: "0" },
      "drop-every-sec": { type: "string", default: "0" },
    },
  });
  if (!values.bus || !values.devices) {
    process.stderr.write("--bus ADDRESS and --devices FILE are required\n");
    process.exit(64);
  }
  const devices = JSON.parse(readFileSync(values.devices, "utf8")) as SimBleDevice[];
  const sim = await startBlePeripherals({
    busAddress: values.bus,
    devices,
    rateHz: Number(values.rate),
    badEvery: Number(values["bad-every"]),
    dropEverySec: Number(values["drop-every-sec"]),
  });
  process.stderr.write(`ble simulator: ${devices.length} peripheral(s) on ${values.bus}\n`);
  const finish = async () => {
    await sim.stop();
    process.stdout.write(`${JSON.stringify(sim.stats)}\n`);
    process.exit(0);
  };
  process.once("SIGINT", finish);
  process.once("SIGTERM", finish);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  cli().catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    process.exit(1);
  });
}
