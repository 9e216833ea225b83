/**
 * The MQTT driver as the composition root builds it: the embedded broker (mqtt-transport.ts) with the built-in
 * payload formats (SenML, plain JSON) and the vendor MQTT definitions loaded with the config, delivering through
 * the same `IngestSink` as the BLE and serial drivers. The device's own id is its key (authenticated by the
 * broker); per-device admission stays in the driver, which can hold a device's socket instead of dropping its
 * frames, so the sink admits nothing itself. Refusals are told to the device on its `rejected` topic.
 */
import type { Clock } from "../../clock.js";
import type { Config } from "../../config.js";
import type { Logger } from "../../log.js";
import type { Metrics } from "../../metrics.js";
import type { Admission } from "../admission.js";
import type { LoadedDefinition } from "../definition-loader.js";
import { builtinMqttDefinitions } from "../definitions/mqtt-payload-definitions.js";
import type { DeviceRegistry } from "../device-registry.js";
import type { Ingest } from "../ingest.js";
import { IngestSink } from "../ingest-sink.js";
import { isMqttDefinition, type MqttDeviceDefinition } from "../mqtt-definition.js";
import { MqttTransport } from "./mqtt-transport.js";

/** What the MQTT driver needs: its config slice, the registry, ingest, admission and the vendor definitions. */
export interface MqttDriverDeps {
  readonly config: Config["mqtt"];
  /** Commit-queue bound and memory bound beyond which the heaviest senders are no longer read. */
  readonly limits: { readonly maxPendingReadings: number; readonly maxRssBytes: number };
  readonly registry: DeviceRegistry;
  readonly ingest: Ingest;
  readonly admission: Admission;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The vendor definitions of `drivers.packages` (those of other transports are ignored here). */
  readonly definitions?: readonly LoadedDefinition[] | undefined;
}

/** The MQTT definitions a gateway uses: the vendors' first, then the built-ins. */
export function mqttDefinitionsOf(loaded: readonly LoadedDefinition[] | undefined): MqttDeviceDefinition[] {
  const vendor = (loaded ?? []).map((l) => l.definition).filter(isMqttDefinition);
  return [...vendor, ...builtinMqttDefinitions];
}

export function createMqttDriver(deps: MqttDriverDeps): MqttTransport {
  const log = deps.log.child({ module: "mqtt" });
  let driver: MqttTransport | undefined;
  const sink = new IngestSink({
    transport: "mqtt",
    deviceIds: { get: (deviceId) => deviceId },
    isAuthenticatedKey: true,
    onRefused: (deviceId, refusals) => driver?.tellRefused(deviceId, refusals),
    sourceInHand: (deviceId) => driver?.sourceInHand(deviceId),
    registry: deps.registry,
    ingest: deps.ingest,
    log,
    metrics: deps.metrics,
  });
  driver = new MqttTransport({
    config: deps.config,
    registry: deps.registry,
    sink,
    backlog: deps.ingest,
    definitions: mqttDefinitionsOf(deps.definitions),
    admission: deps.admission,
    clock: deps.clock,
    maxPendingReadings: deps.limits.maxPendingReadings,
    maxRssBytes: deps.limits.maxRssBytes,
    log,
    metrics: deps.metrics,
  });
  return driver;
}
