/**
 * Gateway-wide metrics computed at scrape time, for the on-call engineer: free space on the database's file
 * system, and how long ago each registered device was last heard. Series per device are bounded: at most
 * {@link MAX_DEVICE_SERIES} devices (the first by id, so the set is stable between scrapes) get a series of
 * their own; the rest share one series labelled {@link OTHER_DEVICES} that carries the largest age among
 * them, so an alert on "a device silent for more than N s" still fires for a device beyond the cap.
 * Device ids are not patient data; subject ids never appear in a label.
 */
import { statfsSync } from "node:fs";
import type { Clock } from "../clock.js";
import type { DeviceRegistry } from "../drivers/device-registry.js";
import type { Ingest } from "../drivers/ingest.js";
import type { Metrics, Sample } from "../metrics.js";

/** Devices with a last-seen series of their own; the others share one. */
export const MAX_DEVICE_SERIES = 500;
/** The `device` label of the series shared by the devices beyond {@link MAX_DEVICE_SERIES}. */
export const OTHER_DEVICES = "_other";
/** Most device ids remembered between two scrapes (each scrape keeps only registered devices). */
const MAX_TRACKED_DEVICES = 10_000;

export interface GatewayMetricsDeps {
  metrics: Metrics;
  registry: Pick<DeviceRegistry, "list">;
  ingest: Pick<Ingest, "addListener">;
  clock: Clock;
  /** A directory on the database's file system. */
  storageDir: string;
  /** When the gateway started: a device not heard since is reported as silent since then. */
  startedAtMs: number;
}

/** Registers the gateway-wide scrape-time gauges (and the ingest listener that feeds the device ages). */
export function registerGatewayMetrics(deps: GatewayMetricsDeps): void {
  const { metrics, clock } = deps;
  metrics.gaugeFrom(
    "vitalog_storage_free_bytes",
    "Free bytes for the gateway on the database's file system (statfs bavail * bsize)",
    () => {
      const s = statfsSync(deps.storageDir);
      return [{ labels: {}, value: s.bavail * s.bsize }];
    },
  );

  const lastHeardMs = new Map<string, number>();
  const heard = (deviceId: string | null, atMs: number) => {
    if (deviceId === null) return;
    // a flood of ids between two scrapes cannot grow the map without bound
    if (!lastHeardMs.has(deviceId) && lastHeardMs.size >= MAX_TRACKED_DEVICES) return;
    lastHeardMs.set(deviceId, atMs);
  };
  deps.ingest.addListener({
    onReading: (r) => heard(r.deviceId, r.receivedAtMs),
    onDeviceStatus: (source, _status, atMs) => heard(source.deviceId, atMs),
    onRejected: (source, _reason, atMs) => heard(source.deviceId, atMs),
  });
  metrics.gaugeFrom(
    "vitalog_device_last_seen_age_seconds",
    `Seconds since a registered device was last heard (readings, status or rejected frames; since start-up when not heard since); devices beyond the first ${MAX_DEVICE_SERIES} by id share device="${OTHER_DEVICES}" with their largest age`,
    () => {
      const now = clock.now();
      const devices = deps.registry.list();
      const registered = new Set(devices.map((d) => d.id));
      for (const id of lastHeardMs.keys()) if (!registered.has(id)) lastHeardMs.delete(id);
      const out: Sample[] = [];
      let otherAgeSec: number | undefined;
      for (const [i, d] of devices.entries()) {
        const since = lastHeardMs.get(d.id) ?? Math.max(deps.startedAtMs, d.createdAtMs);
        const ageSec = Math.max(0, (now - since) / 1000);
        if (i < MAX_DEVICE_SERIES) out.push({ labels: { device: d.id }, value: ageSec });
        else otherAgeSec = Math.max(otherAgeSec ?? 0, ageSec);
      }
      if (otherAgeSec !== undefined) out.push({ labels: { device: OTHER_DEVICES }, value: otherAgeSec });
      return out;
    },
  );
  metrics.gaugeFrom("vitalog_devices_registered", "Registered (provisioned) devices", () => [
    { labels: {}, value: deps.registry.list().length },
  ]);
}
