import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { describe, it } from "node:test";
import { MAX_DEVICE_SERIES, OTHER_DEVICES, registerGatewayMetrics } from "../src/app/gateway-metrics.js";
import { ManualClock } from "../src/clock.js";
import type { Device } from "../src/drivers/device-registry.js";
import type { IngestListener } from "../src/drivers/ingest.js";
import { Metrics } from "../src/metrics.js";
import type { Reading } from "../src/reading.js";

const AGE = "vitalog_device_last_seen_age_seconds";

function setup(deviceCount: number) {
  const clock = new ManualClock();
  const startedAtMs = clock.now();
  const metrics = new Metrics();
  let devices: Device[] = Array.from({ length: deviceCount }, (_, i) => ({
    id: `dev-${String(i).padStart(4, "0")}`,
    subjectId: `pt-${i}`,
    model: null,
    createdAtMs: startedAtMs - 86_400_000,
  }));
  const listeners: IngestListener[] = [];
  registerGatewayMetrics({
    metrics,
    registry: { list: () => devices },
    ingest: { addListener: (l) => listeners.push(l) },
    clock,
    storageDir: tmpdir(),
    startedAtMs,
  });
  const hear = (deviceId: string) =>
    listeners[0]!.onReading!({ deviceId, receivedAtMs: clock.now() } as Reading);
  return { clock, metrics, hear, setDevices: (d: Device[]) => (devices = d), devices: () => devices };
}

describe("gateway metrics", () => {
  it("reports each registered device's seconds since last heard, since start-up when not heard since", () => {
    const { clock, metrics, hear } = setup(2);
    clock.advance(30_000);
    hear("dev-0001");
    clock.advance(5_000);
    assert.equal(metrics.value(AGE, { device: "dev-0000" }), 35);
    assert.equal(metrics.value(AGE, { device: "dev-0001" }), 5);
    assert.equal(metrics.value("vitalog_devices_registered"), 2);
  });

  it(`caps the series at ${MAX_DEVICE_SERIES} devices; the rest share one series with their largest age`, () => {
    const { clock, metrics, hear, devices } = setup(MAX_DEVICE_SERIES + 20);
    clock.advance(60_000);
    for (const d of devices()) hear(d.id);
    clock.advance(1_000);
    hear(devices().at(-1)!.id);
    const series = metrics.snapshot()[AGE]!;
    assert.equal(series.length, MAX_DEVICE_SERIES + 1);
    assert.deepEqual(series.at(-1), { labels: { device: OTHER_DEVICES }, value: 1 });
    assert.equal(metrics.value(AGE, { device: devices()[MAX_DEVICE_SERIES]!.id }), 0, "no series of its own");
  });

  it("drops a device that is no longer registered, and names no subject", async () => {
    const { metrics, hear, setDevices, devices } = setup(2);
    hear("dev-0000");
    hear("not-registered");
    setDevices(devices().slice(1));
    const text = await metrics.exposition();
    assert.doesNotMatch(text, /dev-0000|not-registered|pt-/);
    assert.match(text, /^vitalog_device_last_seen_age_seconds\{device="dev-0001"\} 0$/m);
  });

  it("reports free bytes of the storage file system", () => {
    const { metrics } = setup(0);
    assert.ok(metrics.value("vitalog_storage_free_bytes") > 0);
  });
});
