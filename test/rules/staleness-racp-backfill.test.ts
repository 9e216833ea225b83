/**
 * Backfilled glucose records fetched over the Record Access Control Point [clinical.md §1.7.1] follow the
 * staleness rule: the real gateway fetches a meter's stored records (unmodified node-ble against the simulated
 * BlueZ on a private dbus-daemon), stores them all with their device times, and raises no live alarm for the
 * ones measured before the horizon (300 s, local engineering choice, to be reviewed); a record measured now
 * does alarm, and its alert says when it was measured.
 *
 * The glucose limit below (high above 90 mg/dL, MEDIUM, no delay) is a test value chosen to sit under the
 * simulator's readings (95–101 mg/dL), not a clinical recommendation: the built-in table has no glucose limit.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GlucoseRecordStore, peripheralSpec, serveGlucoseRecords } from "../../firmware-sim/ble-profiles.js";
import { FakeBluez } from "../../firmware-sim/fake-bluez.js";
import { type PrivateBus, startPrivateBus } from "../../firmware-sim/private-bus.js";
import { startTestGateway, type TestGateway, tempDir, waitFor, writeSecret } from "../helpers/gateway.js";
import { NORMAL_SAMPLE } from "../helpers/vitals.js";

const METER = "AA:BB:CC:DD:EE:31";
const ID = "glu-7";

interface AlertRow {
  rule_id: string;
  transition: string;
  body: string;
}

describe("backfilled glucose records over the RACP and the staleness horizon", () => {
  let bus: PrivateBus;
  let bluez: FakeBluez;
  let t: TestGateway;
  const store = new GlucoseRecordStore();
  const savedEnv = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  // whole minutes, 1 h to 40 min before the gateway connects
  const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
  const alertRows = () =>
    t.gw.db
      .prepare("SELECT rule_id, transition, body FROM alert_events WHERE device_id = ? ORDER BY row_id")
      .all(ID) as AlertRow[];

  before(async () => {
    for (let k = 0; k < 5; k++) store.add(NORMAL_SAMPLE, t0 + k * 300_000);
    bus = await startPrivateBus();
    process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address;
    bluez = await FakeBluez.start(bus.address);
    bluez.addPeripheral(peripheralSpec(METER, "glucose", "Contour Next"));
    serveGlucoseRecords(bluez, METER, store);
    const pw = writeSecret(tempDir(), "pw", "unused-for-ble");
    t = await startTestGateway({
      devices: [{ id: ID, subject: "pt-7", passwordFile: pw }],
      ble: {
        enabled: true,
        scanIntervalMs: 100,
        connectTimeoutMs: 5000,
        reconnect: { initialDelayMs: 100, maxDelayMs: 400, multiplier: 2, jitter: 0.2 },
        devices: [{ address: METER, deviceId: ID }],
      },
      rules: {
        thresholds: {
          ward: {
            glucose: {
              high: [{ limit: 90, priority: "medium", persistenceSec: 0 }],
              hysteresis: 5,
              clearSec: 0,
            },
          },
        },
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

  it("stores every record of an hour-old backlog above the limit and raises no live alarm for them", async () => {
    await waitFor(() => t.gw.store.count(ID) === 5, 10_000, "5 stored records committed");
    const stored = t.gw.store.query({ deviceId: ID });
    assert.ok(
      stored.every((r) => r.kind === "glucose" && r.value > 90),
      "every record is above the test limit",
    );
    assert.deepEqual(
      stored.map((r) => r.observedAtMs).sort(),
      store.records.map((r) => r.deviceTimeMs),
    );
    // the rules ran before each record was committed
    assert.deepEqual(
      alertRows().filter((r) => r.rule_id.startsWith("threshold.")),
      [],
    );
  });

  it("raises a live alarm for a record measured now, fetched after a reconnect, and names when it was measured", async () => {
    const fresh = store.add(NORMAL_SAMPLE, Date.now());
    const n = store.requests.length;
    bluez.dropConnection(METER);
    await waitFor(() => store.requests.length === n + 1, 10_000, "RACP request after reconnect");
    await waitFor(() => t.gw.store.count(ID) === 6, 10_000, "the new record committed");
    await waitFor(
      () => alertRows().some((r) => r.rule_id === "threshold.glucose.high"),
      5000,
      "alert event committed",
    );
    const [raise, ...rest] = alertRows().filter((r) => r.rule_id === "threshold.glucose.high");
    assert.deepEqual(rest, []);
    assert.equal(raise?.transition, "raise");
    const body = JSON.parse(raise!.body) as { observed_at_ms: number; raised_at_ms: number };
    assert.equal(body.observed_at_ms, fresh.deviceTimeMs);
    assert.ok(body.raised_at_ms >= fresh.deviceTimeMs);
  });
});
