import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodePayload,
  decodePlainJson,
  decodeSenml,
  PayloadError,
} from "../../../src/drivers/mqtt/payload.js";
import { UNREADABLE_CONTACT_STATUS } from "../../../src/reading.js";

describe("MQTT payload decoding", () => {
  it("decodes the reference SenML vitals pack to UCUM inputs (clinical.md §4.2)", () => {
    const d = decodeSenml(`[
      {"bn":"urn:dev:mac:0024befffe804ff1:","bt":1710491400,"n":"hr","u":"1/s","v":1.2},
      {"n":"spo2","u":"/","v":0.97},
      {"n":"temp","u":"Cel","v":36.4,"t":-30},
      {"n":"sbp","u":"Pa","v":16132},
      {"n":"wt","u":"kg","v":72.4,"t":-3600}]`);
    assert.deepEqual(d.rejected, []);
    assert.deepEqual(d.inputs, [
      { kind: "heart_rate", value: 1.2, unit: "1/s", deviceTimeMs: 1710491400000 },
      { kind: "spo2", value: 97, unit: "%", deviceTimeMs: 1710491400000 },
      { kind: "body_temperature", value: 36.4, unit: "Cel", deviceTimeMs: 1710491370000 },
      { kind: "bp_systolic", value: 16132, unit: "Pa", deviceTimeMs: 1710491400000 },
      { kind: "body_weight", value: 72.4, unit: "kg", deviceTimeMs: 1710487800000 },
    ]);
  });

  it("keeps relative times relative (clock-less wearables)", () => {
    const d = decodeSenml('[{"bn":"x:","n":"hr","u":"beat/min","v":72,"t":-5}]');
    assert.deepEqual(d.inputs, [{ kind: "heart_rate", value: 72, unit: "/min", timeOffsetMs: -5000 }]);
  });

  it("reads battery and contact as device status, not readings", () => {
    const d = decodeSenml('[{"bn":"x:","n":"bat","u":"%EL","v":40},{"n":"contact","vb":false}]');
    assert.deepEqual(d.inputs, []);
    assert.deepEqual(d.status, { batteryPct: 40, sensorContact: false });
  });

  it("never reads an unreadable SenML contact as contact: the record is refused and the pack's readings flagged", () => {
    const d = decodeSenml('[{"bn":"d1:","n":"hr","u":"beat/min","v":175},{"n":"contact","v":0}]');
    assert.deepEqual(
      d.rejected.map((r) => [r.index, r.reason]),
      [[1, "senml_invalid_field"]],
    );
    assert.deepEqual(d.inputs, [
      { kind: "heart_rate", value: 175, unit: "/min", timeOffsetMs: 0, flags: ["signal_unreliable"] },
    ]);
    assert.deepEqual(d.status, { measurementIssues: [UNREADABLE_CONTACT_STATUS] });
    // one readable "contact" does not outweigh it; a contact record refused for its time is unreadable too
    for (const pack of [
      '[{"n":"contact","vb":true},{"n":"hr","u":"beat/min","v":72},{"n":"contact","vs":"true"}]',
      '[{"n":"hr","u":"beat/min","v":72},{"n":"contact","vb":true,"t":-1e20}]',
    ]) {
      const u = decodeSenml(pack);
      assert.deepEqual(u.inputs[0]!.flags, ["signal_unreliable"], pack);
      assert.deepEqual(u.status, { measurementIssues: [UNREADABLE_CONTACT_STATUS] }, pack);
    }
  });

  it("lets a readable contact false gate the pack alone when another contact record is unreadable", () => {
    const d = decodeSenml(
      '[{"n":"hr","u":"beat/min","v":72},{"n":"contact","v":1},{"n":"contact","vb":false}]',
    );
    assert.deepEqual(d.status, { sensorContact: false });
    assert.equal(d.inputs[0]!.flags, undefined);
    assert.deepEqual(
      d.rejected.map((r) => r.reason),
      ["senml_invalid_field"],
    );
  });

  it("keeps plain JSON readings with a sensor_contact that is not a boolean, flagged, and refuses the field", () => {
    for (const contact of ['"false"', "0", "null", "{}"]) {
      const d = decodePlainJson(
        `{"readings":[{"kind":"heart_rate","value":175,"unit":"/min"}],"sensor_contact":${contact}}`,
      );
      assert.deepEqual(d.inputs, [
        { kind: "heart_rate", value: 175, unit: "/min", flags: ["signal_unreliable"] },
      ]);
      assert.deepEqual(d.status, { measurementIssues: [UNREADABLE_CONTACT_STATUS] });
      assert.deepEqual(
        d.rejected.map((r) => [r.index, r.reason, r.detail]),
        [[-1, "json_invalid_field", "sensor_contact must be a boolean"]],
      );
    }
  });

  it("treats SenML % as a ratio and refuses a percentage sent with it", () => {
    assert.equal(decodeSenml('[{"n":"spo2","u":"%","v":0.95}]').inputs[0]!.value, 95);
    const d = decodeSenml('[{"n":"spo2","u":"%","v":95}]');
    assert.equal(d.inputs.length, 0);
    assert.equal(d.rejected[0]!.reason, "unit_unsupported");
    assert.match(d.rejected[0]!.detail, /ratio/);
  });

  it("accepts the secondary unit /100 only with bver 26", () => {
    assert.equal(decodeSenml('[{"bver":26,"n":"spo2","u":"/100","v":97}]').inputs[0]!.value, 97);
    assert.equal(decodeSenml('[{"n":"spo2","u":"/100","v":97}]').rejected[0]!.reason, "unit_unsupported");
  });

  it("accepts the closed-ecosystem ucum_ label instead of u", () => {
    const d = decodeSenml('[{"n":"sbp","ucum_":"mm[Hg]","v":121}]');
    assert.deepEqual(d.inputs, [{ kind: "bp_systolic", value: 121, unit: "mm[Hg]", timeOffsetMs: 0 }]);
  });

  it("refuses records individually and keeps the rest of the pack", () => {
    const d = decodeSenml(
      '[{"bn":"x:","n":"hr","u":"beat/min","v":72},{"n":"mood","v":1},{"n":"rr","v":14},{"n":"temp","u":"degF","v":98}]',
    );
    assert.equal(d.inputs.length, 1);
    assert.deepEqual(
      d.rejected.map((r) => [r.index, r.reason]),
      [
        [1, "unknown_vital"],
        [2, "unit_missing"],
        [3, "unit_unsupported"],
      ],
    );
  });

  it("decodes the plain JSON form with pack and per-reading times", () => {
    const d = decodePlainJson(
      '{"time":"2026-11-21T10:00:00Z","readings":[{"kind":"heart_rate","value":72,"unit":"/min"},{"kind":"spo2","value":97,"unit":"%","time":1763719200000}],"battery_pct":80,"sensor_contact":true}',
    );
    assert.deepEqual(d.inputs, [
      { kind: "heart_rate", value: 72, unit: "/min", deviceTimeMs: Date.parse("2026-11-21T10:00:00Z") },
      { kind: "spo2", value: 97, unit: "%", deviceTimeMs: 1763719200000 },
    ]);
    assert.deepEqual(d.status, { batteryPct: 80, sensorContact: true });
  });

  it("decodes payload bytes in the topic's format", () => {
    const bytes = (text: string) => new TextEncoder().encode(text);
    assert.deepEqual(decodePayload("senml", bytes('[{"n":"hr","u":"beat/min","v":72,"t":-5}]')).inputs, [
      { kind: "heart_rate", value: 72, unit: "/min", timeOffsetMs: -5000 },
    ]);
    assert.deepEqual(
      decodePayload("json", bytes('{"readings":[{"kind":"heart_rate","value":72,"unit":"/min"}]}')).inputs,
      [{ kind: "heart_rate", value: 72, unit: "/min" }],
    );
    assert.throws(
      () => decodePayload("json", bytes('[{"n":"hr","u":"beat/min","v":72}]')),
      (e) => e instanceof PayloadError && e.reason === "json_not_object",
    );
  });

  it("refuses a relative SenML time before 2^28 s ago, record by record", () => {
    const d = decodeSenml(
      '[{"bn":"x:","n":"hr","u":"beat/min","v":72,"t":-1e20},{"n":"rr","u":"1/min","v":14}]',
    );
    assert.deepEqual(
      d.rejected.map((r) => [r.index, r.reason]),
      [[0, "time_offset_out_of_range"]],
    );
    assert.deepEqual(d.inputs, [{ kind: "respiratory_rate", value: 14, unit: "/min", timeOffsetMs: 0 }]);
  });

  it("refuses plain JSON readings that are arrays", () => {
    assert.deepEqual(
      decodePlainJson('{"readings":[["heart_rate",72,"/min"]]}').rejected.map((r) => r.reason),
      ["json_invalid_field"],
    );
  });

  it("names plain JSON problems", () => {
    const reason = (t: string) => {
      try {
        decodePlainJson(t);
      } catch (e) {
        assert.ok(e instanceof PayloadError);
        return e.reason;
      }
      return "accepted";
    };
    assert.equal(reason("not json"), "payload_malformed_json");
    assert.equal(reason("[1]"), "json_not_object");
    assert.equal(reason('{"readings":{}}'), "json_invalid_field");
    assert.equal(reason('{"readings":[],"time":"yesterday"}'), "json_invalid_field");
    assert.deepEqual(
      decodePlainJson(
        '{"readings":[{"kind":"heart_rate","value":"72","unit":"/min"},{"kind":"x","value":1,"unit":"/min"}]}',
      ).rejected.map((r) => r.reason),
      ["json_invalid_field", "unknown_vital"],
    );
  });
});
