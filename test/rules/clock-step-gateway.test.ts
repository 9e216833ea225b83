/**
 * Alarms survive a step of the gateway's wall clock, on a running gateway: a device publishes heart-rate SenML
 * packs without times (stamped at receipt) over MQTT while the gateway's wall clock is stepped back 10 min or
 * forward an hour, its monotonic clock running on (as NTP stepping the clock does). Real broker, ingest, SQLite
 * file and rule engine; the device-silent interval is 1 s so the test does not wait out the 10 s default.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { MqttClient } from "mqtt";
import { type Clock, systemClock } from "../../src/clock.js";
import type { AlertEvent } from "../../src/rules/alert-event.js";
import { startTestGateway, type TestGateway, waitFor } from "../helpers/gateway.js";

const TEN_MIN = 10 * 60_000;
const HOUR = 3_600_000;

/** A gateway whose wall clock a test can step (`skew.ms`), the engine's alert events, and a streaming device. */
async function setup() {
  const skew = { ms: 0 };
  const clock: Clock = {
    now: () => Date.now() + skew.ms,
    monotonicMs: () => performance.now(),
    setTimeout: (fn, ms) => systemClock.setTimeout(fn, ms),
    clearTimeout: (h) => systemClock.clearTimeout(h),
  };
  const t: TestGateway = await startTestGateway(
    { rules: { technical: { silentDevice: { defaultExpectedIntervalSec: 1 } } } },
    clock,
  );
  const engine = t.gw.rules.engine;
  const events: AlertEvent[] = [];
  engine.onAlertEvent((e) => events.push(e));
  const device: MqttClient = await t.connect("hr-1", await t.provision("hr-1"));
  const pack = (hr: number) =>
    JSON.stringify([{ bn: "urn:dev:mac:0024befffe804ff7:", n: "hr", u: "beat/min", v: hr }]);
  /** Publishes HR `hr` every 200 ms until `until` holds (or `timeoutMs`). */
  const stream = async (hr: number, until: () => boolean, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    while (!until()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await device.publishAsync("vitalog/dev/hr-1/senml", pack(hr), { qos: 1 });
      await sleep(200);
    }
  };
  const of = (rule: string, transition: AlertEvent["transition"]) =>
    events.filter((e) => e.rule_id === rule && e.transition === transition);
  return { t, engine, skew, events, stream, of };
}

describe("a wall-clock step on a running gateway", () => {
  it("still raises a sustained HR 175 after a step back, ends a silence on time, and makes a stopped device silent", async () => {
    const { t, engine, skew, stream, of } = await setup();
    try {
      // two engine ticks on the unstepped clock first, with the device streaming normal values
      const warm = Date.now() + 1200;
      await stream(80, () => Date.now() > warm, 5000, "warm-up");
      skew.ms -= TEN_MIN;
      await stream(175, () => of("threshold.heart_rate.high", "raise").length > 0, 25_000, "the HR alarm");
      const [raise] = of("threshold.heart_rate.high", "raise");
      assert.equal(raise!.priority, "high");
      assert.match(raise!.reason, /^Heart rate 175 \/min above limit 160 \/min/);
      await waitFor(() => of("technical.clock_jump", "raise").length === 1, 5000, "the clock_jump alarm");

      assert.deepEqual(engine.silence(raise!.alert_id, "rn.test", 2), { ok: true });
      skew.ms -= TEN_MIN;
      await stream(175, () => of("threshold.heart_rate.high", "re_alarm").length > 0, 10_000, "the re-alarm");
      assert.match(
        of("threshold.heart_rate.high", "re_alarm")[0]!.reason,
        /^silence ended, still active: Heart rate 175/,
      );

      // the device stops: three missed 1 s intervals make it silent, although its last frame came after the steps
      await waitFor(() => of("technical.device_silent", "raise").length === 1, 10_000, "device_silent");
      assert.equal(of("technical.device_silent", "raise")[0]!.device_id, "hr-1");
    } finally {
      await t.close();
    }
  });

  it("fires no escalation when the clock steps forward an hour 1 s after a HIGH alarm was raised", async () => {
    const { t, skew, stream, of } = await setup();
    try {
      await stream(175, () => of("threshold.heart_rate.high", "raise").length > 0, 25_000, "the HR alarm");
      skew.ms += HOUR;
      // the engine tick that reports the jump is the one that would have escalated
      await stream(175, () => of("technical.clock_jump", "raise").length === 1, 5000, "the clock_jump alarm");
      const twoTicks = Date.now() + 1200;
      await stream(175, () => Date.now() > twoTicks, 5000, "two more engine ticks");
      assert.deepEqual(
        of("threshold.heart_rate.high", "escalate").map((e) => e.reason),
        [],
        "raised seconds ago, not an hour ago",
      );
    } finally {
      await t.close();
    }
  });
});
