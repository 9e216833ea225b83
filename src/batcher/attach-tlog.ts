/**
 * Composition of the tamper-evident log into the gateway (`attachTlog(gw)` in `Gateway.start`):
 * a commit writer (tlog-commit-writer.ts, in the commit thread) that appends every stored reading and audit
 * event to the log inside the group commit, and the checkpointer service.
 *
 * Only ingest appends readings. Rows the gateway finds in its database without a leaf (stored while the
 * log was disabled, or inserted behind its back: nothing tells the two apart) are never appended at
 * start-up; they are counted in a warning, `audit` names each one, and only an operator's explicit,
 * logged `vitalog tlog adopt-unlogged` puts them in the log (adopt-unlogged.ts).
 *
 * Keys: on first start with default paths the key files are created under `<stateDir>/keys` (0600) and
 * the verifier key is logged; configured paths that are missing stop the start (exit 78).
 */
import type { Gateway } from "../gateway.js";
import { errorText } from "../health.js";
import { unloggedReadingCount } from "./adopt-unlogged.js";
import { Checkpointer } from "./checkpointer.js";
import { openTlog, type Tlog } from "./open-tlog.js";
import { tlogCommitWriter } from "./tlog-commit-writer.js";

/** The attached log, for other subsystems (the anchor publisher listens to `checkpointer`). */
export interface AttachedTlog extends Tlog {
  readonly checkpointer: Checkpointer;
}

/** Attaches the log when `tlog.enabled` (the default); returns undefined when it is disabled. */
export function attachTlog(gw: Gateway): AttachedTlog | undefined {
  const config = gw.config;
  const log = gw.log.child({ module: "tlog" });
  if (!config.tlog.enabled) {
    log.warn("tamper-evident log disabled (tlog.enabled: false): readings are not committed to the log");
    return undefined;
  }
  const tlog = openTlog(gw.db, config, { createMissing: true, now: () => gw.clock.now() });
  if (tlog.keysCreated)
    log.info({ vkey: tlog.vkey }, "tlog keys created; give this verifier key to auditors");
  const unlogged = unloggedReadingCount(gw.db);
  if (unlogged > 0)
    log.warn(
      { readings: unlogged },
      "readings without a log leaf found; they stay out of the log (vitalog audit names them)",
    );
  gw.addCommitWriter(tlogCommitWriter(tlog.storageKey));
  const checkpointer = new Checkpointer({
    db: gw.db,
    tiles: tlog.records.tiles,
    store: tlog.checkpoints,
    origin: tlog.origin,
    signer: tlog.signer,
    clock: gw.clock,
    intervalMs: config.tlog.checkpointIntervalSec * 1000,
    log,
  });
  gw.addService(checkpointer);
  observeTlog(gw, tlog, checkpointer);
  log.info(
    { origin: tlog.origin, vkey: tlog.vkey, size: tlog.records.tiles.size() },
    "tamper-evident log attached",
  );
  return { ...tlog, checkpointer };
}

/**
 * The log's health check and scrape-time gauges. The log is unhealthy when signing halted (integrity or
 * signer failure) or when its tile store no longer agrees with its stored root (reading the size re-checks
 * the right edge against the root): both stop the integrity path until an operator looks.
 */
function observeTlog(gw: Gateway, tlog: Tlog, checkpointer: Checkpointer): void {
  const { tiles } = tlog.records;
  gw.health.register("tlog", () => {
    let halted: unknown;
    try {
      halted = checkpointer.status().halted;
    } catch (err) {
      return `log unreadable or inconsistent: ${errorText(err)}`;
    }
    return halted === null ? undefined : `checkpoint signing halted: ${String(halted)}`;
  });
  gw.metrics.gaugeFrom(
    "vitalog_checkpoint_age_seconds",
    "Seconds since the latest checkpoint was signed (a new one is signed only when the log grew)",
    () => {
      const cp = tlog.checkpoints.latest();
      return cp ? [{ labels: {}, value: Math.max(0, (gw.clock.now() - cp.signedAtMs) / 1000) }] : [];
    },
  );
  gw.metrics.gaugeFrom(
    "vitalog_tlog_unsigned_leaves",
    "Log entries appended after the latest signed checkpoint (with the checkpoint age: signing is stuck when both grow)",
    () => [{ labels: {}, value: tiles.size() - (tlog.checkpoints.latest()?.size ?? 0) }],
  );
}
