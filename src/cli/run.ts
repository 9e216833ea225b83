import { Gateway } from "../app/gateway.js";
import { systemClock } from "../clock.js";
import { loadGatewayConfig } from "../config.js";
import { createLogger } from "../log.js";
import { SdNotify } from "../sd-notify.js";
import { requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand } from "./options.js";

/** `vitalog run --config FILE`: the daemon. Exits 0 after a graceful SIGTERM/SIGINT. */
export async function runCommand(argv: string[], _out?: NodeJS.WritableStream): Promise<number> {
  const { values } = parseCommand(COMMAND_SPECS.run, argv);
  // every problem of the file, vendor packages and definition references included, before anything opens
  const { config, definitions } = await loadGatewayConfig(requireFlag(values.config, "config"));
  const log = createLogger(config.log.level);
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(config, { log, clock: systemClock, definitions });
  } catch (err) {
    // the operator gets one line from main.ts; the stack is for whoever runs at log.level debug
    log.debug({ err }, "start failed");
    throw err;
  }
  const notify = new SdNotify(log);
  notify.ready();
  // a line on stdout that supervisors and tests can wait for
  log.info({ mqttPort: gateway.mqtt.port, adminPort: gateway.adminPort }, "ready");
  if (!config.anchor.enabled) {
    // an operator who expected ledger anchoring learns at once that the config does not ask for it
    log.info(
      { anchor: "off" },
      "anchoring off: checkpoints are signed but not anchored on a ledger (no anchor section, or anchor.enabled: false)",
    );
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "shutting down");
      notify.stopping();
      gateway
        .stop()
        .then(
          () => 0,
          (err) => {
            log.error({ err }, "shutdown failed");
            return 1;
          },
        )
        // the last log lines are written out before the process may exit (main.ts exits after its output)
        .then((code) => log.flush(() => resolve(code)));
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}
