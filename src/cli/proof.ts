import { writeFileSync } from "node:fs";
import { buildAnchoredProofBundle } from "../anchor/anchor-proof.js";
import { scanLoggedEvents } from "../batcher/tlog/audit-events.js";
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
 * @throws GatewayError READING_UNKNOWN when the log holds none for it (never bound, or its events erased).
 */
function latestBindingEvent(tlog: CliTlog, deviceId: string): string {
  let ref: string | undefined;
  scanLoggedEvents(tlog.db, tlog.records.keys, (e) => {
    if (e.deviceId === deviceId && DEVICE_EVENT_TYPES.has(e.type)) ref = e.ref;
  });
  if (ref === undefined)
    throw new GatewayError("READING_UNKNOWN", `no binding event of device ${deviceId} in the log`);
  return ref;
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
      const ref = device === undefined ? positionals[0]! : latestBindingEvent(tlog, device);
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
