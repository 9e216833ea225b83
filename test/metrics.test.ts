import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { register as globalRegistry } from "prom-client";
import { Metrics } from "../src/metrics.js";

describe("Metrics", () => {
  it("counts and sets samples that value, sum and snapshot read at once", () => {
    const m = new Metrics();
    const rejected = m.counter("vitalog_rejections_total", "Rejected");
    const clients = m.gauge("vitalog_mqtt_clients", "Clients");
    rejected({ device: "a", reason: "too_large" });
    rejected({ device: "a", reason: "too_large" }, 2);
    rejected({ device: "b", reason: "bad_json" });
    clients(4);
    clients(3);
    assert.equal(m.value("vitalog_rejections_total", { reason: "too_large", device: "a" }), 3);
    assert.equal(m.sum("vitalog_rejections_total"), 4);
    assert.equal(m.sum("vitalog_rejections_total", { device: "b" }), 1);
    assert.equal(m.value("vitalog_mqtt_clients"), 3);
    assert.equal(m.value("vitalog_never_registered"), 0);
    assert.deepEqual(m.snapshot().vitalog_mqtt_clients, [{ labels: {}, value: 3 }]);
  });

  it("exposes counters and gauges through prom-client, label values escaped", async () => {
    const m = new Metrics();
    m.counter("vitalog_commits_total", "Group commits, by outcome")({ outcome: "ok" }, 5);
    m.gauge("vitalog_anchor_state", "Anchor items")(2, { state: 'a"b\\c' });
    const text = await m.exposition();
    assert.match(text, /^# HELP vitalog_commits_total Group commits, by outcome$/m);
    assert.match(text, /^# TYPE vitalog_commits_total counter$/m);
    assert.match(text, /^vitalog_commits_total\{outcome="ok"\} 5$/m);
    assert.match(text, /^# TYPE vitalog_anchor_state gauge$/m);
    assert.match(text, /^vitalog_anchor_state\{state="a\\"b\\\\c"\} 2$/m);
  });

  it("keeps exposing a family whose samples gain a label key", async () => {
    const m = new Metrics();
    const held = m.counter("vitalog_mqtt_frames_held_total", "Held");
    held();
    assert.match(await m.exposition(), /^vitalog_mqtt_frames_held_total 1$/m);
    held({ device: "d1" }, 4);
    const text = await m.exposition();
    assert.match(text, /^vitalog_mqtt_frames_held_total 1$/m);
    assert.match(text, /^vitalog_mqtt_frames_held_total\{device="d1"\} 4$/m);
  });

  it("leaves out a family nobody set instead of inventing a zero", async () => {
    const m = new Metrics();
    m.gauge("vitalog_anchor_last_final_block", "Block");
    m.counter("vitalog_alert_transitions_total", "Transitions");
    const text = await m.exposition();
    assert.doesNotMatch(text, /^vitalog_anchor_last_final_block /m);
    assert.doesNotMatch(text, /^vitalog_alert_transitions_total /m);
  });

  it("computes gaugeFrom families at each read, dropping series that are gone", async () => {
    const m = new Metrics();
    let devices = ["a", "b"];
    m.gaugeFrom("vitalog_device_last_seen_age_seconds", "Age", () =>
      devices.map((d) => ({ labels: { device: d }, value: 1 })),
    );
    assert.equal(m.sum("vitalog_device_last_seen_age_seconds"), 2);
    devices = ["b"];
    const text = await m.exposition();
    assert.doesNotMatch(text, /device="a"/);
    assert.match(text, /^vitalog_device_last_seen_age_seconds\{device="b"\} 1$/m);
  });

  it("leaves a failing gaugeFrom family out of the scrape and counts it, the rest still exposed", async () => {
    const m = new Metrics();
    m.counter("vitalog_commits_total", "Commits")({ outcome: "ok" });
    m.gaugeFrom("vitalog_tlog_unsigned_leaves", "Unsigned", () => {
      throw new Error("stored right edge does not match the stored root");
    });
    const text = await m.exposition();
    assert.match(text, /^vitalog_commits_total\{outcome="ok"\} 1$/m);
    assert.doesNotMatch(text, /^vitalog_tlog_unsigned_leaves /m);
    assert.match(text, /^vitalog_metric_collect_errors_total\{metric="vitalog_tlog_unsigned_leaves"\} 1$/m);
  });

  it("gives every instance its own registry and never touches prom-client's global one", async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.counter("vitalog_commits_total", "Commits")({ outcome: "ok" }, 1);
    b.counter("vitalog_commits_total", "Commits")({ outcome: "ok" }, 7);
    a.histogram("vitalog_commit_duration_seconds", "Duration", [0.1, 1]);
    b.histogram("vitalog_commit_duration_seconds", "Duration", [0.1, 1]);
    assert.match(await a.exposition(), /^vitalog_commits_total\{outcome="ok"\} 1$/m);
    assert.match(await b.exposition(), /^vitalog_commits_total\{outcome="ok"\} 7$/m);
    assert.equal(globalRegistry.getSingleMetric("vitalog_commits_total"), undefined);
    assert.equal(globalRegistry.getSingleMetric("vitalog_commit_duration_seconds"), undefined);
  });

  it("refuses to register one name as two kinds", () => {
    const m = new Metrics();
    m.counter("vitalog_x_total", "x");
    assert.throws(() => m.gauge("vitalog_x_total", "x"), TypeError);
    assert.throws(() => m.histogram("vitalog_x_total", "x", [1]), TypeError);
    assert.throws(() => m.gaugeFrom("vitalog_x_total", "x", () => []), TypeError);
  });
});
