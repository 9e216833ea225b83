import { Gateway } from "../app/gateway.js";
import { systemClock } from "../clock.js";
import { loadGatewayConfig } from "../config.js";
import { createLogger } from "../log.js";
import { SdNotify } from "../sd-notify.js";
import { parseFlags, requireFlag } from "./args.js";

/** `vitalog run --config FILE`: the daemon. Exits 0 after a graceful SIGTERM/SIGINT. */
export async function runCommand(argv: string[], _out?: NodeJS.WritableStream): Promise<number> {
  const { values } = parseFlags(argv, { config: { type: "string", short: "c" } });
  // every problem of the file, vendor packages and definition references included, before anything opens
  const { config, definitions } = await loadGatewayConfig(requireFlag(values.config, "config"));
  const log = createLogger(config.log.level);
  const gateway = await Gateway.start(config, { log, clock: systemClock, definitions });
  const notify = new SdNotify(log);
  notify.ready();
  // a line on stdout that supervisors and tests can wait for
  log.info({ mqttPort: gateway.mqtt.port, adminPort: gateway.adminPort }, "ready");
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
