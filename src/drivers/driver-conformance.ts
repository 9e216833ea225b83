/**
 * The conformance suite every `Driver` runs (the built-in BLE, serial and MQTT drivers, and a vendor's driver for
 * a new transport), checking the life-cycle, acknowledgement and connection rules of the `Driver` contract in
 * ./sdk.ts against the real transport.
 *
 * Usage, in a driver package's test file:
 *
 *   import { registerDriverConformanceTests } from "vitalog/driver-conformance";
 *   registerDriverConformanceTests({ name: "acme_usb_hid", deviceKey: "…", … setUp: async (ctx) => … });
 *
 * The suite builds the `DriverContext` (system clock, a silent logger, a recording sink that holds every `done`
 * until the test releases it, and `isAuthorised` true for `deviceKey` only); the harness builds the transport's
 * world around it (a simulated device on a real bus, pty or socket) and returns the driver and the device's
 * handles. Each test gets a fresh world.
 *
 * What it checks:
 * - no sink call after `stop()` resolved, even when the device keeps sending; `stop()` is idempotent;
 * - a device-level acknowledgement only after the sink's `done()`, never after `done(err)`;
 * - a lost link is reported ("disconnected" or "backoff"); a driver that connects out reports "backoff" with a
 *   `retryInMs` within its back-off bounds, non-decreasing while the device stays away, and delivers again
 *   once the device is back;
 * - a device the driver must refuse (not authorised, or not authenticated by its transport) never reaches
 *   `frame`/`reject`, is reported "refused" where the driver reports refusals, and the others carry on.
 *
 * The gateway never loads this module at run time.
 */
import assert from "node:assert/strict";
import { after, afterEach, describe, it } from "node:test";
import { systemClock } from "../clock.js";
import type { BackoffOptions } from "./backoff.js";
import type {
  ConnectionState,
  DeviceDefinition,
  Driver,
  DriverContext,
  DriverLogger,
  DriverSink,
} from "./sdk.js";

/** What the harness returns for one test: the driver, built with the suite's context, and the device's handles. */
export interface DriverUnderTest {
  readonly driver: Driver;
  /** Makes the authorised device send one frame that decodes to at least one reading. MAY reject once stopped. */
  sendFrame(): Promise<void>;
  /** Makes the refused device try to send one frame (connect, authenticate, publish … as the transport does). */
  sendRefusedFrame(): Promise<void>;
  /** Device-level acknowledgements the authorised device has received; undefined when the transport has none. */
  readonly acks?: (() => number) | undefined;
  /** Takes the authorised device away (unplug, link loss, connection dropped). */
  dropLink(): Promise<void>;
  /** Brings it back (a no-op where the device reconnects by itself). */
  restoreLink(): Promise<void>;
  /** Tears the world down; called after the driver was stopped. */
  close(): Promise<void>;
}

/** A driver and the world it runs in, described for the suite. */
export interface DriverHarness {
  /** Shown in the test names, e.g. "serial (socat pty)". */
  readonly name: string;
  /** Definitions handed to the driver in its context. */
  readonly definitions: readonly DeviceDefinition[];
  /** The key (as the driver reports it) of the authorised device. */
  readonly deviceKey: string;
  /** The key of the device the driver must refuse. */
  readonly refusedDeviceKey: string;
  /**
   * The back-off the harness configured, when the driver connects out to its devices (BLE, serial); undefined
   * when devices connect to the driver (MQTT): then nothing is retried by the driver and no "backoff" is due.
   */
  readonly backoff?: BackoffOptions | undefined;
  /** Whether the driver reports a refused device as a "refused" connection event (MQTT counts them instead). */
  readonly reportsRefusals: boolean;
  /**
   * Whether the transport acknowledges frames to the device (MQTT PUBACK, a serial ack byte); false for BLE
   * notifications, which have none: the acknowledgement test is then not registered, and a harness that says
   * true MUST return `acks` from `setUp`.
   */
  readonly hasDeviceAcks: boolean;
  /** Builds the world and the driver (not started). */
  setUp(ctx: DriverContext): Promise<DriverUnderTest>;
  /** How long to wait for an expected event (default 10 000 ms). */
  readonly timeoutMs?: number | undefined;
}

type FrameEvent = Parameters<DriverSink["frame"]>[0];
type RejectEvent = Parameters<DriverSink["reject"]>[0];
type ConnectionEvent = Parameters<DriverSink["connection"]>[0];

/** Every sink call, in order, with the `done` callbacks held for the test to release. */
export class RecordingSink implements DriverSink {
  readonly calls: Array<
    | { kind: "frame"; atMs: number; event: FrameEvent }
    | { kind: "reject"; atMs: number; event: RejectEvent }
    | { kind: "connection"; atMs: number; event: ConnectionEvent }
  > = [];

  frame(event: FrameEvent): void {
    this.calls.push({ kind: "frame", atMs: performance.now(), event });
  }
  reject(event: RejectEvent): void {
    this.calls.push({ kind: "reject", atMs: performance.now(), event });
  }
  connection(event: ConnectionEvent): void {
    this.calls.push({ kind: "connection", atMs: performance.now(), event });
  }

  frames(deviceKey: string): FrameEvent[] {
    return this.calls.flatMap((c) =>
      c.kind === "frame" && c.event.deviceKey === deviceKey ? [c.event] : [],
    );
  }
  states(deviceKey: string): ConnectionEvent[] {
    return this.calls.flatMap((c) =>
      c.kind === "connection" && c.event.deviceKey === deviceKey ? [c.event] : [],
    );
  }
  /** Frames and refusals of `deviceKey` (what must never come from a refused device). */
  data(deviceKey: string): Array<FrameEvent | RejectEvent> {
    return this.calls.flatMap((c) =>
      c.kind !== "connection" && c.event.deviceKey === deviceKey ? [c.event] : [],
    );
  }
}

const silent: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a device action that may never settle once the driver is gone (a write to a closed pty): bounded. */
function attempt(action: () => Promise<void>): Promise<unknown> {
  return Promise.race([action().catch(() => {}), sleep(1000)]);
}

async function until(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Registers the Driver conformance tests (node:test) for one harness. */
export function registerDriverConformanceTests(harness: DriverHarness): void {
  const timeoutMs = harness.timeoutMs ?? 10_000;
  const key = harness.deviceKey;

  describe(`${harness.name}: vitalog Driver conformance`, () => {
    let world: DriverUnderTest | undefined;
    let sink: RecordingSink;

    /**
     * Stops the driver and closes the harness's devices and buses, whatever the driver's stop does: a process
     * left behind (a bus daemon, a simulator) would keep the test file from ever exiting.
     */
    const finish = async () => {
      const w = world;
      world = undefined;
      if (!w) return;
      try {
        await w.driver.stop();
      } finally {
        await w.close();
      }
    };
    const start = async (): Promise<DriverUnderTest> => {
      // a test skipped from inside (t.skip) may not get its afterEach before the next test starts
      await finish();
      sink = new RecordingSink();
      const ctx: DriverContext = {
        clock: systemClock,
        log: silent,
        definitions: harness.definitions,
        sink,
        isAuthorised: (deviceKey) => deviceKey === key,
      };
      world = await harness.setUp(ctx);
      await world.driver.start();
      return world;
    };
    /** Sends frames until one reaches the sink (the first may race the device's subscription). */
    const deliverOne = async (w: DriverUnderTest): Promise<FrameEvent> => {
      const before = sink.frames(key).length;
      const deadline = performance.now() + timeoutMs;
      while (sink.frames(key).length === before) {
        if (performance.now() > deadline) throw new Error(`no frame from ${key} reached the sink`);
        await attempt(() => w.sendFrame());
        await until("a frame", () => sink.frames(key).length > before, 500).catch(() => {});
      }
      return sink.frames(key)[before]!;
    };

    afterEach(finish);
    after(finish);

    it("delivers a frame of the authorised device, decoded, with its key", async () => {
      const w = await start();
      const frame = await deliverOne(w);
      assert.ok(frame.result.readings.length > 0, "the frame decoded to readings");
      assert.equal(typeof frame.receivedAtMs, "number");
    });

    it("makes no sink call after stop() resolved, however the device goes on; stop() is idempotent", async () => {
      const w = await start();
      await deliverOne(w);
      await w.driver.stop();
      const callsAtStop = sink.calls.length;
      for (let i = 0; i < 3; i++) await attempt(() => w.sendFrame());
      await sleep(300);
      await w.driver.stop();
      assert.deepEqual(sink.calls.slice(callsAtStop), [], "sink calls after stop");
    });

    if (harness.hasDeviceAcks)
      it("acknowledges to the device only after done(), and never after done(err)", async () => {
        const w = await start();
        const acks = w.acks;
        if (!acks) throw new Error("the harness says the transport acknowledges frames but gives no acks()");
        const held = acks();
        const first = await deliverOne(w);
        assert.ok(first.done, "an acknowledging transport hands the sink a done callback");
        await sleep(200);
        assert.equal(acks(), held, "no acknowledgement before done()");
        first.done!();
        await until("the acknowledgement after done()", () => acks() > held, timeoutMs);
        const afterFirst = acks();
        const second = await deliverOne(w);
        await sleep(100);
        second.done!(new Error("commit failed"));
        await sleep(300);
        assert.equal(acks(), afterFirst, "no acknowledgement after done(err)");
      });

    it("reports a lost link, backs off within its bounds, and delivers again once the device is back", async () => {
      const w = await start();
      const first = await deliverOne(w);
      first.done?.();
      const mark = sink.states(key).length;
      await w.dropLink();
      const lost = () => sink.states(key).slice(mark);
      await until(
        "a disconnected or backoff report",
        () => lost().some((s) => s.state === "disconnected" || s.state === "backoff"),
        timeoutMs,
      );
      const backoff = harness.backoff;
      if (backoff) {
        // the device stays away for a few attempts: the delays climb the ladder, never past the cap
        await sleep(Math.min(4 * backoff.maxDelayMs, 2000));
        const delays = lost()
          .filter((s) => s.state === "backoff")
          .map((s) => s.retryInMs);
        assert.ok(delays.length > 0, "a driver that connects out reports backoff");
        for (const d of delays) {
          assert.ok(
            typeof d === "number" && d >= 1 && d <= backoff.maxDelayMs,
            `retryInMs ${d} within bounds`,
          );
        }
        if (backoff.jitter === 0) {
          const climbing = delays as number[];
          assert.ok(
            climbing.every((d, i) => i === 0 || d >= climbing[i - 1]!),
            `delays non-decreasing: ${climbing.join(", ")}`,
          );
        }
      }
      await w.restoreLink();
      await until(
        "connected again",
        () => {
          const s = lost();
          const down = s.findIndex((e) => e.state === "disconnected" || e.state === "backoff");
          return s.findLastIndex((e) => e.state === "connected") > down;
        },
        timeoutMs,
      );
      const again = await deliverOne(w);
      assert.ok(again.result.readings.length > 0);
    });

    it("refuses a device it must not serve, and serves the others meanwhile", async () => {
      const w = await start();
      await attempt(() => w.sendRefusedFrame());
      if (harness.reportsRefusals) {
        await until(
          `a refused report for ${harness.refusedDeviceKey}`,
          () => sink.states(harness.refusedDeviceKey).some((s) => s.state === "refused"),
          timeoutMs,
        );
        const states = new Set<ConnectionState>(sink.states(harness.refusedDeviceKey).map((s) => s.state));
        assert.ok(!states.has("connected"), "a refused device is never connected");
      }
      await attempt(() => w.sendRefusedFrame());
      const frame = await deliverOne(w);
      frame.done?.();
      await sleep(200);
      assert.deepEqual(
        sink.data(harness.refusedDeviceKey),
        [],
        "nothing of the refused device reached the sink",
      );
    });
  });
}
