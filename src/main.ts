#!/usr/bin/env node
import { COMMAND_SPECS, EXIT_CODES_NOTE } from "./cli/command-specs.js";
import { failureOf } from "./cli/failure.js";
import { usageOf, wantsHelp } from "./cli/options.js";

type Command = (argv: string[], out: NodeJS.WriteStream) => Promise<number>;

/**
 * Every sub-command, loaded lazily so `vitalog verify` does not pay for the broker. One line per
 * command; each module exports its handler.
 */
const COMMANDS: Record<keyof typeof COMMAND_SPECS, () => Promise<Command>> = {
  run: async () => (await import("./cli/run.js")).runCommand,
  demo: async () => (await import("./cli/demo.js")).demoCommand,
  devices: async () => (await import("./cli/devices.js")).devicesCommand,
  users: async () => (await import("./cli/users.js")).usersCommand,
  readings: async () => (await import("./cli/readings.js")).readingsCommand,
  status: async () => (await import("./cli/status.js")).statusCommand,
  keys: async () => (await import("./cli/keys.js")).keysCommand,
  proof: async () => (await import("./cli/proof.js")).proofCommand,
  verify: async () => (await import("./cli/verify.js")).verifyCommand,
  audit: async () => (await import("./cli/audit.js")).auditCommand,
  subjects: async () => (await import("./cli/subjects.js")).subjectsCommand,
  alerts: async () => (await import("./cli/alerts.js")).alertsCommand,
  observe: async () => (await import("./cli/observe.js")).observeCommand,
  news2: async () => (await import("./cli/news2.js")).news2Command,
  tlog: async () => (await import("./cli/tlog.js")).tlogCommand,
  rules: async () => (await import("./cli/rules.js")).rulesCommand,
};

/** `vitalog --help`: every command with its one-line summary, from the same tables as each command's help. */
function usage(): string {
  const width = Math.max(...Object.keys(COMMAND_SPECS).map((n) => n.length)) + 2;
  const rows = Object.values(COMMAND_SPECS).map((s) => `  ${s.name.padEnd(width)}${s.summary}`);
  return [
    "usage: vitalog <command> [flags]   (vitalog <command> --help for its flags)",
    "",
    ...rows,
    "",
    EXIT_CODES_NOTE,
    "A failure is one line on stderr: vitalog: CODE: message. VITALOG_LOG_LEVEL=debug adds its stack trace.",
  ].join("\n");
}

/** Exit status when the reader of our output went away (`vitalog readings | head`), as a shell reports SIGPIPE. */
const EXIT_OUTPUT_CLOSED = 141;
/** Exit status when our output cannot be written for another reason (EX_IOERR). */
const EXIT_OUTPUT_FAILED = 74;

/** The entry point: dispatches a command and maps errors to exit codes. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    (command === undefined ? process.stderr : process.stdout).write(`${usage()}\n`);
    return command === undefined ? 64 : 0;
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    process.stderr.write(`vitalog: USAGE: unknown command ${JSON.stringify(command)} (see vitalog --help)\n`);
    return 64;
  }
  const name = command as keyof typeof COMMANDS;
  if (wantsHelp(COMMAND_SPECS[name], rest)) {
    process.stdout.write(usageOf(COMMAND_SPECS[name]));
    return 0;
  }
  try {
    return await (await COMMANDS[name]())(rest, process.stdout);
  } catch (err) {
    const failure = failureOf(err);
    process.stderr.write(`vitalog: ${failure.code}: ${failure.message}\n`);
    await debugLog(name, err);
    return failure.exitCode;
  }
}

/** The stack of a failure goes to the log at debug, never to the operator's screen by default. */
async function debugLog(command: string, err: unknown): Promise<void> {
  const level = process.env.VITALOG_LOG_LEVEL;
  if (level !== "debug" && level !== "trace") return;
  const { createLogger } = await import("./log.js");
  const log = createLogger(level, process.stderr);
  log.debug({ err, command }, "command failed");
  await new Promise<void>((resolve) => log.flush(() => resolve()));
}

/**
 * Resolves once everything written to `stream` so far has been written out: writes complete in order, so
 * an empty write's callback runs after every earlier one (a pipe whose reader is slow is waited for).
 */
function written(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableEnded) resolve();
    else stream.write("", () => resolve());
  });
}

// A closed pipe ends the command quietly, as SIGPIPE ends other programs; any other output failure is
// an I/O error. Either way the command's result can no longer be delivered.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    process.exit(err.code === "EPIPE" ? EXIT_OUTPUT_CLOSED : EXIT_OUTPUT_FAILED);
  });
}

main(process.argv.slice(2)).then(
  async (code) => {
    process.exitCode = code;
    await Promise.all([written(process.stdout), written(process.stderr)]);
    // all output is out; a handle a library left open must not keep a finished command alive
    setTimeout(() => process.exit(code), 200).unref();
  },
  () => process.exit(1),
);
