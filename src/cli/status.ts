import { adminAccessOf } from "../admin-server.js";
import { loadConfig } from "../config.js";
import { GatewayError } from "../errors.js";
import { requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand } from "./options.js";

/**
 * `vitalog status --config FILE`: asks the running daemon's admin endpoint, with the admin token when
 * the config has one. A wildcard admin.host is reached on loopback.
 */
export async function statusCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseCommand(COMMAND_SPECS.status, argv);
  const configFile = requireFlag(values.config, "config");
  const config = loadConfig(configFile);
  if (config.admin.port === 0)
    throw new GatewayError("USAGE", "admin.port is 0 in the config: status is disabled");
  const bind = config.admin.host;
  const target = bind === "0.0.0.0" ? "127.0.0.1" : bind === "::" ? "::1" : bind;
  const host = target.includes(":") ? `[${target}]` : target;
  const { token } = adminAccessOf(config.admin);
  let res: Response;
  try {
    res = await fetch(`http://${host}:${config.admin.port}/status`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
  } catch (cause) {
    // fetch wraps the socket's error: ECONNREFUSED on loopback means nothing listens, i.e. no daemon runs
    const refused = ((cause as { cause?: { code?: string } }).cause?.code ?? "") === "ECONNREFUSED";
    throw new GatewayError(
      "GATEWAY_NOT_RUNNING",
      refused
        ? `no gateway is running: nothing answers on ${host}:${config.admin.port} (admin.port of ${configFile})`
        : `the gateway on ${host}:${config.admin.port} did not answer: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (res.status === 401 || res.status === 421) {
    throw new GatewayError(
      "CONFIG_INVALID",
      res.status === 401
        ? `the gateway on ${host}:${config.admin.port} refused the admin token: admin.tokenFile differs from the running daemon's`
        : `the gateway on ${host}:${config.admin.port} does not answer for host ${target}: add it to admin.allowedHosts`,
    );
  }
  out.write(await res.text());
  return 0;
}
