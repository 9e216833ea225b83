#!/usr/bin/env node
import { devicesCommand } from "./cli/devices.js";
import { readingsCommand } from "./cli/readings.js";
import { runCommand } from "./cli/run.js";
import { statusCommand } from "./cli/status.js";
import { GatewayError } from "./errors.js";

const USAGE = `usage: vitalog <command> [flags]

  run      --config FILE                          run the gateway daemon
  demo     [--devices N] [--rate HZ] [--seconds S] gateway + simulated wearables, live view, until Ctrl-C
  devices  add --config FILE --id ID --subject S [--model M]   provision; prints credentials once
  devices  list|remove --config FILE [--id ID]
  readings --config FILE [--device ID] [--subject S] [--since 15m] [--limit N] [--follow]
  status   --config FILE                          state of the running daemon

exit codes: 0 ok, 1 failure, 64 usage, 69 ledger/sink unavailable, 70 integrity, 74 storage, 78 config`;

/** The composition root's entry: dispatches a command and maps errors to exit codes. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "run":
        return await runCommand(rest);
      case "demo": {
        const { demoCommand } = await import("./cli/demo.js");
        return await demoCommand(rest, process.stdout);
      }
      case "devices":
        return await devicesCommand(rest, process.stdout);
      case "readings":
        return await readingsCommand(rest, process.stdout);
      case "status":
        return await statusCommand(rest, process.stdout);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 64 : 0;
      default:
        process.stderr.write(`unknown command ${command}\n${USAGE}\n`);
        return 64;
    }
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
