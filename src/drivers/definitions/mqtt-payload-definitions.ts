/**
 * The built-in MQTT payload formats as definitions: SenML JSON [RFC 8428] on the topic `senml`, the documented
 * plain JSON form (mqtt/payload.ts) on `json`. Their decoders keep the `Decoder` contract of the SDK: a payload
 * refused whole throws `DecodeError` with the payload's reason; a record that cannot be read, or whose value
 * is outside the hard limits of src/reading.ts, is listed in `rejected` with the reason and detail ingest would
 * give it; the readings returned are inside the hard limits. Device-time checks stay with ingest.
 */
import { normaliseInput } from "../../reading.js";
import { type DecodedPayload, decodePayload, PayloadError } from "../mqtt/payload.js";
import { defineMqttDevice, type MqttDeviceDefinition, utf8Hex } from "../mqtt-definition.js";
import { DecodeError } from "../profiles/decode-error.js";
import type { DecodedReading, DecodeResult, FrameRefusal } from "../profiles/decode-result.js";
import type { Decoder } from "../sdk.js";

/** Wire strings of the built-in topics: add, never rename. */
export const BUILTIN_MQTT_TOPICS = { senml: "senml", json: "json" } as const;

function payloadDecoder(format: "senml" | "json"): Decoder {
  return (bytes, ctx) => {
    let decoded: DecodedPayload;
    try {
      decoded = decodePayload(format, bytes);
    } catch (e) {
      if (e instanceof PayloadError) throw new DecodeError(e.reason, e.message);
      throw e;
    }
    const readings: DecodedReading[] = [];
    const rejected: FrameRefusal[] = decoded.rejected;
    for (const input of decoded.inputs) {
      // the value checks of ingest (not the device time: ingest checks it against the time it stamps)
      const check = normaliseInput({ kind: input.kind, value: input.value, unit: input.unit }, ctx.nowMs);
      if (!check.ok) rejected.push({ reason: check.reason, detail: check.detail });
      else if (input.deviceTimeMs !== undefined && !Number.isFinite(input.deviceTimeMs))
        rejected.push({
          reason: "device_time_invalid",
          detail: `${input.kind} device time is not an instant`,
        });
      else readings.push(input);
    }
    const result: DecodeResult = { readings, absent: [], conditions: [], rejected, details: undefined };
    if (decoded.status) result.status = decoded.status;
    return result;
  };
}

export const senmlPayload: Readonly<MqttDeviceDefinition> = defineMqttDevice({
  vendor: "IETF",
  model: "SenML JSON",
  description: "RFC 8428 Sensor Measurement Lists, JSON representation",
  sdkVersion: "^1.2.0",
  match: { transport: "mqtt", topic: BUILTIN_MQTT_TOPICS.senml },
  mqtt: {
    decode: payloadDecoder("senml"),
    examples: [
      utf8Hex(
        '[{"bn":"urn:dev:mac:0024befffe804ff1:","n":"hr","u":"beat/min","v":72},{"n":"spo2","u":"/","v":0.97}]',
      ),
      utf8Hex('[{"n":"temp","u":"Cel","v":36.8},{"n":"bat","u":"%EL","v":80},{"n":"contact","vb":true}]'),
    ],
  },
});

export const plainJsonPayload: Readonly<MqttDeviceDefinition> = defineMqttDevice({
  vendor: "Vitalog",
  model: "plain JSON",
  description:
    'The plain JSON form: {"time"?, "readings": [{"kind","value","unit","time"?}], "battery_pct"?}',
  sdkVersion: "^1.2.0",
  match: { transport: "mqtt", topic: BUILTIN_MQTT_TOPICS.json },
  mqtt: {
    decode: payloadDecoder("json"),
    examples: [
      utf8Hex(
        '{"readings":[{"kind":"spo2","value":96,"unit":"%"},{"kind":"pulse_rate","value":64,"unit":"/min"}]}',
      ),
      utf8Hex('{"readings":[{"kind":"body_temperature","value":37.1,"unit":"Cel"}],"battery_pct":55}'),
    ],
  },
});

/** The MQTT definitions every gateway has. */
export const builtinMqttDefinitions: readonly Readonly<MqttDeviceDefinition>[] = [
  senmlPayload,
  plainJsonPayload,
];
