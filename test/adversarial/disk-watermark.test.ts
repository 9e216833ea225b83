/**
 * The storage watermark on a real small file system: a 64 MiB tmpfs mounted by the test (root only; CI runs
 * as root) holds the database and is filled with a file until its free space is under the watermark. Below
 * it, readings are neither acknowledged nor stored (the device keeps them), `technical.storage_low` is
 * raised, /healthz fails, and alerts from readings keep being evaluated and delivered from memory; when the
 * file is deleted, acknowledging resumes by itself and what the device re-sends after reconnecting is
 * stored once [DESIGN.md "Alerts do not wait"].
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  Bystander,
  freeBytes,
  httpGet,
  IN_PROCESS_INGEST,
  isMounted,
  mountTmpfs,
  storedDeviceTimes,
  unmount,
} from "../helpers/adversary.js";
import { tempDir, waitFor } from "../helpers/gateway.js";
import { withFreshPort } from "../helpers/ports.js";
import { type AlertTestGateway, type Station, startAlertGateway } from "../rules/alert-helpers.js";

const MIB = 1024 * 1024;
const MIN_FREE = 24 * MIB;
const isRoot = process.getuid?.() === 0;

describe("storage under its watermark on a real 64 MiB tmpfs (real broker, real SQLite)", {
  // under CI (which runs as root) a missing privilege must fail, never skip
  skip: !isRoot && !process.env.CI && "mounting a tmpfs needs root",
}, () => {
  const base = tempDir("vitalog-adv-disk-");
  const mnt = join(base, "fs");
  const filler = join(mnt, "filler");
  let t: AlertTestGateway | undefined;
  let adminPort: number;
  let by: Bystander | undefined;

  before(async () => {
    mkdirSync(mnt);
    mountTmpfs(mnt, 64 * MIB);
    t = await withFreshPort((port) =>
      startAlertGateway({
        admin: { port },
        storage: { path: join(mnt, "vitalog.db") },
        ingest: {
          ...IN_PROCESS_INGEST,
          disk: { minFreeBytes: MIN_FREE, resumeMarginBytes: 4 * MIB, checkIntervalMs: 200 },
        },
      }),
    );
    adminPort = t.gw.adminPort;
  });
  after(async () => {
    await by?.end();
    await t?.close();
    if (isMounted(mnt)) unmount(mnt);
    rmSync(base, { recursive: true, force: true });
  });

  it("stops acknowledging below the watermark, keeps alerting, and recovers by itself once space returns", async (tc) => {
    const gw = t!.gw;
    const healthz = () => httpGet(`http://127.0.0.1:${adminPort}/healthz`);
    by = (await Bystander.connect(t!.url, "bystander-1", await t!.provision("bystander-1"))).start(50);
    const station: Station = await t!.station();
    await waitFor(() => by!.ackedCount >= 10, 5000, "acknowledgements before the disk fills");

    // fill the file system until 16 MiB are left: under the 24 MiB watermark
    writeFileSync(filler, Buffer.alloc(freeBytes(mnt) - 16 * MIB));
    tc.diagnostic(`free after filling: ${(freeBytes(mnt) / MIB).toFixed(1)} MiB`);
    const low = await station.next(
      (m) => m.rule_id === "technical.storage_low" && m.transition === "raise",
      "technical.storage_low on MQTT",
    );
    assert.equal(low.category, "technical");
    const lowSeenAt = Date.now();
    const health = await healthz();
    assert.equal(health.status, 503);
    assert.match(health.body, /^storage: /m, "/healthz names the storage");

    // a reading that should alarm still does, from memory
    void by.publish("bp_systolic", 60, "mm[Hg]");
    const alarm = await station.next(
      (m) => m.transition === "raise" && m.device_id === by!.id && m.category !== "technical",
      "the bystander's low blood pressure alert",
    );
    assert.equal(alarm.priority, "high");

    // several watermark checks later: nothing published since is acknowledged or stored
    await new Promise((r) => setTimeout(r, 1500));
    const withheld = by.pendingSince(lowSeenAt);
    assert.ok(withheld.length >= 10, `the device kept publishing (${withheld.length} unacknowledged)`);
    assert.deepEqual(by.ackedSince(lowSeenAt), [], "nothing acknowledged under the watermark");
    assert.deepEqual(
      storedDeviceTimes(gw.db, by.id).filter((ms) => ms >= lowSeenAt),
      [],
      "nothing stored under the watermark",
    );
    assert.ok(by.client.connected, "the device stays connected");
    assert.ok(gw.metrics.sum("vitalog_mqtt_ack_withheld_total", { reason: "storage_low" }) > 0, "counted");
    assert.equal(
      gw.metrics.value("vitalog_commits_total", { outcome: "failed" }),
      0,
      "no commit ran out of space",
    );

    // space returns: acknowledging resumes without any restart or reconnect
    rmSync(filler);
    const freedAt = Date.now();
    await waitFor(() => by!.ackedSince(freedAt).length >= 5, 10_000, "acknowledgements after space returned");
    await waitFor(
      () => gw.health.problems().every((p) => p.check !== "storage"),
      10_000,
      "the storage check passing again",
    );
    // what the gateway did not acknowledge, the device re-sends on its next connection: stored once each
    await by.reconnect();
    await by.stop();
    by.assertIntact(storedDeviceTimes(gw.db, by.id));
    tc.diagnostic(
      `${withheld.length} readings withheld under the watermark, stored after reconnecting; ${by.summary()}`,
    );
  });
});
