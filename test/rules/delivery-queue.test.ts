import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { createLogger } from "../../src/log.js";
import { Metrics } from "../../src/metrics.js";
import type { AlertMessage } from "../../src/rules/sinks/alert-message.js";
import { backoffDelayMs, DeliveryError } from "../../src/rules/sinks/backoff.js";
import { DeliveryQueue } from "../../src/rules/sinks/delivery-queue.js";
import { alertMessage } from "./sink-conformance.js";

const policy = { initialDelayMs: 1000, maxDelayMs: 60_000, jitter: 0.5, maxAgeSec: 3600 };
const flush = () => new Promise((r) => setImmediate(r));

describe("backoff", () => {
  it("doubles from the initial delay up to the cap, jitter only shortening it", () => {
    const top = (n: number) => backoffDelayMs(n, policy, () => 0);
    const bottom = (n: number) => backoffDelayMs(n, policy, () => 0.999999);
    assert.deepEqual([1, 2, 3, 4, 7, 8, 100].map(top), [1000, 2000, 4000, 8000, 60_000, 60_000, 60_000]);
    assert.deepEqual([1, 2, 7].map(bottom), [500, 1000, 30_000]);
    for (let i = 0; i < 1000; i++) {
      const d = backoffDelayMs(1 + (i % 12), policy);
      assert.ok(d >= 1 && d <= policy.maxDelayMs);
    }
    assert.throws(() => backoffDelayMs(0, policy), RangeError);
  });
});

function queue(clock: ManualClock, send: (m: AlertMessage, attempt: number) => Promise<void>) {
  const attempts = new Map<string, number>();
  return new DeliveryQueue({
    name: "test",
    clock,
    log: createLogger("silent"),
    metrics: new Metrics(),
    retry: policy,
    maxQueued: 3,
    random: () => 0,
    transport: {
      send: (m) => {
        const n = (attempts.get(m.event_id) ?? 0) + 1;
        attempts.set(m.event_id, n);
        return send(m, n);
      },
      close: async () => {},
    },
  });
}

describe("DeliveryQueue", () => {
  it("retries on the backoff schedule, in order, holding later messages behind the head", async () => {
    const clock = new ManualClock(Date.now());
    const sent: string[] = [];
    const q = queue(clock, async (m, attempt) => {
      sent.push(`${m.event_id}#${attempt}`);
      if (m.event_id === first.event_id && attempt < 3) throw new DeliveryError("503");
    });
    const first = alertMessage();
    const second = alertMessage();
    await q.start();
    q.deliver(first);
    q.deliver(second);
    await flush();
    assert.equal(q.health().isUp, false);
    clock.advance(999);
    await flush();
    assert.equal(sent.length, 1, "not before the first delay");
    clock.advance(1);
    await flush();
    clock.advance(2000);
    await flush();
    await flush();
    assert.deepEqual(sent, [
      `${first.event_id}#1`,
      `${first.event_id}#2`,
      `${first.event_id}#3`,
      `${second.event_id}#1`,
    ]);
    assert.equal(q.health().isUp, true);
    assert.equal(q.health().delivered, 2);
    await q.stop();
  });

  it("dead-letters a permanently refused message and goes on with the next", async () => {
    const clock = new ManualClock(Date.now());
    const bad = alertMessage();
    const good = alertMessage();
    const sent: string[] = [];
    const q = queue(clock, async (m) => {
      sent.push(m.event_id);
      if (m === bad) throw new DeliveryError("HTTP 400", { permanent: true });
    });
    await q.start();
    q.deliver(bad);
    q.deliver(good);
    await flush();
    await flush();
    assert.deepEqual(sent, [bad.event_id, good.event_id]);
    assert.equal(q.health().deadLettered, 1);
    assert.ok("dead" in q.outcomeOf(bad.event_id)!);
    await q.stop();
  });

  it("dead-letters a message still failing after maxAgeSec, and the oldest beyond maxQueued", async () => {
    const clock = new ManualClock(Date.now());
    const q = queue(clock, async () => {
      throw new DeliveryError("down");
    });
    await q.start();
    const old = alertMessage({ at_ms: clock.now() });
    q.deliver(old);
    await flush();
    clock.advance(3601_000);
    await flush();
    assert.ok("dead" in q.outcomeOf(old.event_id)!);
    const many = Array.from({ length: 5 }, () => alertMessage({ at_ms: clock.now() }));
    for (const m of many) q.deliver(m);
    assert.ok(q.health().pending <= 3);
    assert.equal((q.outcomeOf(many[1]!.event_id) as { error: string }).error, "queue_full");
    await q.stop();
  });

  it("ignores a message it already has (a replayed backlog row)", async () => {
    const clock = new ManualClock(Date.now());
    let sends = 0;
    const q = queue(clock, async () => {
      sends++;
    });
    const m = alertMessage();
    q.deliver(m);
    q.deliver(m);
    await q.start();
    await flush();
    q.deliver(m);
    await flush();
    assert.equal(sends, 1);
    await q.stop();
  });
});
