#!/usr/bin/env node
import { GatewayError } from "./errors.js";

type Command = (argv: string[], out: NodeJS.WriteStream) => Promise<number>;

/**
 * Every sub-command, loaded lazily so `vitalog verify` does not pay for the broker. One line per
 * command; each module exports its handler.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import("./cli/run.js")).runCommand,
  demo: async () => (await import("./cli/demo.js")).demoCommand,
  devices: async () => (await import("./cli/devices.js")).devicesCommand,
  readings: async () => (await import("./cli/readings.js")).readingsCommand,
  status: async () => (await import("./cli/status.js")).statusCommand,
};

const USAGE = `usage: vitalog <command> [flags]

  run      --config FILE                          run the gateway daemon
  demo     [--devices N] [--rate HZ] [--seconds S] gateway + simulated wearables, live view, until Ctrl-C
  devices  add --config FILE --id ID --subject S [--model M]   provision; prints credentials once
  devices  list|remove --config FILE [--id ID]
  readings --config FILE [--device ID] [--subject S] [--since 15m] [--limit N] [--follow]
  status   --config FILE                          state of the running daemon

exit codes: 0 ok, 1 failure, 2 unusable input, 64 usage, 69 ledger/sink unavailable, 70 integrity,
74 storage, 78 config`;

/** The entry point: dispatches a command and maps errors to exit codes. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 64 : 0;
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!load) {
    process.stderr.write(`unknown command ${command}\n${USAGE}\n`);
    return 64;
  }
  try {
    return await (await load())(rest, process.stdout);
  } catch (err) {
    if (err instanceof GatewayError) {
      process.stderr.write(`vitalog: ${err.code}: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`vitalog: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // give pino and sockets a moment, but never hang on a stray handle
    setTimeout(() => process.exit(code), 200).unref();
  },
  () => process.exit(1),
);
