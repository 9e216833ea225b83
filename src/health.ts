/**
 * Truthful health for `/healthz`: every part of the gateway that can stop doing its job registers a named
 * check, and the gateway is healthy only while every check passes. A check answers from state the part
 * already keeps (no I/O, no waiting): a problem text an on-call engineer can act on, or undefined.
 */

import type { Clock } from "./clock.js";
import type { HealthCheck } from "./core/ports.js";
import type { Metrics } from "./metrics.js";

/** A failing check: its name and its problem. */
export interface HealthProblem {
  readonly check: string;
  readonly problem: string;
}

/** What /healthz and `vitalog status` show: `ok` when no check fails. */
export interface HealthReport {
  readonly status: "ok" | "failing";
  readonly problems: readonly HealthProblem[];
}

/** The named checks of one gateway. */
export class Health {
  readonly #checks = new Map<string, HealthCheck>();

  /** Adds a check under a snake_case name, unique per gateway (`commits`, `tlog`, `storage` …). */
  register(name: string, check: HealthCheck): void {
    if (!/^[a-z][a-z0-9_]*$/.test(name))
      throw new RangeError(`health check name must be snake_case: ${name}`);
    if (this.#checks.has(name)) throw new TypeError(`health check ${name} is already registered`);
    this.#checks.set(name, check);
  }

  /** Runs every check. */
  report(): HealthReport {
    const problems = this.problems();
    return { status: problems.length === 0 ? "ok" : "failing", problems };
  }

  /** The failing checks, in registration order (empty: healthy). */
  problems(): HealthProblem[] {
    const out: HealthProblem[] = [];
    for (const [check, run] of this.#checks) {
      let problem: string | undefined;
      try {
        problem = run();
      } catch (err) {
        problem = `check failed: ${errorText(err)}`;
      }
      // one line per problem on /healthz
      if (problem !== undefined) out.push({ check, problem: problem.replace(/\s*\n\s*/g, " ") });
    }
    return out;
  }
}

/** How long a failed group commit keeps the `commits` check failing after commits succeed again. */
export const COMMIT_FAILURE_WINDOW_MS = 30_000;
/**
 * A commit running this long is reported stalled: a group commit takes milliseconds, an fsync on a slow SD
 * card up to about a second; 10 s is far beyond either (local engineering choice).
 */
export const COMMIT_STALL_MS = 10_000;

/** Upper bounds (seconds) of the commit-duration histogram: an fsync on an SD card to a stalled disk. */
const COMMIT_BUCKETS_SEC = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Watches the outcome of every group commit (the GroupCommitter's `onCommit`): the commit-duration
 * histogram, and the `commits` health check. Commits are failing while the last one failed (none has
 * succeeded since), and for {@link COMMIT_FAILURE_WINDOW_MS} after any failure, so a commit path that
 * fails every other batch never looks healthy to a scrape that lands between two failures.
 */
export class CommitHealth {
  readonly #clock: Clock;
  readonly #duration: (seconds: number, labels?: Readonly<Record<string, string>>) => void;
  #failuresInARow = 0;
  #lastFailureAtMs: number | null = null;
  #lastError = "";
  /** When the commit now running began (commits run one at a time); null between commits. */
  #runningSinceMs: number | null = null;

  constructor(deps: { metrics: Metrics; clock: Clock }) {
    this.#clock = deps.clock;
    this.#duration = deps.metrics.histogram(
      "vitalog_commit_duration_seconds",
      "Duration of group commits (transaction and fsync in the commit thread), by outcome",
      COMMIT_BUCKETS_SEC,
      ["outcome"],
    );
  }

  /** A commit starts (call as it is handed to the commit thread). */
  begin(): void {
    this.#runningSinceMs = this.#clock.now();
  }

  /** Records one commit: call from `onCommit` with its duration and error. */
  observe(durationMs: number, error?: Error): void {
    this.#runningSinceMs = null;
    this.#duration(durationMs / 1000, { outcome: error ? "failed" : "ok" });
    if (error === undefined) {
      this.#failuresInARow = 0;
      return;
    }
    this.#failuresInARow++;
    this.#lastFailureAtMs = this.#clock.now();
    this.#lastError = errorText(error);
  }

  /** The `commits` health check. */
  problem(): string | undefined {
    // a commit that neither ends nor fails (a disk that stopped answering, a wedged thread) acknowledges
    // nothing while every other check may look fine
    const runningMs = this.#runningSinceMs === null ? 0 : this.#clock.now() - this.#runningSinceMs;
    if (runningMs >= COMMIT_STALL_MS)
      return `a group commit has been running for ${Math.round(runningMs / 1000)} s: nothing is acknowledged meanwhile`;
    if (this.#failuresInARow > 0)
      return `group commits failing (${this.#failuresInARow} in a row): ${this.#lastError}`;
    if (this.#lastFailureAtMs === null) return undefined;
    const agoMs = this.#clock.now() - this.#lastFailureAtMs;
    if (agoMs >= COMMIT_FAILURE_WINDOW_MS) return undefined;
    return `a group commit failed ${Math.round(agoMs / 1000)} s ago (later ones succeeded): ${this.#lastError}`;
  }
}

/** An error's message with the messages of its causes (`group commit … failed: database is locked`). */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    parts.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(": ");
}
