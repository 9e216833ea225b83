import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeValue } from "../src/describe-value.js";

describe("describeValue", () => {
  it("names the type and keeps at most 40 characters of a string", () => {
    assert.equal(describeValue("mood"), 'string "mood"');
    assert.equal(describeValue(`${"a".repeat(40)}b`), `string(41) "${"a".repeat(40)}"…`);
    assert.equal(describeValue("line\nbreak\u0000"), 'string "line\\nbreak\\u0000"');
  });

  it("describes scalars and containers without looking inside them", () => {
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.equal(describeValue(deep), "array(1)");
    assert.equal(describeValue({ a: deep }), "object");
    assert.equal(describeValue(-0), "number 0");
    assert.equal(describeValue(1e308), "number 1e+308");
    assert.equal(describeValue(false), "boolean false");
    assert.equal(describeValue(null), "null");
    assert.equal(describeValue(undefined), "undefined");
    assert.equal(describeValue(10n), "bigint");
  });

  it("stays under 64 characters for any value", () => {
    const samples: unknown[] = [
      "x".repeat(1e6),
      "🌡".repeat(100),
      -Number.MAX_VALUE,
      Number.MIN_VALUE,
      Symbol("s"),
      () => 1,
    ];
    for (const v of samples) assert.ok(describeValue(v).length <= 64, describeValue(v));
  });
});
