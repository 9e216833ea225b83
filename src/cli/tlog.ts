import { adoptUnloggedDevices } from "../batcher/adopt-devices.js";
import { adoptUnlogged, unloggedReadingCount } from "../batcher/adopt-unlogged.js";
import { signNextCheckpoint } from "../batcher/checkpoint-store.js";
import { openTlogForCli } from "../batcher/open-tlog.js";
import { loadConfig } from "../config.js";
import { GatewayError } from "../errors.js";
import { parseFlags, requireFlag } from "./args.js";

const USAGE = "usage: vitalog tlog adopt-unlogged --config FILE --by USER --reason TEXT --yes";

/**
 * `vitalog tlog adopt-unlogged --config FILE --by USER --reason TEXT --yes`: appends every reading stored
 * without a log leaf (stored while `tlog.enabled` was false, or inserted behind the gateway's back) to the
 * log, with a `readings_adopted` event naming the leaves, USER and TEXT, and signs a checkpoint
 * (adopt-unlogged.ts); and logs, as `device_bound` with `via: "adopted"`, every `devices` row that has no
 * logged binding (adopt-devices.ts). Irreversible: whatever those rows hold becomes part of the signed history, so look
 * at what `vitalog audit` names first. The gateway itself never does this.
 */
export async function tlogCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    config: { type: "string", short: "c" },
    by: { type: "string" },
    reason: { type: "string" },
    yes: { type: "boolean", default: false },
  });
  if (positionals[0] !== "adopt-unlogged" || positionals.length !== 1) throw new GatewayError("USAGE", USAGE);
  const config = loadConfig(requireFlag(values.config, "config"));
  if (!config.tlog.enabled)
    throw new GatewayError("USAGE", "the log is disabled in this config (tlog.enabled: false)");
  const by = requireFlag(values.by, "by");
  const reason = requireFlag(values.reason, "reason");
  const tlog = openTlogForCli(config);
  try {
    if (!values.yes) {
      const count = unloggedReadingCount(tlog.db);
      throw new GatewayError(
        "USAGE",
        `${count} reading(s) without a log leaf (and any device without a logged binding); adopting puts them in the signed log for good ` +
          "(check what `vitalog audit` names first), add --yes to adopt them",
      );
    }
    const nowMs = Date.now();
    const devices = adoptUnloggedDevices(tlog, { by, reason, nowMs });
    const r = adoptUnlogged(tlog, { by, reason, nowMs });
    // adopted bindings alone still need a checkpoint over them (the readings' adoption signs one itself)
    const checkpoint =
      devices.length > 0 && r.checkpointSize === null
        ? signNextCheckpoint({
            db: tlog.db,
            tiles: tlog.records.tiles,
            store: tlog.checkpoints,
            origin: tlog.origin,
            signers: [tlog.signer],
            nowMs,
          })
        : undefined;
    out.write(
      `${JSON.stringify({
        devices_adopted: devices,
        adopted: r.count,
        first_leaf: r.firstLeaf,
        last_leaf: r.lastLeaf,
        event_id: r.eventId,
        checkpoint_size: r.checkpointSize ?? checkpoint?.size ?? null,
      })}\n`,
    );
    return 0;
  } finally {
    tlog.close();
  }
}
