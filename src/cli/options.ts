/**
 * One option table per command: the parser (`node:util` parseArgs, strict) and the `--help` text are both
 * made from it, so the usage cannot name a flag the parser refuses or leave out one it accepts. The tables
 * themselves are in command-specs.ts (pure data, so `vitalog --help` loads no command module).
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { GatewayError } from "../errors.js";

/** One flag of a command. `arg` names its value in the usage (`--config FILE`); booleans have none. */
export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  readonly multiple?: boolean;
  readonly default?: string | boolean;
  readonly arg?: string;
  /** One line: what the flag does (and its default, when it has one). */
  readonly help: string;
}

/**
 * A command's whole interface. MUST be the only description of the command's flags: the command parses
 * with `parseCommand(spec, argv)` and nothing else, and `vitalog <command> --help` prints `usageOf(spec)`.
 */
export interface CommandSpec {
  readonly name: string;
  /** One line for `vitalog --help`. */
  readonly summary: string;
  /** One line per form of the command, without the leading `vitalog <name>`. */
  readonly synopsis: readonly string[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Further lines after the option list (exit codes, formats). */
  readonly notes?: readonly string[];
  /** How many words besides flags the command takes at most (a stray word is a usage error); default any. */
  readonly maxPositionals?: number;
}

/** The flag every command takes: prints the usage and exits 0. */
const HELP: OptionSpec = { type: "boolean", short: "h", help: "print this help and exit" };

/** parseArgs' own view of a table: only the keys it knows. */
function parserOptions(
  options: Readonly<Record<string, OptionSpec>>,
): NonNullable<ParseArgsConfig["options"]> {
  const out: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, o] of Object.entries(options)) {
    out[name] = {
      type: o.type,
      ...(o.short === undefined ? {} : { short: o.short }),
      ...(o.multiple === undefined ? {} : { multiple: o.multiple }),
      ...(o.default === undefined ? {} : { default: o.default }),
    } as NonNullable<ParseArgsConfig["options"]>[string];
  }
  return out;
}

/** The value parseArgs yields for one flag (string/boolean, an array for `multiple`). */
type ValueOf<O extends OptionSpec> = O["type"] extends "boolean"
  ? O["multiple"] extends true
    ? boolean[]
    : boolean
  : O["multiple"] extends true
    ? string[]
    : string;

/** The values parseArgs yields for a table: a flag with a default is always present. */
type ValuesOf<T extends Readonly<Record<string, OptionSpec>>> = {
  [K in keyof T as T[K] extends { default: unknown } ? K : never]: ValueOf<T[K]>;
} & {
  [K in keyof T as T[K] extends { default: unknown } ? never : K]?: ValueOf<T[K]>;
};

/** Parses `argv` by the command's table; an unknown or malformed flag is a usage error (exit 64). */
export function parseCommand<S extends CommandSpec>(
  spec: S,
  argv: string[],
): { values: ValuesOf<S["options"]>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: parserOptions(spec.options),
      allowPositionals: true,
      strict: true,
    });
    if (spec.maxPositionals !== undefined && positionals.length > spec.maxPositionals) {
      throw usageError(spec, `unexpected ${JSON.stringify(positionals[spec.maxPositionals])}`);
    }
    return { values: values as ValuesOf<S["options"]>, positionals };
  } catch (cause) {
    if (cause instanceof GatewayError) throw cause;
    // parseArgs explains some errors over several lines: the operator gets one
    const message = (cause as Error).message.replace(/\s*\n\s*/g, " ");
    throw new GatewayError("USAGE", `${message} (see vitalog ${spec.name} --help)`, { cause });
  }
}

/** True when `argv` asks for help (`--help`/`-h` as a flag, not as another flag's value or after `--`). */
export function wantsHelp(spec: CommandSpec, argv: string[]): boolean {
  const { tokens } = parseArgs({
    args: argv,
    options: { ...parserOptions(spec.options), help: { type: "boolean", short: "h" } },
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  return tokens.some((t) => t.kind === "option" && t.name === "help");
}

/** `vitalog <name> --help`: the synopsis, then one line per flag of the table, then the notes. */
export function usageOf(spec: CommandSpec): string {
  const lines = [`${spec.summary}`, "", "usage:"];
  for (const form of spec.synopsis) lines.push(`  vitalog ${spec.name}${form ? ` ${form}` : ""}`);
  lines.push("", "options:");
  const rows = Object.entries({ ...spec.options, help: HELP }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.arg ? ` ${o.arg}` : ""}`;
    return [flag, o.help + (o.multiple ? " (repeatable)" : "")] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  for (const [flag, help] of rows) lines.push(`  ${flag.padEnd(width)}${help}`);
  if (spec.notes?.length) lines.push("", ...spec.notes);
  return `${lines.join("\n")}\n`;
}

/** A usage error naming the command's forms, on one line (exit 64). */
export function usageError(spec: CommandSpec, problem?: string): GatewayError {
  const forms = spec.synopsis.map((f) => `vitalog ${spec.name} ${f}`.trimEnd()).join(" | ");
  return new GatewayError("USAGE", `${problem ? `${problem}; ` : ""}usage: ${forms} (see --help)`);
}

/** The README's command reference: every form of every command, one per line (checked current by a test). */
export function commandReference(specs: readonly CommandSpec[]): string {
  const width = Math.max(...specs.map((s) => s.name.length));
  return specs
    .flatMap((s) => s.synopsis.map((form) => `vitalog ${s.name.padEnd(width)} ${form}`.trimEnd()))
    .join("\n");
}
