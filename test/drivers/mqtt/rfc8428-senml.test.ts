import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSenml, SenmlError } from "../../../src/drivers/mqtt/senml.js";

const reasonOf = (text: string) => {
  try {
    parseSenml(text);
  } catch (e) {
    assert.ok(e instanceof SenmlError);
    return e.reason;
  }
  assert.fail(`expected ${text} to be refused`);
};

describe("RFC 8428 SenML resolution", () => {
  it("resolves §5.1.1 single datapoint", () => {
    const [r] = parseSenml('[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]');
    assert.equal(r!.name, "urn:dev:ow:10e2073a01080063");
    assert.equal(r!.unit, "Cel");
    assert.equal(r!.value, 23.1);
    assert.equal(r!.time, 0);
    assert.equal(r!.isRelativeTime, true);
  });

  it("resolves §5.1.2 multiple datapoints with a base name", () => {
    const rs = parseSenml(
      '[{"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},{"n":"current","u":"A","v":1.2}]',
    );
    assert.deepEqual(
      rs.map((r) => [r.name, r.unit, r.value]),
      [
        ["urn:dev:ow:10e2073a01080063:voltage", "V", 120.1],
        ["urn:dev:ow:10e2073a01080063:current", "A", 1.2],
      ],
    );
  });

  it("resolves §5.1.3 multiple measurements: base time, base unit, relative t, bver 5", () => {
    const rs = parseSenml(`[
      {"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},
      {"n":"current","t":-5,"v":1.2},{"n":"current","t":-4,"v":1.3},{"n":"current","t":-3,"v":1.4},
      {"n":"current","t":-2,"v":1.5},{"n":"current","t":-1,"v":1.6},{"n":"current","v":1.7}]`);
    assert.equal(rs.length, 7);
    assert.deepEqual([rs[0]!.unit, rs[0]!.time, rs[0]!.isRelativeTime], ["V", 1.276020076001e9, false]);
    assert.deepEqual(
      rs.slice(1).map((r) => [r.unit, Math.round((r.time - 1.276020076001e9) * 1000) / 1000, r.value]),
      [
        ["A", -5, 1.2],
        ["A", -4, 1.3],
        ["A", -3, 1.4],
        ["A", -2, 1.5],
        ["A", -1, 1.6],
        ["A", 0, 1.7],
      ],
    );
  });

  it("resolves §5.1.6 multiple data types", () => {
    const rs = parseSenml(`[
      {"bn":"urn:dev:ow:10e2073a01080063:","bt":1.320067464e+09,"n":"temp","u":"Cel","v":23.1},
      {"n":"label","vs":"Machine Room"},{"n":"open","vb":false},{"n":"nfc-reader","vd":"aGkgCg"}]`);
    assert.equal(rs[1]!.stringValue, "Machine Room");
    assert.equal(rs[2]!.boolValue, false);
    assert.equal(rs[3]!.dataValue, "aGkgCg");
    assert.ok(rs.every((r) => r.time === 1.320067464e9));
  });

  it("resolves §5.1.7 a collection where the base name changes mid-pack", () => {
    const rs = parseSenml(`[
      {"bn":"2001:db8::2/","n":"temperature","u":"Cel","v":25.2},{"n":"humidity","u":"%RH","v":30},
      {"bn":"2001:db8::1/","n":"temperature","u":"Cel","v":12.3},{"n":"humidity","u":"%RH","v":67}]`);
    assert.deepEqual(
      rs.map((r) => r.name),
      ["2001:db8::2/temperature", "2001:db8::2/humidity", "2001:db8::1/temperature", "2001:db8::1/humidity"],
    );
  });

  it("applies base value and base sum", () => {
    const rs = parseSenml('[{"bn":"d:","bv":100,"bs":10,"n":"a","v":1,"s":2},{"n":"b","v":-1}]');
    assert.deepEqual([rs[0]!.value, rs[0]!.sum, rs[1]!.value], [101, 12, 99]);
  });

  it("treats a sum below 2^28 as relative and at or above it as absolute", () => {
    const [rel] = parseSenml(`[{"n":"x","v":1,"bt":${2 ** 28 - 10},"t":9}]`);
    assert.equal(rel!.isRelativeTime, true);
    const [abs] = parseSenml(`[{"n":"x","v":1,"bt":${2 ** 28 - 10},"t":10}]`);
    assert.equal(abs!.isRelativeTime, false);
    const [neg] = parseSenml('[{"n":"x","v":1,"t":-30}]');
    assert.deepEqual([neg!.time, neg!.isRelativeTime], [-30, true]);
  });

  it("accepts RFC 9100 bver 26 (secondary units) and refuses unknown feature bits", () => {
    assert.equal(parseSenml('[{"bver":26,"n":"x","u":"/100","v":97}]')[0]!.version, 26);
    assert.equal(reasonOf('[{"bver":74,"n":"x","v":1}]'), "senml_version_unsupported");
    assert.equal(reasonOf('[{"bver":11,"n":"x","v":1}]'), "senml_version_unsupported");
  });

  it("refuses must-understand labels it does not understand, and accepts ucum_", () => {
    assert.equal(reasonOf('[{"n":"x","v":1,"foo_":1}]'), "senml_must_understand");
    assert.equal(parseSenml('[{"n":"x","v":1,"ucum_":"mm[Hg]"}]')[0]!.ucum, "mm[Hg]");
    assert.equal(parseSenml('[{"n":"x","v":1,"unknown":1}]').length, 1, "unknown labels are ignored");
  });

  it("names every structural problem", () => {
    assert.equal(reasonOf("{"), "payload_malformed_json");
    assert.equal(reasonOf('{"n":"x"}'), "senml_not_array");
    assert.equal(reasonOf("[]"), "senml_empty");
    assert.equal(reasonOf("[1]"), "senml_invalid_record");
    assert.equal(reasonOf('[{"n":"x","v":"72"}]'), "senml_invalid_field");
    assert.equal(reasonOf('[{"n":"x","v":1e400}]'), "value_not_finite");
    assert.equal(reasonOf('[{"n":"x","v":1,"vs":"a"}]'), "senml_multiple_values");
    assert.equal(reasonOf('[{"n":"x"}]'), "senml_no_value");
    assert.equal(reasonOf('[{"n":" bad","v":1}]'), "senml_invalid_name");
    assert.equal(reasonOf('[{"v":1}]'), "senml_invalid_name");
    assert.equal(reasonOf('[{"n":"x","vb":"true"}]'), "senml_invalid_field");
  });

  it("refuses packs over the gateway's limits, one reason per limit", () => {
    assert.equal(reasonOf(`[{"n":"x","v":1,"a":${"[".repeat(7)}${"]".repeat(7)}}]`), "payload_too_deep");
    assert.equal(reasonOf(`[${Array(513).fill('{"n":"x","v":1}').join(",")}]`), "too_many_records");
    const labels = Array.from({ length: 31 }, (_, i) => `"l${i}":1`).join(",");
    assert.equal(reasonOf(`[{"n":"x","v":1,${labels}}]`), "too_many_labels");
    assert.equal(reasonOf(`[{"n":"${"x".repeat(129)}","v":1}]`), "name_too_long");
    assert.equal(reasonOf(`[{"n":"x","u":"${"u".repeat(33)}","v":1}]`), "unit_too_long");
    assert.equal(reasonOf(`[{"n":"x","vd":"${"A".repeat(257)}"}]`), "string_value_too_long");
  });

  it("resolves a relative time of any size and leaves its bounds to the decoder", () => {
    const [r] = parseSenml('[{"n":"x","v":1,"t":-1e20}]');
    assert.deepEqual([r!.time, r!.isRelativeTime], [-1e20, true]);
  });
});
