/**
 * Loads vendor definition packages by npm package name, once, at start-up (the operator lists them in the
 * `drivers.packages` config key). Every package must export `definitions` (an array of `DeviceDefinition`s
 * built with `defineDevice`, or MQTT payload formats built with `defineMqttDevice`, against a compatible SDK). Problems in all packages are collected and reported
 * together as one CONFIG_INVALID error (exit 78): a gateway never starts with half its devices.
 */
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type ConfigProblem, configProblemsError, type Readable } from "../config-sections.js";
import type { BleConfig } from "./ble/ble-config.js";
import { builtinMqttDefinitions } from "./definitions/mqtt-payload-definitions.js";
import { definitions as sigDefinitions } from "./definitions/sig-standard-devices.js";
import {
  type AnyDeviceDefinition,
  anyDefinitionProblems,
  duplicateTopics,
  isMqttDefinition,
} from "./mqtt-definition.js";
import { DefinitionError, type DeviceDefinition, SDK_VERSION } from "./sdk.js";
import { asciiBedsideDefinition } from "./serial/ascii-bedside.js";
import { binaryBedside } from "./serial/binary-bedside.js";
import type { SerialConfig } from "./serial/serial-config.js";

/** A definition together with where it came from (for logs and `vitalog status`). */
export interface LoadedDefinition {
  definition: AnyDeviceDefinition;
  /** npm package name, or "builtin". */
  origin: string;
}

export interface LoadOptions {
  /** Directory whose node_modules holds the packages; default: resolved like Vitalog's own imports. */
  packagesFrom?: string | undefined;
}

/** Resolves and imports each package; returns every definition or throws CONFIG_INVALID listing all problems. */
export async function loadDefinitionPackages(
  packages: readonly string[],
  options: LoadOptions = {},
): Promise<LoadedDefinition[]> {
  const { loaded, problems } = await collectDefinitionPackages(packages, options);
  if (problems.length > 0) throw configProblemsError(`definition packages (SDK ${SDK_VERSION})`, problems);
  return loaded;
}

/**
 * Resolves and imports each package: the definitions that are valid, and a problem (at `drivers.packages.N`)
 * for each package that does not load and each definition that is not valid. Never throws for a package.
 */
export async function collectDefinitionPackages(
  packages: readonly string[],
  options: LoadOptions = {},
): Promise<{ loaded: LoadedDefinition[]; problems: ConfigProblem[] }> {
  const problems: ConfigProblem[] = [];
  const loaded: LoadedDefinition[] = [];
  for (const [i, name] of packages.entries()) {
    const where = `drivers.packages.${i}`;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(resolveSpecifier(name, options))) as Record<string, unknown>;
    } catch (err) {
      const e = err as Error & { code?: string; problems?: readonly string[] };
      const message =
        e instanceof DefinitionError
          ? `${name}: ${e.problems.join("; ")}`
          : e.code === "MODULE_NOT_FOUND" || e.code === "ERR_MODULE_NOT_FOUND"
            ? `package ${name} is not installed (npm install it next to vitalog)`
            : `package ${name} failed to load: ${e.message}`;
      problems.push({ path: where, message });
      continue;
    }
    const defs = mod.definitions;
    if (!Array.isArray(defs) || defs.length === 0) {
      problems.push({
        path: where,
        message: `package ${name} does not export a non-empty \`definitions\` array`,
      });
      continue;
    }
    defs.forEach((d: unknown, k) => {
      const p = anyDefinitionProblems(d);
      if (p.length > 0) problems.push({ path: where, message: `${name} definitions[${k}]: ${p.join("; ")}` });
      else loaded.push({ definition: d as AnyDeviceDefinition, origin: name });
    });
  }
  // an MQTT topic names one payload format: a second claim on it (a built-in's included) is refused
  const mqtt = [...loaded.map((l) => l.definition).filter(isMqttDefinition), ...builtinMqttDefinitions];
  for (const [topic, names] of duplicateTopics(mqtt))
    problems.push({
      path: "drivers.packages",
      message: `MQTT topic "${topic}" is claimed by more than one definition: ${names.join(", ")}`,
    });
  return { loaded, problems };
}

/** Every definition a gateway knows: the vendors' first (at equal match specificity they win), then the built-ins. */
export function knownDefinitions(loaded: readonly LoadedDefinition[]): DeviceDefinition[] {
  const vendor = loaded.map((l) => l.definition).filter((d): d is DeviceDefinition => !isMqttDefinition(d));
  return [...vendor, ...sigDefinitions, binaryBedside];
}

/**
 * Every `ble.devices[].definition` and `serial.ports[].definition` that names no single definition of its
 * transport among `definitions` (see {@link findDefinition}), and every serial field mapping given to another
 * definition than ascii-bedside. The same rules the drivers apply when they are built.
 */
export function definitionReferenceProblems(
  { ble, serial }: { ble?: Readable<BleConfig> | undefined; serial?: Readable<SerialConfig> | undefined },
  definitions: readonly DeviceDefinition[],
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const of = (transport: string) => definitions.filter((d) => d.match.transport === transport);
  if (ble?.enabled) {
    const bleDefs = of("ble");
    ble.devices?.forEach((d, i) => {
      if (d?.definition !== undefined && !findDefinition(bleDefs, d.definition))
        problems.push({
          path: `ble.devices.${i}.definition`,
          message: `no single BLE definition named ${d.definition}`,
        });
    });
  }
  const serialDefs = of("serial");
  serial?.ports?.forEach((p, i) => {
    if (p?.definition === undefined) return;
    const isAscii = p.definition.toLowerCase() === "ascii-bedside";
    if (p.fields && !isAscii)
      problems.push({
        path: `serial.ports.${i}.fields`,
        message: "a field mapping is for the ascii-bedside definition",
      });
    const definition = isAscii
      ? asciiBedsideDefinition(p.fields ?? {})
      : findDefinition(serialDefs, p.definition);
    if (!definition)
      problems.push({
        path: `serial.ports.${i}.definition`,
        message: `no single serial definition named ${p.definition}`,
      });
  });
  return problems;
}

function resolveSpecifier(name: string, o: LoadOptions): string {
  if (o.packagesFrom === undefined) return name;
  const dir = resolve(o.packagesFrom);
  // require.resolve honours the package's "exports" ("default"/unconditional entries) and walks node_modules
  const file = createRequire(join(dir, "package.json")).resolve(name);
  return pathToFileURL(file).href;
}

/** "vendor/model" or "model" (case-insensitive) → the one matching definition; undefined when none or ambiguous. */
export function findDefinition<T extends { readonly vendor: string; readonly model: string }>(
  definitions: readonly T[],
  ref: string,
): T | undefined {
  const r = ref.toLowerCase();
  const exact = definitions.filter((d) => `${d.vendor}/${d.model}`.toLowerCase() === r);
  if (exact.length === 1) return exact[0];
  const byModel = definitions.filter((d) => d.model.toLowerCase() === r);
  return byModel.length === 1 ? byModel[0] : undefined;
}
