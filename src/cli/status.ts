import { adminAccessOf } from "../admin-server.js";
import { loadConfig } from "../config.js";
import { GatewayError } from "../errors.js";
import { parseFlags, requireFlag } from "./args.js";

/**
 * `vitalog status --config FILE`: asks the running daemon's admin endpoint, with the admin token when
 * the config has one. A wildcard admin.host is reached on loopback.
 */
export async function statusCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseFlags(argv, { config: { type: "string", short: "c" } });
  const config = loadConfig(requireFlag(values.config, "config"));
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
    throw new GatewayError("STORE_UNAVAILABLE", `gateway not reachable on ${host}:${config.admin.port}`, {
      cause,
    });
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
