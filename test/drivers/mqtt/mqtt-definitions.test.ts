/**
 * MQTT payload formats as definitions (mqtt-definition.ts): the built-in SenML and plain JSON definitions pass
 * the definition conformance suite like every BLE and serial one, and a definition's topic is checked.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  builtinMqttDefinitions,
  plainJsonPayload,
  senmlPayload,
} from "../../../src/drivers/definitions/mqtt-payload-definitions.js";
import {
  anyDefinitionProblems,
  defineMqttDevice,
  duplicateTopics,
  mqttDefinitionProblems,
  utf8Hex,
} from "../../../src/drivers/mqtt-definition.js";
import { DecodeError, DefinitionError, hex } from "../../../src/drivers/sdk.js";
import { registerConformanceTests } from "../../../src/drivers/sdk-conformance.js";

const nowMs = Date.UTC(2025, 0, 1);
const decodeText = (def: typeof senmlPayload, text: string) => def.mqtt.decode(hex(utf8Hex(text)), { nowMs });

describe("built-in MQTT payload definitions", () => {
  it("decode SenML on the senml topic and the plain JSON form on the json topic", () => {
    assert.deepEqual(
      builtinMqttDefinitions.map((d) => d.match.topic),
      ["senml", "json"],
    );
    const senml = decodeText(senmlPayload, '[{"n":"hr","u":"beat/min","v":72},{"n":"bat","u":"%EL","v":80}]');
    assert.deepEqual(
      senml.readings.map((r) => [r.kind, r.value, r.unit]),
      [["heart_rate", 72, "/min"]],
    );
    assert.deepEqual(senml.status, { batteryPct: 80 });
    const json = decodeText(plainJsonPayload, '{"readings":[{"kind":"spo2","value":96,"unit":"%"}]}');
    assert.deepEqual(
      json.readings.map((r) => [r.kind, r.value]),
      [["spo2", 96]],
    );
  });

  it("refuse a whole payload with DecodeError and its payload reason", () => {
    assert.throws(
      () => decodeText(senmlPayload, '{"n":"hr"}'),
      (e) => e instanceof DecodeError && e.reason === "senml_not_array",
    );
    assert.throws(
      () => senmlPayload.mqtt.decode(Uint8Array.of(0xff, 0xfe), { nowMs }),
      (e) => e instanceof DecodeError && e.reason === "payload_invalid_utf8",
    );
  });

  it("list refused records in `rejected` (values outside the hard limits included) and keep the rest", () => {
    const r = decodeText(
      senmlPayload,
      '[{"n":"hr","u":"beat/min","v":400},{"n":"xyz","v":1},{"n":"spo2","u":"/","v":0.95}]',
    );
    assert.deepEqual(
      r.readings.map((x) => x.kind),
      ["spo2"],
    );
    assert.deepEqual(
      r.rejected?.map((x) => x.reason),
      ["unknown_vital", "above_physiologic_limit"],
    );
  });
});

describe("MQTT definition rules", () => {
  const valid = {
    vendor: "Acme",
    model: "Band",
    sdkVersion: "^1.2.0",
    match: { transport: "mqtt" as const, topic: "acme_band" },
    mqtt: { decode: senmlPayload.mqtt.decode, examples: senmlPayload.mqtt.examples },
  };

  it("accepts a valid definition and refuses the rejected topic, a bad topic and BLE parts", () => {
    assert.deepEqual(mqttDefinitionProblems(valid), []);
    assert.deepEqual(anyDefinitionProblems(valid), []);
    assert.match(
      mqttDefinitionProblems({ ...valid, match: { transport: "mqtt", topic: "rejected" } }).join(),
      /rejected/,
    );
    assert.match(
      mqttDefinitionProblems({ ...valid, match: { transport: "mqtt", topic: "a/b" } }).join(),
      /match.topic/,
    );
    assert.match(mqttDefinitionProblems({ ...valid, notify: [] }).join(), /notify is not for mqtt/);
    assert.match(
      mqttDefinitionProblems({ ...valid, mqtt: { decode: valid.mqtt.decode, examples: [] } }).join(),
      /examples/,
    );
    assert.throws(() => defineMqttDevice({ ...valid, sdkVersion: "^9.0.0" }), DefinitionError);
  });

  it("names every topic claimed twice", () => {
    const twin = defineMqttDevice({
      ...valid,
      model: "Band 2",
      match: { transport: "mqtt", topic: "senml" },
    });
    assert.deepEqual(
      [...duplicateTopics([twin, ...builtinMqttDefinitions])],
      [["senml", ["Acme/Band 2", "IETF/SenML JSON"]]],
    );
  });
});

registerConformanceTests(builtinMqttDefinitions, { nowMs });
