/**
 * The tamper-evident log as a part of the gateway (`createTlog(deps)`, wired by the composition root):
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
import type { Clock } from "../../clock.js";
import type { Config } from "../../config.js";
import type { CheckpointFeed, WriteCommands } from "../../core/ports.js";
import type { Service } from "../../core/service.js";
import type { Db } from "../../db.js";
import { errorText } from "../../health.js";
import type { Logger } from "../../log.js";
import type { Metrics } from "../../metrics.js";
import type { CommitWriterSpec } from "../commit/commit-writer.js";
import { unloggedReadingCount } from "./adopt-unlogged.js";
import { Checkpointer } from "./checkpointer.js";
import { openTlog, type Tlog } from "./open-tlog.js";
import { tlogCommitWriter } from "./tlog-commit-writer.js";

/** The log of a running gateway, for other subsystems (the anchor publisher listens to `checkpointer`). */
export interface AttachedTlog extends Tlog {
  readonly checkpointer: Checkpointer;
}

/** What `createTlog` needs: its config slices, the main connection (reads) and the shared services. */
export interface TlogDeps {
  readonly config: Readonly<Pick<Config, "tlog" | "gateway">>;
  readonly db: Db;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Where the checkpointer's signing commands go (the commit thread, the database's one writer). */
  readonly writes: WriteCommands;
}

/** The log's parts for the composition root. */
export interface TlogParts {
  readonly tlog: AttachedTlog;
  /** The signed checkpoints as they are made (the anchor publisher's input). */
  readonly checkpoints: CheckpointFeed;
  readonly services: readonly Service[];
  readonly commitWriters: readonly CommitWriterSpec[];
  readonly healthChecks: Readonly<Record<string, () => string | undefined>>;
}

/** Builds the log when `tlog.enabled` (the default); undefined when it is disabled. */
export function createTlog(deps: TlogDeps): TlogParts | undefined {
  const { config, db, clock } = deps;
  const log = deps.log.child({ module: "tlog" });
  if (!config.tlog.enabled) {
    log.warn("tamper-evident log disabled (tlog.enabled: false): readings are not committed to the log");
    return undefined;
  }
  const tlog = openTlog(db, config, { createMissing: true, now: () => clock.now() });
  if (tlog.keysCreated)
    log.info({ vkey: tlog.vkey }, "tlog keys created; give this verifier key to auditors");
  const unlogged = unloggedReadingCount(db);
  if (unlogged > 0)
    log.warn(
      { readings: unlogged },
      "readings without a log leaf found; they stay out of the log (vitalog audit names them)",
    );
  const checkpointer = new Checkpointer({
    tiles: tlog.records.tiles,
    store: tlog.checkpoints,
    writes: deps.writes,
    clock,
    intervalMs: config.tlog.checkpointIntervalSec * 1000,
    log,
  });
  const writer = tlogCommitWriter(tlog.storageKey, {
    skey: tlog.signer.toSkey(),
    origin: tlog.origin,
    onResult: (result) => checkpointer.onWriteResult(result),
  });
  observeTlog(deps.metrics, clock, tlog);
  log.info(
    { origin: tlog.origin, vkey: tlog.vkey, size: tlog.records.tiles.size() },
    "tamper-evident log attached",
  );
  return {
    tlog: { ...tlog, checkpointer },
    checkpoints: {
      onCheckpoint: (listener) => checkpointer.addListener(listener),
      latest: () => tlog.checkpoints.latest(),
    },
    services: [checkpointer],
    commitWriters: [writer],
    healthChecks: { tlog: () => tlogProblem(checkpointer) },
  };
}

/**
 * The log is unhealthy when signing halted (integrity or signer failure) or when its tile store no longer
 * agrees with its stored root (reading the size re-checks the right edge against the root): both stop the
 * integrity path until an operator looks.
 */
function tlogProblem(checkpointer: Checkpointer): string | undefined {
  let halted: unknown;
  try {
    halted = checkpointer.status().halted;
  } catch (err) {
    return `log unreadable or inconsistent: ${errorText(err)}`;
  }
  return halted === null ? undefined : `checkpoint signing halted: ${String(halted)}`;
}

/** The log's scrape-time gauges. */
function observeTlog(metrics: Metrics, clock: Clock, tlog: Tlog): void {
  const { tiles } = tlog.records;
  metrics.gaugeFrom(
    "vitalog_checkpoint_age_seconds",
    "Seconds since the latest checkpoint was signed (a new one is signed only when the log grew)",
    () => {
      const cp = tlog.checkpoints.latest();
      return cp ? [{ labels: {}, value: Math.max(0, (clock.now() - cp.signedAtMs) / 1000) }] : [];
    },
  );
  metrics.gaugeFrom(
    "vitalog_tlog_unsigned_leaves",
    "Log entries appended after the latest signed checkpoint (with the checkpoint age: signing is stuck when both grow)",
    () => [{ labels: {}, value: tiles.size() - (tlog.checkpoints.latest()?.size ?? 0) }],
  );
}
