/**
 * Ingest reports a frame's refusals once per reason, with how many there were. The technical alarms count
 * refused records, so one frame of N refusals must weigh what N single refusals weigh.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { harness } from "./helpers.js";

describe("technical alarms from counted rejections", () => {
  it("raises impossible values on one frame of three values above the limit, as three frames would", () => {
    const h = harness();
    h.engine.onRejected("dev-1", "p1", "above_physiologic_limit", 2);
    assert.equal(h.events.length, 0, "two impossible values are not yet a pattern");
    h.engine.onRejected("dev-1", "p1", "above_physiologic_limit", 1);
    assert.deepEqual(
      h.events.map((e) => [e.rule_id, e.priority]),
      [["technical.impossible_values", "medium"]],
    );

    const single = harness();
    single.engine.onRejected("dev-1", "p1", "above_physiologic_limit", 3);
    assert.deepEqual(
      single.events.map((e) => [e.rule_id, e.priority]),
      [["technical.impossible_values", "medium"]],
    );
  });

  it("raises the burst alarm on one frame of five refused records, and only one alarm for 8,000", () => {
    const h = harness();
    h.engine.onRejected("dev-1", "p1", "senml_invalid_record", 4);
    assert.equal(h.events.length, 0);
    h.engine.onRejected("dev-1", "p1", "senml_invalid_record", 8000);
    assert.deepEqual(
      h.of("raise").map((e) => e.rule_id),
      ["technical.rejected_frames"],
    );
  });

  it("counts a rejection without a count as one", () => {
    const h = harness();
    for (let i = 0; i < 4; i++) h.engine.onRejected("dev-1", "p1", "decode_failed");
    assert.equal(h.events.length, 0);
    h.engine.onRejected("dev-1", "p1", "decode_failed");
    assert.equal(h.of("raise")[0]?.rule_id, "technical.rejected_frames");
  });
});
