/**
 * A device's alarms end with its binding, whenever the binding changes (real aedes broker on loopback, real
 * SQLite file, the `vitalog devices` command run in-process): a change made with `--by` on a running gateway is
 * attributed to that user, via the CLI; a device removed or re-bound while the gateway is stopped has its
 * restored technical alarms resolved at start-up with the same reasons, before any tick can escalate them, and a
 * device left as it was keeps its alarm.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { Gateway } from "../../src/app/gateway.js";
import { devicesCommand } from "../../src/cli/devices.js";
import { systemClock } from "../../src/clock.js";
import { GatewayError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { addUsers } from "../helpers/users.js";
import { type AlertTestGateway, type Station, startAlertGateway } from "./alert-helpers.js";

const CONFIG = {
  rules: {
    alarms: {
      // a rung after 1 s, so that an alarm left running after the restart escalates at the first tick
      escalation: {
        high: [],
        medium: [{ afterSec: 1, recipient: "charge_nurse", raisePriority: false }],
        low: [],
      },
    },
    technical: {
      // silent after 1 s without a frame: the device-scoped alarm comes at once
      silentDevice: { enabled: true, defaultExpectedIntervalSec: 1, missedIntervals: 1, priority: "medium" },
    },
  },
} as never;

async function devices(argv: string[]): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => {
    text += d.toString();
  });
  try {
    return { code: await devicesCommand(argv, out), text };
  } catch (err) {
    if (err instanceof GatewayError) return { code: err.exitCode, text: `${err.code}: ${err.message}` };
    throw err;
  }
}

/**
 * The CLI's config file (the gateway's state directory, and so its database), and the clinical engineer who
 * manages the devices.
 */
async function cliConfig(t: AlertTestGateway): Promise<string> {
  await addUsers(t.gw.config, [{ id: "eng.bob", role: "clinical_engineer" }]);
  const file = join(t.dir, "cli.yaml");
  writeFileSync(
    file,
    `gateway: { id: test-gw, origin: ${t.gw.config.gateway.origin}, stateDir: ${t.dir} }\nlog: { level: silent }\n`,
  );
  return file;
}

/** Connects the device, sends one reading and waits for its device-silent alarm. */
async function silentAlarm(t: AlertTestGateway, station: Station, id: string, subject: string) {
  const password = await t.provision(id, subject);
  const client = await t.connect(id, password);
  await client.publishAsync(
    `vitalog/dev/${id}/json`,
    JSON.stringify({ readings: [{ kind: "spo2", value: 97, unit: "%" }] }),
    { qos: 1 },
  );
  await client.endAsync(true);
  return station.next(
    (m) => m.device_id === id && m.rule_id === "technical.device_silent" && m.transition === "raise",
    `${id}'s device-silent alarm`,
  );
}

/** An alert's committed transitions at or after `sinceMs`, oldest first: [transition, reason, by, via]. */
function transitionsSince(dbPath: string, alertId: string, sinceMs: number): unknown[][] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (
      db
        .prepare("SELECT body FROM alert_events WHERE alert_id = ? AND at_ms >= ? ORDER BY row_id")
        .pluck()
        .all(alertId, sinceMs) as string[]
    ).map((body) => {
      const m = JSON.parse(body) as AlertMessage;
      return [m.transition, m.reason, m.by, m.via];
    });
  } finally {
    db.close();
  }
}

describe("a device re-bound or removed with --by on a running gateway", () => {
  it("resolves its alarm attributed to that user, via the CLI", async () => {
    const t = await startAlertGateway(CONFIG);
    try {
      const station = await t.station();
      const cfg = await cliConfig(t);
      const moved = await silentAlarm(t, station, "cuff-1", "pt-1");
      const gone = await silentAlarm(t, station, "cuff-2", "pt-2");

      const bind = await devices([
        "bind",
        "--config",
        cfg,
        "--id",
        "cuff-1",
        "--subject",
        "pt-3",
        "--by",
        "eng.bob",
      ]);
      assert.equal(bind.code, 0, bind.text);
      const rebound = await station.next(
        (m) => m.alert_id === moved.alert_id && m.transition === "resolve",
        "the re-bound device's resolution",
      );
      assert.deepEqual(
        [rebound.reason, rebound.by, rebound.via],
        ["device re-bound from pt-1 to another subject", "eng.bob", "cli"],
      );

      const remove = await devices(["remove", "--config", cfg, "--id", "cuff-2", "--by", "eng.bob"]);
      assert.equal(remove.code, 0, remove.text);
      const removed = await station.next(
        (m) => m.alert_id === gone.alert_id && m.transition === "resolve",
        "the removed device's resolution",
      );
      assert.deepEqual([removed.reason, removed.by, removed.via], ["device removed", "eng.bob", "cli"]);

      await t.gw.commitBarrier();
      assert.deepEqual(transitionsSince(t.gw.config.storage.path!, gone.alert_id, 0).at(-1), [
        "resolve",
        "device removed",
        "eng.bob",
        "cli",
      ]);
    } finally {
      await t.close();
    }
  });
});

describe("a device removed or re-bound while the gateway is stopped", () => {
  it("has its restored technical alarms resolved at start-up with the reason, before any tick escalates them", async () => {
    const t = await startAlertGateway(CONFIG);
    let second: Gateway | undefined;
    try {
      const station = await t.station();
      const cfg = await cliConfig(t);
      const dbPath = t.gw.config.storage.path!;
      const removed = await silentAlarm(t, station, "cuff-r", "pt-r");
      const moved = await silentAlarm(t, station, "cuff-m", "pt-m");
      const kept = await silentAlarm(t, station, "cuff-k", "pt-k");
      await t.gw.stop();

      const remove = await devices(["remove", "--config", cfg, "--id", "cuff-r", "--by", "eng.bob"]);
      assert.equal(remove.code, 0, remove.text);
      assert.equal(JSON.parse(remove.text).daemon, "not_running");
      const bind = await devices([
        "bind",
        "--config",
        cfg,
        "--id",
        "cuff-m",
        "--subject",
        "pt-n",
        "--by",
        "eng.bob",
      ]);
      assert.equal(bind.code, 0, bind.text);

      const restartedAt = Date.now();
      second = await Gateway.start(t.gw.config, { log: createLogger("silent"), clock: systemClock });
      const active = second.rules.engine.activeAlerts().map((a) => a.alert_id);
      assert.equal(active.includes(removed.alert_id), false, "the removed device's alarm is over");
      assert.equal(active.includes(moved.alert_id), false, "the re-bound device's alarm is over");
      assert.equal(active.includes(kept.alert_id), true, "the unchanged device's alarm is restored");
      await second.commitBarrier();
      assert.deepEqual(transitionsSince(dbPath, removed.alert_id, restartedAt), [
        // the registry row is gone: the log's device_unbound event names who removed it
        ["resolve", "device removed", "eng.bob", "cli"],
      ]);
      assert.deepEqual(transitionsSince(dbPath, moved.alert_id, restartedAt), [
        ["resolve", "device re-bound from pt-m to another subject", "eng.bob", "cli"],
      ]);
    } finally {
      await second?.stop();
      await t.close();
    }
  });
});
