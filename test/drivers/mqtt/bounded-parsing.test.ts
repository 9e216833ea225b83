import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PAYLOAD_LIMITS } from "../../../src/drivers/mqtt/json-bounds.js";
import { type DecodedPayload, decodePayload, PayloadError } from "../../../src/drivers/mqtt/payload.js";
import { normaliseBatch } from "../../../src/reading.js";

const utf8 = (text: string) => new TextEncoder().encode(text);
const decode = (format: "senml" | "json", text: string) => decodePayload(format, utf8(text));
/** The PayloadError a payload is refused with. */
const refusal = (format: "senml" | "json", payload: string | Uint8Array): PayloadError => {
  try {
    decodePayload(format, typeof payload === "string" ? utf8(payload) : payload);
  } catch (e) {
    assert.ok(e instanceof PayloadError, `expected a PayloadError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected the payload to be refused");
};
const recordReasons = (d: DecodedPayload) => d.rejected.map((r) => [r.index, r.reason]);
/** `n` arrays nested in one another: depth n. */
const nest = (n: number) => "[".repeat(n) + "]".repeat(n);
const hr = '"n":"hr","u":"beat/min","v":72';
const plainHr = '"kind":"heart_rate","value":72,"unit":"/min"';

describe("payload limits", () => {
  it("pins every limit's refusal reason (wire strings)", () => {
    assert.deepEqual(Object.fromEntries(Object.entries(PAYLOAD_LIMITS).map(([k, v]) => [k, v.reason])), {
      depth: "payload_too_deep",
      records: "too_many_records",
      labels: "too_many_labels",
      name: "name_too_long",
      unit: "unit_too_long",
      stringValue: "string_value_too_long",
      relativeTime: "time_offset_out_of_range",
    });
  });

  it("refuses a plain JSON kind nested 5,000 deep instead of overflowing the stack", () => {
    const e = refusal("json", `{"readings":[{"kind":${nest(5000)},"value":1,"unit":"/min"}]}`);
    assert.equal(e.reason, "payload_too_deep");
    assert.ok(e.message.length < 100, e.message);
  });

  it("refuses nesting deeper than 8 levels and accepts 8, in both forms", () => {
    assert.equal(decode("senml", `[{${hr},"x":${nest(6)}}]`).inputs.length, 1);
    assert.equal(refusal("senml", `[{${hr},"x":${nest(7)}}]`).reason, "payload_too_deep");
    assert.equal(decode("json", `{"readings":[{${plainHr},"x":${nest(5)}}]}`).inputs.length, 1);
    assert.equal(refusal("json", `{"readings":[{${plainHr},"x":${nest(6)}}]}`).reason, "payload_too_deep");
    assert.equal(refusal("senml", nest(10_000)).reason, "payload_too_deep");
    assert.equal(refusal("json", "{".repeat(10_000)).reason, "payload_too_deep");
  });

  it("does not count brackets inside strings, escaped quotes included", () => {
    const d = decode("senml", `[{${hr}},{"n":"label","vs":"\\"[[[[[[[[[[{{{{{{{{{{\\\\"}]`);
    assert.equal(d.inputs.length, 1);
    assert.deepEqual(recordReasons(d), [[1, "unknown_vital"]]);
  });

  it("refuses a pack of more than 512 records and accepts 512, in both forms", () => {
    const senml = (n: number) => `[${Array(n).fill(`{${hr}}`).join(",")}]`;
    const plain = (n: number) => `{"readings":[${Array(n).fill(`{${plainHr}}`).join(",")}]}`;
    assert.equal(decode("senml", senml(512)).inputs.length, 512);
    assert.equal(refusal("senml", senml(513)).reason, "too_many_records");
    assert.equal(decode("json", plain(512)).inputs.length, 512);
    assert.equal(refusal("json", plain(513)).reason, "too_many_records");
  });

  it("refuses more than 32 labels in a SenML record, a plain reading or the plain document", () => {
    const extra = (n: number) => Array.from({ length: n }, (_, i) => `"x${i}":0`).join(",");
    assert.equal(decode("senml", `[{${hr},${extra(29)}}]`).inputs.length, 1);
    assert.equal(refusal("senml", `[{${hr},${extra(30)}}]`).reason, "too_many_labels");
    assert.equal(decode("json", `{"readings":[{${plainHr},${extra(29)}}]}`).inputs.length, 1);
    const d = decode("json", `{"readings":[{${plainHr},${extra(30)}},{${plainHr}}]}`);
    assert.deepEqual(recordReasons(d), [[0, "too_many_labels"]]);
    assert.equal(d.inputs.length, 1, "the other reading still counts");
    assert.equal(refusal("json", `{"readings":[],${extra(32)}}`).reason, "too_many_labels");
  });

  it("refuses names over 128 characters: bn, n, the resolved name and the plain kind", () => {
    const x = (n: number) => "x".repeat(n);
    assert.deepEqual(recordReasons(decode("senml", `[{"bn":"${x(125)}:","n":"hr","v":1}]`)), [
      [0, "unit_missing"],
    ]);
    assert.equal(refusal("senml", `[{"bn":"${x(126)}:","n":"hr","v":1}]`).reason, "name_too_long");
    assert.equal(refusal("senml", `[{"bn":"${x(129)}","n":"hr","v":1}]`).reason, "name_too_long");
    assert.equal(refusal("senml", `[{"n":"${x(129)}","v":1}]`).reason, "name_too_long");
    const plain = (kind: string) =>
      decode("json", `{"readings":[{"kind":"${kind}","value":1,"unit":"/min"}]}`);
    assert.deepEqual(recordReasons(plain(x(128))), [[0, "unknown_vital"]]);
    assert.deepEqual(recordReasons(plain(x(129))), [[0, "name_too_long"]]);
  });

  it("refuses units over 32 characters: u, bu, ucum_ and the plain unit", () => {
    const u = (n: number) => "u".repeat(n);
    assert.deepEqual(recordReasons(decode("senml", `[{"n":"hr","u":"${u(32)}","v":1}]`)), [
      [0, "unit_unsupported"],
    ]);
    for (const label of ["u", "bu", "ucum_"]) {
      assert.equal(
        refusal("senml", `[{"n":"hr","${label}":"${u(33)}","v":1}]`).reason,
        "unit_too_long",
        label,
      );
    }
    const plain = (unit: string) =>
      decode("json", `{"readings":[{"kind":"heart_rate","value":1,"unit":"${unit}"}]}`);
    assert.deepEqual(recordReasons(plain(u(32))), []);
    assert.deepEqual(recordReasons(plain(u(33))), [[0, "unit_too_long"]]);
  });

  it("refuses SenML string and data values over 256 characters", () => {
    const s = (n: number) => "s".repeat(n);
    assert.deepEqual(recordReasons(decode("senml", `[{"n":"label","vs":"${s(256)}"}]`)), [
      [0, "unknown_vital"],
    ]);
    assert.equal(refusal("senml", `[{"n":"label","vs":"${s(257)}"}]`).reason, "string_value_too_long");
    assert.equal(refusal("senml", `[{"n":"blob","vd":"${s(257)}"}]`).reason, "string_value_too_long");
  });

  it("refuses a relative time more than 2^28 s back, and only that record", () => {
    const min = -(2 ** 28);
    assert.deepEqual(decode("senml", `[{${hr},"t":${min}}]`).inputs[0]?.timeOffsetMs, min * 1000);
    for (const t of [`"t":${min - 1}`, '"t":-1e20', '"bt":-1e20', '"bt":-1e308,"t":-1e308']) {
      const d = decode("senml", `[{${hr},${t}},{"bt":1763726400,${hr}}]`);
      assert.deepEqual(recordReasons(d), [[0, "time_offset_out_of_range"]], t);
      assert.equal(d.inputs.length, 1, t);
    }
  });

  it("refuses a relative time that resolves before the storage window (a gateway clock in 2005)", () => {
    const now = Date.UTC(2005, 0, 1);
    const d = decode("senml", `[{${hr},"t":-200000000},{${hr},"t":-60}]`);
    const { accepted, rejected } = normaliseBatch(d.inputs, now);
    assert.deepEqual(
      rejected.map((r) => [r.index, r.reason]),
      [[0, "time_before_storage_window"]],
    );
    assert.deepEqual(
      accepted.map((a) => a.observedAtMs),
      [now - 60_000],
    );
  });

  it("refuses a SenML value whose base value and value add up to infinity", () => {
    const d = decode("senml", `[{"bv":1e308,${hr.replace("72", "1e308")}}]`);
    assert.deepEqual(recordReasons(d), [[0, "value_not_finite"]]);
  });

  it("refuses bytes that are not UTF-8, in both forms", () => {
    const bad = [
      [0xff],
      [0x5b, 0xc0, 0xaf, 0x5d], // overlong "/"
      [0x22, 0xed, 0xa0, 0x80, 0x22], // an encoded surrogate
      [0x7b, 0xe2, 0x82], // truncated sequence
    ];
    for (const bytes of bad) {
      for (const format of ["senml", "json"] as const) {
        assert.equal(
          refusal(format, new Uint8Array(bytes)).reason,
          "payload_invalid_utf8",
          `${format} ${bytes}`,
        );
      }
    }
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(`[{${hr}}]`)]);
    assert.equal(decodePayload("senml", bom).inputs.length, 1, "[RFC 8259 §8.1] a BOM may be ignored");
    assert.equal(decode("senml", `[{${hr}},{"n":"note","vs":"Temperatur gemessen 🌡"}]`).inputs.length, 1);
  });

  it("keeps no payload text in malformed-JSON and unknown-value details", () => {
    const secret = "Jane Doe, MRN 12345";
    assert.equal(refusal("json", `{"readings":[${secret}]}`).message, "payload is not valid JSON");
    assert.equal(refusal("senml", `[${secret}`).message, "payload is not valid JSON");
    const long = "Jane Doe ".repeat(14);
    const d = decode("json", `{"readings":[{"kind":"${long}","value":1,"unit":"/min"}]}`);
    assert.equal(d.rejected[0]?.reason, "unknown_vital");
    assert.ok((d.rejected[0]?.detail.length ?? 0) < 100);
    const u = decode("senml", `[{"n":"hr","u":"${"Doe ".repeat(8)}","v":1}]`);
    assert.equal(u.rejected[0]?.reason, "unit_unsupported");
    assert.ok((u.rejected[0]?.detail.length ?? 0) < 120);
  });
});
