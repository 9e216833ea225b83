import { writeFileSync } from "node:fs";
import { buildAnchoredProofBundle } from "../anchor/anchor-proof.js";
import { scanLoggedEvents } from "../batcher/tlog/audit-events.js";
import { type EventRow, openEvent } from "../batcher/tlog/leaf-openings.js";
import { type CliTlog, openTlogForCli } from "../batcher/tlog/open-tlog.js";
import { buildConsistencyBundle, type ProofSources } from "../batcher/tlog/proof-bundle.js";
import { loadConfig } from "../config.js";
import { DEVICE_EVENT_TYPES } from "../drivers/device-events.js";
import { GatewayError } from "../errors.js";
import { idFlag, requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand, usageError } from "./options.js";

function size(text: string | undefined, what: string): number {
  if (text === undefined || !/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new GatewayError("USAGE", `${what} must be a tree size (decimal)`);
  }
  return Number(text);
}

/**
 * The ref of the device's latest binding event in the log (`device_bound`, `device_unbound`,
 * `device_credential_changed`), found by opening the logged events: what the `devices` row is provably based on.
 * An event after it that does not open because it was modified makes the latest binding unknowable: that is an
 * integrity failure, not an older answer. Events after it that do not open because their subject was erased
 * are named on stderr: a binding of the device to an erased subject would be among them.
 * @throws GatewayError READING_UNKNOWN when the log holds none for it (never bound, or its events erased);
 *   INTEGRITY_FAILURE when a later logged event was modified.
 */
function latestBindingEvent(tlog: CliTlog, deviceId: string, warn: (line: string) => void): string {
  let found: { ref: string; leafIndex: number } | undefined;
  scanLoggedEvents(tlog.db, tlog.records.keys, (e) => {
    if (e.deviceId === deviceId && DEVICE_EVENT_TYPES.has(e.type))
      found = { ref: e.ref, leafIndex: e.leafIndex };
  });
  const later = tlog.db
    .prepare<[number], EventRow>(
      "SELECT leaf_index, ref, key_id, entry, sealed FROM tlog_records WHERE leaf_index > ? ORDER BY leaf_index",
    )
    .all(found?.leafIndex ?? -1);
  let erased = 0;
  for (const row of later) {
    const opened = openEvent(tlog.records.keys, row);
    if (opened.status === "no-key") erased++;
    else if (opened.status !== "opened")
      throw new GatewayError(
        "INTEGRITY_FAILURE",
        `the logged event at leaf ${row.leaf_index} was modified (${opened.status}): device ${deviceId}'s latest binding cannot be established; run vitalog audit`,
      );
  }
  if (erased > 0)
    warn(
      `vitalog proof: ${erased} later logged event(s) belong to erased subjects; a binding of ${deviceId} to an erased subject would be among them`,
    );
  if (found === undefined)
    throw new GatewayError("READING_UNKNOWN", `no binding event of device ${deviceId} in the log`);
  return found.ref;
}

/**
 * `vitalog proof <reading-id>` writes a self-contained `vitalog-proof/v1` bundle (opening + tlog-proof
 * against the latest signed checkpoint, or `--at SIZE`; once a FINAL anchor covers the reading, against
 * the first checkpoint that covered it, plus the anchor evidence and the consistency proof to the
 * anchored one). The bundle holds the reading: `--out` files are created 0600. An event id (`evt-…`) is proved
 * the same way, and `--device ID` proves the device's latest binding event. `--consistency OLD NEW` writes a
 * `vitalog-consistency/v1` bundle.
 */
export async function proofCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND_SPECS.proof, argv);
  const device = idFlag(values.device, "device");
  const config = loadConfig(requireFlag(values.config, "config"));
  const tlog = openTlogForCli(config);
  try {
    const src: ProofSources = {
      db: tlog.db,
      tiles: tlog.records.tiles,
      openings: tlog.records.openings,
      checkpoints: tlog.checkpoints,
      origin: tlog.origin,
      vkey: tlog.vkey,
    };
    let bundle: unknown;
    if (values.consistency) {
      if (positionals.length !== 2) throw usageError(COMMAND_SPECS.proof);
      bundle = buildConsistencyBundle(src, size(positionals[0], "OLD"), size(positionals[1], "NEW"));
    } else {
      if (positionals.length !== (device === undefined ? 1 : 0)) throw usageError(COMMAND_SPECS.proof);
      const ref =
        device === undefined
          ? positionals[0]!
          : latestBindingEvent(tlog, device, (line) => process.stderr.write(`${line}\n`));
      const built = buildAnchoredProofBundle(
        src,
        ref,
        values.at === undefined ? {} : { atSize: size(values.at, "--at") },
      );
      bundle = built.bundle;
      if (built.anchoredSize === null && config.anchor.enabled) {
        process.stderr.write("vitalog proof: not anchored yet (no FINAL anchor covers this checkpoint)\n");
      }
    }
    const text = `${JSON.stringify(bundle, null, 2)}\n`;
    if (values.out) writeFileSync(values.out, text, { mode: 0o600 });
    else out.write(text);
    return 0;
  } finally {
    tlog.close();
  }
}
