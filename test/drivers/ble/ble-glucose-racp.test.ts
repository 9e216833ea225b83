/**
 * End to end: a glucose meter's stored records fetched through the Record Access Control Point
 * [clinical.md §1.7.1] by the real gateway, unmodified node-ble against the simulated BlueZ on a private
 * dbus-daemon. First connection: "all records"; reconnection: only those above the highest sequence number
 * delivered; an empty answer and an RACP error end the fetch without touching the link.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  GlucoseRecordStore,
  measurementCharacteristic,
  peripheralSpec,
  RACP_CHARACTERISTIC,
  serveGlucoseRecords,
} from "../../../firmware-sim/ble-profiles.js";
import { FakeBluez } from "../../../firmware-sim/fake-bluez.js";
import { type PrivateBus, startPrivateBus } from "../../../firmware-sim/private-bus.js";
import type { RecordFetchHealth } from "../../../src/drivers/ble/ble-session.js";
import { toHex } from "../../../src/drivers/profiles/hex.js";
import { startTestGateway, type TestGateway, tempDir, waitFor, writeSecret } from "../../helpers/gateway.js";
import { NORMAL_SAMPLE } from "../../helpers/vitals.js";

const METER = "AA:BB:CC:DD:EE:21";
const ID = "glu-1";

const sample = NORMAL_SAMPLE;

describe("BLE glucose meter: stored records through the RACP (node-ble ↔ simulated BlueZ)", () => {
  let bus: PrivateBus;
  let bluez: FakeBluez;
  let t: TestGateway;
  const store = new GlucoseRecordStore();
  const savedEnv = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  // whole minutes in the past: the meter took these before the gateway ever connected
  const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;

  const meter = () =>
    (
      t.gw.status().ble as {
        devices: Array<{ address: string; state: string; records: RecordFetchHealth | null }>;
      }
    ).devices.find((d) => d.address === METER)!;
  const deviceTimes = () =>
    t.gw.store
      .query({ deviceId: ID })
      .filter((r) => r.kind === "glucose")
      .map((r) => r.deviceTimeMs)
      .sort((a, b) => (a ?? 0) - (b ?? 0));
  const requests = () => store.requests.map((r) => toHex(r));
  /** Drops the link and waits until the gateway has reconnected and sent its next RACP request. */
  const reconnect = async () => {
    const n = store.requests.length;
    bluez.dropConnection(METER);
    await waitFor(() => store.requests.length === n + 1, 10_000, "RACP request after reconnect");
  };

  before(async () => {
    for (let k = 0; k < 5; k++) store.add(sample, t0 + k * 300_000);
    bus = await startPrivateBus();
    process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address;
    bluez = await FakeBluez.start(bus.address);
    bluez.addPeripheral(peripheralSpec(METER, "glucose", "Contour Next"));
    serveGlucoseRecords(bluez, METER, store);
    const pw = writeSecret(tempDir(), "pw", "unused-for-ble");
    t = await startTestGateway({
      devices: [{ id: ID, subject: "pt-1", passwordFile: pw }],
      ble: {
        enabled: true,
        scanIntervalMs: 100,
        connectTimeoutMs: 5000,
        reconnect: { initialDelayMs: 100, maxDelayMs: 400, multiplier: 2, jitter: 0.2 },
        devices: [{ address: METER, deviceId: ID }],
      },
    });
  });

  after(async () => {
    await t?.close();
    await bluez?.stop();
    await bus?.stop();
    if (savedEnv === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
    else process.env.DBUS_SYSTEM_BUS_ADDRESS = savedEnv;
  });

  it("fetches all stored records on the first connection and stores them with their device times", async () => {
    await waitFor(() => t.gw.store.count(ID) === 5, 10_000, "5 stored records committed");
    assert.deepEqual(requests(), ["01 01"]);
    assert.ok(bluez.isSubscribed(METER, RACP_CHARACTERISTIC), "subscribed to RACP indications");
    assert.deepEqual(
      deviceTimes(),
      store.records.map((r) => r.deviceTimeMs),
    );
    assert.ok(t.gw.store.query({ deviceId: ID }).every((r) => r.kind === "glucose" && r.unit === "mg/dL"));
    await waitFor(() => meter().records?.highestSequenceNumber === 5, 5000, "sequence number kept");
    assert.equal(meter().records?.lastResult, "success");
    assert.equal(meter().records?.fetches, 1);
    assert.equal(meter().state, "connected");
  });

  it("after a link drop asks only for the records above the highest sequence number and stores only those", async () => {
    store.add(sample, t0 + 5 * 300_000);
    store.add(sample, t0 + 6 * 300_000);
    await reconnect();
    // "report stored records, sequence number ≥ 6" [clinical.md §1.7.1]: 01 03 01 06 00
    assert.deepEqual(requests(), ["01 01", "01 03 01 06 00"]);
    await waitFor(() => t.gw.store.count(ID) === 7, 10_000, "2 new records committed");
    assert.deepEqual(
      deviceTimes(),
      store.records.map((r) => r.deviceTimeMs),
    );
    await waitFor(() => meter().records?.highestSequenceNumber === 7, 5000, "sequence number advanced");
    assert.equal(meter().records?.lastResult, "success");
    assert.equal(t.gw.metrics.value("vitalog_readings_duplicate_total", { device: ID }) ?? 0, 0);
  });

  it("ends the fetch on 'no records found' when nothing is new", async () => {
    await reconnect();
    assert.equal(requests().at(-1), "01 03 01 08 00");
    await waitFor(() => meter().records?.lastResult === "no_records_found", 5000, "no records found");
    assert.equal(t.gw.store.count(ID), 7);
    assert.equal(meter().records?.errors, 0);
  });

  it("counts an RACP error response and keeps the device connected with its live notifications", async () => {
    store.failNextWith = 0x08; // procedure not completed
    await reconnect();
    await waitFor(
      () => t.gw.store.rejections(ID).some((r) => r.reason === "racp_procedure_not_completed"),
      5000,
      "RACP error stored as a rejection",
    );
    assert.equal(
      t.gw.metrics.value("vitalog_rejections_total", { device: ID, reason: "racp_procedure_not_completed" }),
      1,
    );
    assert.equal(meter().records?.lastResult, "procedure_not_completed");
    assert.equal(meter().records?.errors, 1);
    assert.equal(meter().state, "connected");
    assert.ok(bluez.isConnected(METER));
    // a live measurement still arrives on the same connection
    const live = store.add(sample, Date.now());
    assert.ok(bluez.notify(METER, measurementCharacteristic("glucose"), live.frame));
    await waitFor(() => t.gw.store.count(ID) === 8, 5000, "live reading committed");
    assert.equal(deviceTimes().at(-1), live.deviceTimeMs);
    await waitFor(() => meter().records?.highestSequenceNumber === 8, 5000, "live record counted");
  });
});
