import { eraseSubject } from "../batcher/erasure.js";
import { openTlogForCli } from "../batcher/open-tlog.js";
import { loadConfig } from "../config.js";
import { GatewayError } from "../errors.js";
import { parseFlags, requireFlag } from "./args.js";

/**
 * `vitalog subjects erase <subject> --config FILE --yes`: crypto-shreds the subject (irreversible): its
 * key and openings are destroyed, its plaintext readings deleted, and a `subject_erased` event logged.
 * The tree is unchanged, so every other subject's proofs still verify.
 */
export async function subjectsCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    config: { type: "string", short: "c" },
    yes: { type: "boolean", default: false },
  });
  if (positionals[0] !== "erase" || positionals.length !== 2) {
    throw new GatewayError("USAGE", "usage: vitalog subjects erase <subject> --config FILE --yes");
  }
  if (!values.yes) throw new GatewayError("USAGE", "erasure is irreversible: add --yes to confirm");
  const config = loadConfig(requireFlag(values.config, "config"));
  const tlog = openTlogForCli(config);
  try {
    const r = eraseSubject(tlog, positionals[1]!, Date.now());
    out.write(
      `${JSON.stringify({ erased: true, keys: r.keyIds.length, records_shredded: r.records, readings_deleted: r.readingsDeleted, event_id: r.eventId })}\n`,
    );
    return 0;
  } finally {
    tlog.close();
  }
}
