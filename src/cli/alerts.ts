import { loadConfig } from "../config.js";
import { openDatabase } from "../db.js";
import { GatewayError } from "../errors.js";
import { openAlerts, recentAlertEvents } from "../rules/sinks/alert-store.js";
import { EXIT_REFUSED } from "../users/cli-authorization.js";
import { CLI_REFUSAL_REASONS } from "../users/create-users.js";
import { sendAlertCommand, sendCliAlertAction } from "./alert-command.js";
import { parseSince, requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand, usageError } from "./options.js";

/**
 * `vitalog alerts --config FILE [--since 24h] [--limit N]`: active alerts and recent transitions (JSON).
 * `vitalog alerts ack|silence <alert-id> --by USER --config FILE [--as CONSUMER] [--minutes M]`: acts on the
 * running daemon, attributed to USER, who must be an enabled user of the gateway (`vitalog users`) whose role
 * may answer that alarm. Through the local control socket, recorded `via: "cli"`; with `--as CONSUMER`,
 * through the MQTT command topic as that consumer (its password file from the config), recorded `via` it.
 * `<alert-id>` may be a unique prefix of an active alert's id (6 characters or more); the daemon resolves
 * it and the reply carries the alert acted on (`alert`: id, rule, subject, reason, state …). Exits 77
 * (EX_NOPERM) when USER is refused (unknown, disabled, role not permitted), as `vitalog users` does; 1 on
 * another refusal.
 */
export async function alertsCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND_SPECS.alerts, argv);
  const config = loadConfig(requireFlag(values.config, "config"));
  const [action, alertId] = positionals;
  if (action === "ack" || action === "silence") {
    if (!alertId)
      throw usageError(COMMAND_SPECS.alerts, `${action} needs an alert id (or a unique prefix of one)`);
    const by = requireFlag(values.by, "by");
    const minutes = values.minutes === undefined ? undefined : Number(values.minutes);
    if (minutes !== undefined && !(minutes > 0)) throw new GatewayError("USAGE", "--minutes must be > 0");
    const body = { alert_id: alertId, by, ...(minutes ? { duration_sec: minutes * 60 } : {}) };
    const reply =
      values.as === undefined
        ? await sendCliAlertAction(config, action, body)
        : await sendAlertCommand(config, action, body, values.as);
    out.write(`${JSON.stringify(reply)}\n`);
    if (reply.ok) return 0;
    return typeof reply.error === "string" && CLI_REFUSAL_REASONS.has(reply.error) ? EXIT_REFUSED : 1;
  }
  if (action !== undefined && action !== "list")
    throw usageError(COMMAND_SPECS.alerts, `unknown action ${JSON.stringify(action)}`);
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new GatewayError("USAGE", "--limit must be a positive integer");
  const sinceMs = parseSince(values.since ?? "24h", Date.now());
  const db = openDatabase(config.storage.path!, [], { readonly: true });
  try {
    const result = { active: openAlerts(db), recent: recentAlertEvents(db, sinceMs, limit) };
    out.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    db.close();
  }
}
