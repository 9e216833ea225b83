import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { Admission } from "../../src/drivers/admission.js";
import { DEFAULT_RATE_LIMIT, ingestConfigSchema, rateLimitFor } from "../../src/drivers/ingest-config.js";

const config = (raw: unknown = {}) => ingestConfigSchema.parse(raw);

describe("per-device admission (token buckets on frames and readings)", () => {
  it("admits the burst at once, then frames at the sustained rate", () => {
    const clock = new ManualClock();
    const a = new Admission({
      config: config({ limits: { device: { messagesPerSec: 2, messagesBurst: 3 } } }),
      clock,
    });
    for (let i = 0; i < 3; i++) assert.deepEqual(a.take("d1", null, 1), { ok: true });
    const refused = a.take("d1", null, 1);
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.reason, "rate_limited_messages");
    assert.equal(!refused.ok && refused.waitMs, 500, "one token at 2/s");
    clock.advance(499);
    assert.equal(a.take("d1", null, 1).ok, false);
    clock.advance(1);
    assert.equal(a.take("d1", null, 1).ok, true);
  });

  it("takes from both buckets or from neither", () => {
    const clock = new ManualClock();
    const a = new Admission({
      config: config({ limits: { device: { readingsPerSec: 10, readingsBurst: 10, messagesBurst: 5 } } }),
      clock,
    });
    assert.equal(a.take("d1", null, 8).ok, true);
    const r = a.take("d1", null, 8);
    assert.equal(!r.ok && r.reason, "rate_limited_readings");
    // the refused frame took no message token: four more single-reading frames fit the message bucket,
    // and two readings are left
    assert.equal(a.take("d1", null, 2).ok, true);
    assert.equal(a.take("d1", null, 1).ok, false);
  });

  it("admits one frame larger than the burst when the bucket is full, then makes the device wait it off", () => {
    const clock = new ManualClock();
    const a = new Admission({
      config: config({ limits: { device: { readingsPerSec: 10, readingsBurst: 20 } } }),
      clock,
    });
    assert.equal(a.take("d1", null, 50).ok, true, "a full bucket admits an oversize upload");
    const r = a.take("d1", null, 1);
    assert.equal(r.ok, false);
    clock.advance(3000); // the debt of 30 readings repaid: still not one token
    assert.equal(a.take("d1", null, 1).ok, false);
    clock.advance(100);
    assert.equal(a.take("d1", null, 1).ok, true);
  });

  it("keeps devices apart and gives a model its own budget", () => {
    const clock = new ManualClock();
    const cfg = config({
      limits: { device: { messagesBurst: 1 }, models: { fast: { messagesBurst: 100 } } },
    });
    const a = new Admission({ config: cfg, clock });
    assert.equal(a.take("slow-1", null, 1).ok, true);
    assert.equal(a.take("slow-1", null, 1).ok, false);
    assert.equal(a.take("slow-2", null, 1).ok, true, "another device is not affected");
    for (let i = 0; i < 100; i++) assert.equal(a.take("fast-1", "fast", 1).ok, true);
    assert.equal(a.limitOf("fast-1", "fast").messagesBurst, 100);
  });

  it("merges a model's entry field by field over the device default over the built-in default", () => {
    const cfg = config({ limits: { device: { readingsPerSec: 5 }, models: { m: { readingsBurst: 7 } } } });
    assert.deepEqual(rateLimitFor(cfg, "m"), { ...DEFAULT_RATE_LIMIT, readingsPerSec: 5, readingsBurst: 7 });
    assert.deepEqual(rateLimitFor(cfg, "unknown-model"), { ...DEFAULT_RATE_LIMIT, readingsPerSec: 5 });
    assert.deepEqual(rateLimitFor(config(), null), DEFAULT_RATE_LIMIT);
  });

  it("never adds tokens when the clock steps back", () => {
    let now = Date.UTC(2026, 0, 1);
    const manual = new ManualClock();
    const clock = {
      now: () => now,
      setTimeout: manual.setTimeout.bind(manual),
      clearTimeout: manual.clearTimeout.bind(manual),
    };
    const a = new Admission({
      config: config({ limits: { device: { messagesBurst: 1, messagesPerSec: 1 } } }),
      clock,
    });
    assert.equal(a.take("d1", null, 1).ok, true);
    now = Date.UTC(2025, 0, 1);
    assert.equal(a.take("d1", null, 1).ok, false);
    now = Date.UTC(2025, 0, 1) + 100;
    assert.equal(a.take("d1", null, 1).ok, false, "refills from the new time only");
    now = Date.UTC(2025, 0, 1) + 1000;
    assert.equal(a.take("d1", null, 1).ok, true);
  });
});
