/**
 * MQTT payload formats as device definitions: the vendor-facing part of the driver SDK for devices that publish
 * to the gateway's embedded broker. A format is DATA like a BLE or serial device: a topic suffix and a pure
 * `decode(bytes) → readings`, with example payloads the conformance suite decodes. SenML (RFC 8428) and the
 * plain JSON form are the built-in ones (definitions/mqtt-payload-definitions.ts); a vendor package adds its own
 * JSON or binary format by exporting an `MqttDeviceDefinition` among its `definitions`.
 *
 * How a payload's definition is chosen: by the topic it is published to. A device publishes to
 * `<mqtt.topicPrefix>/<device id>/<topic>`; the definition whose `match.topic` is that last level decodes it.
 * `topic` is unique among the gateway's MQTT definitions (a duplicate is a configuration problem), and never
 * `rejected` (where the device reads its refusals). Who may publish is decided by authentication (the device's
 * id and password, or its certificate), not by the definition.
 *
 * Versioning: the same `sdkVersion` rule as ./sdk.ts (a caret range or exact version including `SDK_VERSION`).
 */
import { hex } from "./profiles/hex.js";
import {
  type Decoder,
  DefinitionError,
  type DeviceDefinition,
  definitionProblems,
  isSdkCompatible,
  SDK_VERSION,
  sdkRangePolicyProblem,
} from "./sdk.js";

/** MQTT match rule: the last level of the topic the device publishes to. */
export interface MqttMatch {
  transport: "mqtt";
  /** 1–32 characters of `a-z 0-9 _ -`, e.g. "senml", "json", "acme_band". Wire string: never renamed. */
  topic: string;
}

/** How to read one payload. */
export interface MqttPayloadFormat {
  /**
   * Decodes one PUBLISH payload (the bytes as received, at most `mqtt.maxPayloadBytes`). The `Decoder` contract
   * of ./sdk.ts: pure, throws only `DecodeError` for a payload it refuses as a whole; parts of the payload it
   * refuses (a record of a pack) go to `rejected` of its result with their reason.
   */
  decode: Decoder;
  /** At least one payload (hex; `utf8Hex(text)` for a text format) that decodes to one or more readings. */
  examples: readonly string[];
}

/** A vendor payload format over MQTT, as data. Build it with `defineMqttDevice()`. */
export interface MqttDeviceDefinition {
  vendor: string;
  model: string;
  description?: string | undefined;
  /** The SDK range the definition was written against, e.g. "^1.2.0". */
  sdkVersion: string;
  match: MqttMatch;
  mqtt: MqttPayloadFormat;
}

/** Any definition a gateway loads: a BLE or serial device, or an MQTT payload format. */
export type AnyDeviceDefinition = DeviceDefinition | MqttDeviceDefinition;

/** The topic level where a device reads its refusals: never a definition's topic. */
export const REJECTED_TOPIC = "rejected";

const TOPIC = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.trim().length > 0;

/** The octets of `text` in UTF-8, as hex: how a text payload is written among `examples`. */
export function utf8Hex(text: string): string {
  return Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether a definition is an MQTT payload format. */
export function isMqttDefinition(def: AnyDeviceDefinition): def is MqttDeviceDefinition {
  return def.match.transport === "mqtt";
}

/** Every problem with an MQTT definition (empty when valid). Never throws. */
export function mqttDefinitionProblems(def: unknown): string[] {
  if (typeof def !== "object" || def === null) return ["definition must be an object"];
  const d = def as Partial<MqttDeviceDefinition> & Record<string, unknown>;
  const p: string[] = [];
  if (!nonEmpty(d.vendor)) p.push("vendor must be a non-empty string");
  if (!nonEmpty(d.model)) p.push("model must be a non-empty string");
  const policyProblem = sdkRangePolicyProblem(d.sdkVersion);
  if (policyProblem !== undefined) {
    p.push(policyProblem);
  } else if (!isSdkCompatible(d.sdkVersion!)) {
    p.push(`sdkVersion ${d.sdkVersion} does not include this SDK (${SDK_VERSION})`);
  }
  const topic = d.match?.topic;
  if (typeof topic !== "string" || !TOPIC.test(topic))
    p.push("match.topic must be 1–32 characters of a-z 0-9 _ - (the last level of the device's topic)");
  else if (topic === REJECTED_TOPIC) p.push(`match.topic must not be "${REJECTED_TOPIC}"`);
  const m = d.mqtt;
  if (typeof m !== "object" || m === null) p.push("mqtt must describe decode and examples");
  else {
    if (typeof m.decode !== "function") p.push("mqtt.decode must be a function");
    if (!Array.isArray(m.examples) || m.examples.length === 0)
      p.push("mqtt.examples must list at least one payload");
    else
      m.examples.forEach((e, i) => {
        try {
          if (typeof e !== "string" || hex(e).length === 0) throw new TypeError();
        } catch {
          p.push(`mqtt.examples[${i}] must be non-empty hex`);
        }
      });
  }
  for (const key of ["notify", "recordAccess", "serial"])
    if (d[key] !== undefined) p.push(`${key} is not for mqtt definitions`);
  return p;
}

/** Every problem with a definition of any transport (empty when valid). Never throws. */
export function anyDefinitionProblems(def: unknown): string[] {
  const transport = (def as { match?: { transport?: unknown } } | null)?.match?.transport;
  return transport === "mqtt" ? mqttDefinitionProblems(def) : definitionProblems(def);
}

/**
 * Topics claimed by more than one definition, each with the definitions claiming it ("vendor/model"); a
 * gateway refuses such a set (the topic would not say which decoder to use).
 */
export function duplicateTopics(defs: readonly MqttDeviceDefinition[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const d of defs) by.set(d.match.topic, [...(by.get(d.match.topic) ?? []), `${d.vendor}/${d.model}`]);
  return new Map([...by].filter(([, names]) => names.length > 1));
}

/** Validates an MQTT definition and returns it frozen. Throws `DefinitionError` listing every problem. */
export function defineMqttDevice<T extends MqttDeviceDefinition>(def: T): Readonly<T> {
  const problems = mqttDefinitionProblems(def);
  if (problems.length > 0) {
    const label = `${String((def as Partial<T>)?.vendor ?? "?")} ${String((def as Partial<T>)?.model ?? "?")}`;
    throw new DefinitionError(label, problems);
  }
  return Object.freeze({
    ...def,
    match: Object.freeze({ ...def.match }),
    mqtt: Object.freeze({ ...def.mqtt, examples: Object.freeze([...def.mqtt.examples]) }),
  });
}
