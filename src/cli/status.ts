import { loadConfig } from "../config.js";
import { GatewayError } from "../errors.js";
import { parseFlags, requireFlag } from "./args.js";

/** `vitalog status --config FILE`: asks the running daemon's loopback admin endpoint. */
export async function statusCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseFlags(argv, { config: { type: "string", short: "c" } });
  const config = loadConfig(requireFlag(values.config, "config"));
  if (config.admin.port === 0)
    throw new GatewayError("USAGE", "admin.port is 0 in the config: status is disabled");
  const host = config.admin.host.includes(":") ? `[${config.admin.host}]` : config.admin.host;
  let res: Response;
  try {
    res = await fetch(`http://${host}:${config.admin.port}/status`);
  } catch (cause) {
    throw new GatewayError("STORE_UNAVAILABLE", `gateway not reachable on ${host}:${config.admin.port}`, {
      cause,
    });
  }
  out.write(await res.text());
  return 0;
}
