import { loadConfig } from "../config.js";
import { GatewayError } from "../errors.js";
import { EXIT_REFUSED } from "../users/cli-authorization.js";
import { CLI_REFUSAL_REASONS } from "../users/create-users.js";
import { sendAlertCommand } from "./alert-command.js";
import { requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand } from "./options.js";

/**
 * `vitalog observe --config FILE --subject S --by USER [--air|--oxygen] [--acvpu A|C|V|P|U]
 *  [--spo2-scale 1|2] [--observed-at ISO] [--as CONSUMER]`: a clinician's NEWS2 entry, recorded with who
 * entered it; prints the subject's NEWS2 assessment after the entry. Exits 77 (EX_NOPERM) when USER is refused
 * (unknown, disabled, role not permitted), as `vitalog users` does; 1 on another refusal.
 */
export async function observeCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseCommand(COMMAND_SPECS.observe, argv);
  const config = loadConfig(requireFlag(values.config, "config"));
  if (values.air && values.oxygen) throw new GatewayError("USAGE", "--air and --oxygen are exclusive");
  const scale = values["spo2-scale"];
  if (scale !== undefined && scale !== "1" && scale !== "2")
    throw new GatewayError("USAGE", "--spo2-scale 1|2");
  const acvpu = values.acvpu?.toUpperCase();
  if (acvpu !== undefined && !/^[ACVPU]$/.test(acvpu)) throw new GatewayError("USAGE", "--acvpu A|C|V|P|U");
  let observedAtMs: number | undefined;
  if (values["observed-at"] !== undefined) {
    observedAtMs = Date.parse(values["observed-at"]);
    if (Number.isNaN(observedAtMs)) throw new GatewayError("USAGE", "--observed-at: an ISO-8601 time");
  }
  const body: Record<string, unknown> = {
    subject_id: requireFlag(values.subject, "subject"),
    by: requireFlag(values.by, "by"),
    ...(values.air ? { supplemental_oxygen: false } : {}),
    ...(values.oxygen ? { supplemental_oxygen: true } : {}),
    ...(acvpu ? { acvpu } : {}),
    ...(scale ? { spo2_scale: Number(scale) } : {}),
    ...(observedAtMs !== undefined ? { observed_at_ms: observedAtMs } : {}),
  };
  if (Object.keys(body).length === 2)
    throw new GatewayError("USAGE", "nothing observed: --air|--oxygen, --acvpu or --spo2-scale");
  const reply = await sendAlertCommand(config, "observe", body, values.as);
  out.write(`${JSON.stringify(reply, null, 2)}\n`);
  if (reply.ok) return 0;
  return typeof reply.error === "string" && CLI_REFUSAL_REASONS.has(reply.error) ? EXIT_REFUSED : 1;
}
