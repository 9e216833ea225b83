import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { GatewayError } from "../src/errors.js";
import { COMMIT_FAILURE_WINDOW_MS, COMMIT_STALL_MS, CommitHealth, Health } from "../src/health.js";
import { Metrics } from "../src/metrics.js";

describe("Health", () => {
  it("is ok when every check passes", () => {
    const h = new Health();
    h.register("commits", () => undefined);
    h.register("tlog", () => undefined);
    assert.deepEqual(h.report(), { status: "ok", problems: [] });
  });

  it("names every failing check with its problem, in registration order", () => {
    const h = new Health();
    h.register("storage", () => "free space 10 MiB is under the 64 MiB watermark");
    h.register("commits", () => undefined);
    h.register("tlog", () => "checkpoint signing halted: key gone");
    assert.deepEqual(h.report(), {
      status: "failing",
      problems: [
        { check: "storage", problem: "free space 10 MiB is under the 64 MiB watermark" },
        { check: "tlog", problem: "checkpoint signing halted: key gone" },
      ],
    });
  });

  it("counts a check that throws as failing, with its error", () => {
    const h = new Health();
    h.register("tlog", () => {
      throw new Error("database disk image is malformed");
    });
    assert.deepEqual(h.problems(), [
      { check: "tlog", problem: "check failed: database disk image is malformed" },
    ]);
  });

  it("keeps each problem on one line", () => {
    const h = new Health();
    h.register("alert_sinks", () => "webhook down:\n  HTTP 503");
    assert.equal(h.problems()[0]!.problem, "webhook down: HTTP 503");
  });

  it("refuses a second check of the same name and a name that is not snake_case", () => {
    const h = new Health();
    h.register("commits", () => undefined);
    assert.throws(() => h.register("commits", () => undefined), TypeError);
    assert.throws(() => h.register("Commit-Thread", () => undefined), RangeError);
  });
});

describe("CommitHealth", () => {
  const failure = () =>
    new GatewayError("STORE_UNAVAILABLE", "group commit of 2 item(s) failed", {
      cause: new Error("database is locked"),
    });

  it("passes before any commit and while commits succeed", () => {
    const c = new CommitHealth({ metrics: new Metrics(), clock: new ManualClock() });
    assert.equal(c.problem(), undefined);
    c.observe(3);
    assert.equal(c.problem(), undefined);
  });

  it("fails while the last commit failed, however long ago, with the cause", () => {
    const clock = new ManualClock();
    const c = new CommitHealth({ metrics: new Metrics(), clock });
    c.observe(3);
    c.observe(5000, failure());
    c.observe(5000, failure());
    clock.advance(10 * COMMIT_FAILURE_WINDOW_MS);
    assert.equal(
      c.problem(),
      "group commits failing (2 in a row): group commit of 2 item(s) failed: database is locked",
    );
  });

  it("keeps failing for the window after a failure even though later commits succeed, then passes", () => {
    const clock = new ManualClock();
    const c = new CommitHealth({ metrics: new Metrics(), clock });
    c.observe(5000, failure());
    clock.advance(12_000);
    c.observe(4);
    assert.equal(
      c.problem(),
      "a group commit failed 12 s ago (later ones succeeded): group commit of 2 item(s) failed: database is locked",
    );
    clock.advance(COMMIT_FAILURE_WINDOW_MS - 12_001);
    assert.notEqual(c.problem(), undefined);
    clock.advance(1);
    assert.equal(c.problem(), undefined);
  });

  it("fails while one commit runs longer than the stall limit, and passes again once it ends", () => {
    const clock = new ManualClock();
    const c = new CommitHealth({ metrics: new Metrics(), clock });
    c.begin();
    clock.advance(COMMIT_STALL_MS - 1);
    assert.equal(c.problem(), undefined);
    clock.advance(1);
    assert.equal(c.problem(), "a group commit has been running for 10 s: nothing is acknowledged meanwhile");
    c.observe(COMMIT_STALL_MS + 500);
    assert.equal(c.problem(), undefined);
  });

  it("observes every commit's duration in the histogram, by outcome", async () => {
    const metrics = new Metrics();
    const c = new CommitHealth({ metrics, clock: new ManualClock() });
    c.observe(3);
    c.observe(40);
    c.observe(5000, failure());
    const text = await metrics.exposition();
    assert.match(text, /^vitalog_commit_duration_seconds_count\{outcome="ok"\} 2$/m);
    assert.match(text, /^vitalog_commit_duration_seconds_bucket\{le="0.005",outcome="ok"\} 1$/m);
    assert.match(text, /^vitalog_commit_duration_seconds_sum\{outcome="failed"\} 5$/m);
  });
});
