/**
 * The commit path of the gateway: the group committer on the main thread and the commit thread behind it
 * (batcher/commit/commit-thread.ts: its own connection, where every group commit is written), with the commit
 * metrics and health. Part of the composition root: it knows the batcher and the ingest batch shape.
 */
import { CommitThread } from "../batcher/commit/commit-thread.js";
import { BINDING_CHANGED } from "../batcher/commit/commit-thread-protocol.js";
import { GroupCommitter } from "../batcher/commit/group-commit.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { CommitBatch } from "../drivers/ingest.js";
import { CommitHealth, errorText } from "../health.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";

/** The commit path's parts. */
export interface CommitPath {
  readonly thread: CommitThread;
  readonly committer: GroupCommitter<CommitBatch>;
  /** The `commits` and `commit_thread` health checks. */
  readonly healthChecks: Readonly<Record<string, () => string | undefined>>;
}

/**
 * Builds the commit path over `config.storage`. `onBindingChanged`: told (after the commit's acknowledgements
 * were written) the device of a frame refused at commit because its binding no longer holds.
 */
export function createCommitPath(deps: {
  readonly storage: Readonly<Config["storage"]>;
  /** GroupCommitter `busyGiveUpMs` (its default when undefined). */
  readonly busyGiveUpMs?: number | undefined;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly onBindingChanged: (deviceId: string) => void;
}): CommitPath {
  const { storage, clock, log, metrics } = deps;
  const duplicates = metrics.counter(
    "vitalog_readings_duplicate_total",
    "Re-sent readings dropped as duplicates",
  );
  const commits = metrics.counter("vitalog_commits_total", "Group commits, by outcome");
  const lastBatch = metrics.gauge("vitalog_commit_last_batch", "Readings and rejections in the last commit");
  const health = new CommitHealth({ metrics, clock });
  const thread = new CommitThread(
    {
      dbPath: storage.path!,
      synchronous: storage.synchronous,
      // a short lock wait: the event loop (alerts) must not block behind another process's write; the group
      // commit retries a locked batch instead (see GroupCommitter busyRetryMs)
      busyTimeoutMs: 25,
      checkBindings: true,
    },
    log.child({ module: "commit-thread" }),
  );
  const committer = new GroupCommitter<CommitBatch>({
    clock,
    maxReadings: storage.batchMaxReadings,
    maxDelayMs: storage.batchMaxDelayMs,
    busyGiveUpMs: deps.busyGiveUpMs,
    commit: async (batches) => {
      health.begin();
      const outcome = await thread.commit(batches, clock.now());
      for (const device of outcome.duplicates) duplicates({ device });
      if (outcome.isolated.length === 0 && outcome.failed.size === 0) return outcome;
      const deviceOf = (index: number): string => {
        const b = batches[index];
        return (
          b?.readings[0]?.deviceId ?? b?.rejections[0]?.deviceId ?? b?.events?.[0]?.deviceId ?? "(unknown)"
        );
      };
      // registering a family again returns it: created when first needed
      const isolated = metrics.counter(
        "vitalog_commit_isolated_total",
        "Group-commit items whose content storage refused, stored as a refusal so the others commit, per device and reason",
      );
      for (const { index, reason, detail } of outcome.isolated) {
        const deviceId = deviceOf(index);
        isolated({ device: deviceId, reason });
        // a frame stamped with a binding that no longer holds: its session must not send another (closed once
        // this commit's acknowledgements, the refusal's included, are written to the sockets)
        if (reason === BINDING_CHANGED) setImmediate(() => deps.onBindingChanged(deviceId));
        log.warn({ deviceId, reason }, "commit item isolated: its refusal was stored instead");
        // the detail is kept with the stored refusal; a writer's message may quote content
        log.debug({ deviceId, reason, detail }, "commit item isolation detail");
      }
      for (const [index, err] of outcome.failed) {
        const code = (err as { code?: unknown }).code;
        log.warn({ deviceId: deviceOf(index), code, err: errorText(err) }, "commit item not committed");
      }
      return outcome;
    },
    onCommit: ({ items, weight, error, durationMs, failed }) => {
      // items failing alone (the others committed) make the commit path unhealthy as a failed commit does
      const problem =
        error ??
        (failed > 0 ? new Error(`${failed} of ${items} item(s) of a group commit failed`) : undefined);
      health.observe(durationMs, problem);
      commits({ outcome: error ? "failed" : failed > 0 ? "partial" : "ok" });
      lastBatch(weight);
      if (error) log.error({ err: error, cause: String(error.cause) }, "group commit failed");
      else if (failed > 0) log.error({ failed, items }, "group commit items failed alone");
    },
  });
  return {
    thread,
    committer,
    healthChecks: {
      commits: () => health.problem(),
      commit_thread: () => {
        const down = thread.downReason;
        return down === undefined ? undefined : `commit thread down: ${down}`;
      },
    },
  };
}
