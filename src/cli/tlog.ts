import { adoptUnloggedDevices } from "../batcher/tlog/adopt-devices.js";
import { adoptUnsealedRejections } from "../batcher/tlog/adopt-rejections.js";
import { adoptUnlogged, unloggedReadingCount } from "../batcher/tlog/adopt-unlogged.js";
import { signNextCheckpoint } from "../batcher/tlog/checkpoint-store.js";
import { openTlogForCli } from "../batcher/tlog/open-tlog.js";
import { loadConfig } from "../config.js";
import { GatewayError } from "../errors.js";
import { requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand, usageError } from "./options.js";

/** The kinds of rows an adoption takes (all of them unless one of the `--…-only` flags, or `--id`, says). */
interface Kinds {
  devices: boolean;
  readings: boolean;
  rejections: boolean;
}

/**
 * `vitalog tlog adopt-unlogged --config FILE --by USER --reason TEXT [--id DEVICE | --devices-only |
 * --readings-only | --rejections-only] --yes`: puts in the log, as they stand, the rows it does not hold,
 * naming USER and TEXT:
 * - every `devices` row that has no logged binding, as `device_bound` with `via: "adopted"` (adopt-devices.ts);
 *   `--id` adopts that one row only, and nothing else;
 * - every reading stored without a log leaf (stored while `tlog.enabled` was false, or inserted behind the
 *   gateway's back), with a `readings_adopted` event naming the leaves (adopt-unlogged.ts);
 * - the rejection evidence no event sealed (`rejection_evidence_adopted`, adopt-rejections.ts);
 * then signs a checkpoint. Device rows go first, so readings adopted with them are compared with their
 * adopted binding. Irreversible: whatever those rows hold becomes part of the signed history, so look at
 * what `vitalog audit` names first. The gateway itself never does this.
 */
export async function tlogCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND_SPECS.tlog, argv);
  if (positionals[0] !== "adopt-unlogged" || positionals.length !== 1) throw usageError(COMMAND_SPECS.tlog);
  const kinds = kindsOf(values);
  const config = loadConfig(requireFlag(values.config, "config"));
  if (!config.tlog.enabled)
    throw new GatewayError("USAGE", "the log is disabled in this config (tlog.enabled: false)");
  const by = requireFlag(values.by, "by");
  const reason = requireFlag(values.reason, "reason");
  const tlog = openTlogForCli(config);
  try {
    if (!values.yes) {
      const what = [
        kinds.readings ? `${unloggedReadingCount(tlog.db)} reading(s) without a log leaf` : "",
        kinds.devices
          ? values.id !== undefined
            ? `device ${values.id} if it has no logged binding`
            : "any device without a logged binding"
          : "",
        kinds.rejections ? "any rejection evidence the log does not hold" : "",
      ].filter((x) => x !== "");
      throw new GatewayError(
        "USAGE",
        `${what.join(", and ")}: adopting puts them in the signed log for good ` +
          "(check what `vitalog audit` names first), add --yes to adopt them",
      );
    }
    const nowMs = Date.now();
    const opts = { by, reason, nowMs };
    const devices = kinds.devices ? adoptUnloggedDevices(tlog, { ...opts, id: values.id }) : [];
    if (values.id !== undefined && devices.length === 0) {
      throw new GatewayError(
        "USAGE",
        `device ${values.id} has no row without a logged binding: nothing to adopt (see vitalog audit)`,
      );
    }
    const r = kinds.readings
      ? adoptUnlogged(tlog, opts)
      : { count: 0, firstLeaf: null, lastLeaf: null, eventId: null, checkpointSize: null };
    const rejections = kinds.rejections
      ? adoptUnsealedRejections(tlog, opts)
      : { counts: 0, refusals: 0, samples: 0, eventIds: [] };
    // adopted bindings or rejection evidence still need a checkpoint over them (the readings' adoption signs one
    // itself, before the rejection evidence's events)
    const isUnsigned = rejections.eventIds.length > 0 || (devices.length > 0 && r.checkpointSize === null);
    const checkpoint = isUnsigned
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
        rejection_counts_adopted: rejections.counts,
        rejection_samples_adopted: rejections.samples,
        checkpoint_size: checkpoint?.size ?? r.checkpointSize ?? null,
      })}\n`,
    );
    return 0;
  } finally {
    tlog.close();
  }
}

/** The kinds of rows to adopt; at most one of the `--…-only` flags, and `--id` only with devices. */
function kindsOf(values: {
  id?: string | undefined;
  "devices-only"?: boolean | undefined;
  "readings-only"?: boolean | undefined;
  "rejections-only"?: boolean | undefined;
}): Kinds {
  const only = (["devices", "readings", "rejections"] as const).filter((k) => values[`${k}-only`] === true);
  if (only.length > 1)
    throw new GatewayError("USAGE", `--${only.join("-only and --")}-only exclude each other`);
  if (values.id !== undefined) {
    if (values.id === "") throw new GatewayError("USAGE", "--id needs a device id");
    if (only.length > 0 && only[0] !== "devices")
      throw new GatewayError("USAGE", `--id adopts one device row only: it excludes --${only[0]}-only`);
    return { devices: true, readings: false, rejections: false };
  }
  if (only.length === 0) return { devices: true, readings: true, rejections: true };
  return {
    devices: only[0] === "devices",
    readings: only[0] === "readings",
    rejections: only[0] === "rejections",
  };
}
