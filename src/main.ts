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

const USAGE = `usage: vitalog <command> [flags]

  run      --config FILE                          run the gateway daemon
  demo     [--devices N] [--rate HZ] [--seconds S] gateway + simulated wearables, live view, until Ctrl-C
  devices  add --config FILE --id ID --subject S [--model M]   provision; prints credentials once
  devices  list|remove --config FILE [--id ID]
  users    add --config FILE --id ID --role ROLE [--name NAME]   a person who may act on alarms (logged)
  users    list|disable|enable --config FILE [--id ID]; users role --config FILE --id ID --role ROLE
  readings --config FILE [--device ID] [--subject S] [--since 15m] [--limit N] [--follow]
  status   --config FILE                          state of the running daemon
  keys     init|show|list|rotate --config FILE    signing + storage keys; init/show print the vkey
  proof    <reading-id> --config FILE [--at SIZE] [--out FILE]   self-contained proof bundle
  proof    --consistency OLD NEW --config FILE    consistency proof between two signed checkpoints
  verify   <bundle> --vkey VKEY [--json] [--chain-id N --contract 0x… --block-hash 0x…]
                                                  offline check: exit 0 valid, 1 invalid, 2 unusable
  audit    --config FILE [--vkey VKEY] [--json]   recompute the tree, check every checkpoint (70 on findings)
  subjects erase <subject> --config FILE --yes    crypto-shred a subject (irreversible)
  tlog     adopt-unlogged --config FILE --by USER --reason TEXT [--id DEVICE | --devices-only |
           --readings-only | --rejections-only] --yes
                                                  put rows the log does not hold in it, as they stand (logged)
  alerts   --config FILE [--since 24h] [--limit N]  active alerts and recent transitions
  alerts   ack|silence ID --config FILE --by USER [--minutes M]   acknowledge/silence as a known USER;
                                                  ID may be a unique prefix (6+ characters)
  observe  --config FILE --subject S --by USER [--air|--oxygen] [--acvpu A|C|V|P|U] [--spo2-scale 1|2]
  news2    --config FILE [--subject S] [--json]  current NEWS2 per subject, complete or not (running daemon)
  rules    show --config FILE [--subject ID] [--json]   threshold limits in force after merging
  rules    set|reset --config FILE --subject ID [--vital V] … --by USER --why TEXT   a patient's own limits (logged)

exit codes: 0 ok, 1 failure, 2 unusable input, 64 usage, 69 ledger/sink unavailable, 70 integrity,
74 storage or output, 75 try again later, 77 user refused (--by), 78 config, 141 output closed by its reader`;

/** Exit status when the reader of our output went away (`vitalog readings | head`), as a shell reports SIGPIPE. */
const EXIT_OUTPUT_CLOSED = 141;
/** Exit status when our output cannot be written for another reason (EX_IOERR). */
const EXIT_OUTPUT_FAILED = 74;

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
