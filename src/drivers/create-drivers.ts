/**
 * The BLE and serial drivers as a part of the gateway (`createDrivers(deps)`, wired by the composition
 * root): loads the vendor definition packages named in the config, resolves every configured device's
 * definition, and returns one `Service` per enabled transport. Every configuration problem (unknown
 * definition reference, a package that does not load) is reported together as one CONFIG_INVALID error.
 */

import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import { configProblemsError } from "../config-sections.js";
import type { Service } from "../core/service.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { Admission } from "./admission.js";
import { BleDriver } from "./ble/ble-driver.js";
import type { BleDeviceSpec } from "./ble/ble-session.js";
import {
  findDefinition,
  knownDefinitions,
  type LoadedDefinition,
  loadDefinitionPackages,
} from "./definition-loader.js";
import type { DeviceRegistry } from "./device-registry.js";
import { driversSlice } from "./drivers-config.js";
import type { Ingest } from "./ingest.js";
import { IngestSink } from "./ingest-sink.js";
import type { DeviceDefinition, DriverContext } from "./sdk.js";
import { asciiBedsideDefinition } from "./serial/ascii-bedside.js";
import { SerialDriver, type SerialPortSpec } from "./serial/serial-driver.js";

type Problem = { path: string; message: string };

/** What `createDrivers` needs: its config slices, the device registry, ingest and admission. */
export interface DriversDeps {
  readonly config: Readonly<Pick<Config, "ble" | "serial" | "drivers">>;
  readonly registry: DeviceRegistry;
  readonly ingest: Ingest;
  readonly admission: Admission;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  /**
   * The vendor definitions of `drivers.packages`, loaded and validated with the config (`loadGatewayConfig`);
   * when absent they are loaded here.
   */
  readonly definitions?: readonly LoadedDefinition[] | undefined;
}

/** The BLE and serial services as the config asks (none when neither is configured). */
export async function createDrivers(gw: DriversDeps): Promise<{ services: Service[] }> {
  const config = gw.config;
  const services: Service[] = [];
  const drivers = driversSlice(config);
  if (!config.ble.enabled && config.serial.ports.length === 0 && drivers.packages.length === 0)
    return { services };
  const loaded =
    gw.definitions ??
    (await loadDefinitionPackages(drivers.packages, { packagesFrom: drivers.packagesFrom }));
  for (const l of loaded)
    gw.log.info(
      { package: l.origin, vendor: l.definition.vendor, model: l.definition.model },
      "definition loaded",
    );
  // vendor definitions first: at equal match specificity they win over the generic built-ins
  const all: DeviceDefinition[] = knownDefinitions(loaded);
  const problems: Problem[] = [];
  const ble = config.ble.enabled ? bleDriver(gw, config, all, problems) : null;
  const serial = config.serial.ports.length > 0 ? serialDriver(gw, config, all, problems) : null;
  // the references were checked with the config (definitionReferenceProblems): a caller that skipped it
  if (problems.length > 0) throw configProblemsError("driver config", problems);
  if (ble) {
    services.push({
      name: "ble",
      start: () => ble.driver.start(),
      stop: () => ble.driver.stop(),
      status: () => {
        const h = ble.driver.health();
        return {
          ...h,
          devices: h.devices.map((d) => ({ deviceId: ble.sink.deviceIdOf(d.address) ?? null, ...d })),
        };
      },
    });
  }
  if (serial) {
    services.push({
      name: "serial",
      start: () => serial.driver.start(),
      stop: () => serial.driver.stop(),
      status: () => ({
        ports: serial.driver
          .health()
          .map((p) => ({ deviceId: serial.sink.deviceIdOf(p.path) ?? null, ...p })),
      }),
    });
  }
  return { services };
}

function context(
  gw: DriversDeps,
  sink: IngestSink,
  transport: string,
  definitions: readonly DeviceDefinition[],
): DriverContext {
  return {
    clock: gw.clock,
    log: gw.log.child({ module: transport }),
    definitions,
    sink,
    isAuthorised: (deviceKey) => sink.isAuthorised(deviceKey),
  };
}

function bleDriver(
  gw: DriversDeps,
  config: DriversDeps["config"],
  all: readonly DeviceDefinition[],
  problems: Problem[],
) {
  const c = config.ble;
  const bleDefs = all.filter((d) => d.match.transport === "ble");
  const devices: BleDeviceSpec[] = c.devices.map((d, i) => {
    const definition = d.definition === undefined ? undefined : findDefinition(bleDefs, d.definition);
    if (d.definition !== undefined && !definition)
      problems.push({
        path: `ble.devices.${i}.definition`,
        message: `no single BLE definition named ${d.definition}`,
      });
    return { address: d.address, definition, pairedOnly: d.pairedOnly ?? c.pairedOnly };
  });
  const sink = new IngestSink({
    transport: "ble",
    deviceIds: new Map(c.devices.map((d) => [d.address, d.deviceId])),
    registry: gw.registry,
    ingest: gw.ingest,
    admission: gw.admission,
    log: gw.log.child({ module: "ble" }),
    metrics: gw.metrics,
  });
  const driver = new BleDriver(context(gw, sink, "ble", bleDefs), {
    adapter: c.adapter,
    devices,
    scanIntervalMs: c.scanIntervalMs,
    connectTimeoutMs: c.connectTimeoutMs,
    reconnect: c.reconnect,
  });
  return { driver, sink };
}

function serialDriver(
  gw: DriversDeps,
  config: DriversDeps["config"],
  all: readonly DeviceDefinition[],
  problems: Problem[],
) {
  const c = config.serial;
  const serialDefs = all.filter((d) => d.match.transport === "serial");
  const ports: SerialPortSpec[] = [];
  c.ports.forEach((p, i) => {
    const isAscii = p.definition.toLowerCase() === "ascii-bedside";
    if (p.fields && !isAscii)
      problems.push({
        path: `serial.ports.${i}.fields`,
        message: "a field mapping is for the ascii-bedside definition",
      });
    const definition = isAscii
      ? asciiBedsideDefinition(p.fields ?? {})
      : findDefinition(serialDefs, p.definition);
    if (!definition) {
      problems.push({
        path: `serial.ports.${i}.definition`,
        message: `no single serial definition named ${p.definition}`,
      });
      return;
    }
    ports.push({
      path: p.path,
      definition,
      baudRate: p.baudRate,
      ack: p.ack,
      frameTimeoutMs: p.frameTimeoutMs,
    });
  });
  const sink = new IngestSink({
    transport: "serial",
    deviceIds: new Map(c.ports.map((p) => [p.path, p.deviceId])),
    registry: gw.registry,
    ingest: gw.ingest,
    admission: gw.admission,
    log: gw.log.child({ module: "serial" }),
    metrics: gw.metrics,
  });
  const driver = new SerialDriver(context(gw, sink, "serial", serialDefs), { ports, reopen: c.reopen });
  return { driver, sink };
}
