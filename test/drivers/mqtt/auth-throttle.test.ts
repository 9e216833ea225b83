import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { AuthThrottle } from "../../../src/drivers/mqtt/auth-throttle.js";

const limits = { freeFailures: 3, backoffMaxMs: 8000 };

describe("authentication backoff per source address and per client id", () => {
  it("allows the free failures, then doubles the backoff from 1 s up to its maximum", () => {
    const clock = new ManualClock();
    const t = new AuthThrottle(limits, clock);
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      t.recordFailure("10.0.0.1", `id-${i}`);
      waits.push(t.waitMs("10.0.0.1", "someone-else"));
    }
    assert.deepEqual(waits, [0, 0, 0, 1000, 2000, 4000, 8000]);
    clock.advance(8000);
    assert.equal(t.waitMs("10.0.0.1", "someone-else"), 0, "open again once the backoff has passed");
  });

  it("backs off an id whatever the addresses its failures come from", () => {
    const t = new AuthThrottle(limits, new ManualClock());
    for (let i = 0; i < 4; i++) t.recordFailure(`10.0.0.${i}`, "wear-001");
    assert.equal(t.waitMs("10.9.9.9", "wear-001"), 1000);
    assert.equal(t.waitMs("10.9.9.9", "wear-002"), 0, "other ids from a clean address are not delayed");
  });

  it("treats an id the same whether or not it exists (it never asks)", () => {
    const t = new AuthThrottle(limits, new ManualClock());
    for (let i = 0; i < 5; i++) {
      t.recordFailure(`10.0.1.${i}`, "provisioned-id");
      t.recordFailure(`10.0.2.${i}`, "made-up-id");
    }
    assert.equal(t.waitMs("10.0.3.1", "provisioned-id"), t.waitMs("10.0.3.1", "made-up-id"));
  });

  it("forgets failures after a quiet quarter of an hour", () => {
    const clock = new ManualClock();
    const t = new AuthThrottle(limits, clock);
    for (let i = 0; i < 3; i++) t.recordFailure("10.0.0.1", "wear-001");
    clock.advance(15 * 60_000 + 1);
    t.recordFailure("10.0.0.1", "wear-001");
    assert.deepEqual(t.failures("10.0.0.1", "wear-001"), { source: 1, id: 1 });
    assert.equal(t.waitMs("10.0.0.1", "wear-001"), 0);
  });

  it("keeps its memory bounded under a storm of distinct ids, forgetting the stalest first", () => {
    const t = new AuthThrottle(limits, new ManualClock());
    for (let i = 0; i < 4; i++) t.recordFailure("10.0.0.1", "targeted");
    for (let i = 0; i < 10_000; i++) t.recordFailure(`10.1.${i >> 8}.${i & 255}`, `spray-${i}`);
    assert.equal(t.failures("10.0.0.1", "spray-0").id, 0, "the oldest sprayed ids are forgotten");
    assert.equal(t.failures("10.0.0.1", "spray-9999").id, 1);
  });
});

describe("a backed-off id stays open to clean sources, one verification at a time", () => {
  it("lets an address with no failure verify a backed-off id, one at a time, and never a failing one", () => {
    const clock = new ManualClock();
    const t = new AuthThrottle({ freeFailures: 0, backoffMaxMs: 60_000 }, clock);
    for (let i = 0; i < 10; i++) {
      clock.advance(60_000);
      t.recordFailure("10.6.6.6", "wear-001");
    }
    assert.ok(t.waitMs("10.9.9.9", "wear-001") > 0, "the id is backed off");
    assert.equal(t.mayVerify("10.6.6.6", "wear-001", true), false, "not for the failing address");
    assert.equal(t.mayVerify("10.0.0.1", "wear-001", false), true, "asking does not take the slot");
    assert.equal(t.mayVerify("10.0.0.1", "wear-001", true), true, "a clean address gets the slot");
    assert.equal(t.mayVerify("10.0.0.2", "wear-001", true), false, "…one at a time");
    t.recordFailure("10.0.0.1", "wear-001");
    clock.advance(100);
    assert.equal(t.mayVerify("10.0.0.1", "wear-001", true), false, "its failure ended its cleanness");
    assert.equal(t.mayVerify("10.0.0.2", "wear-001", true), true, "the next clean address");
  });
});
