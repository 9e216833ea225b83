/**
 * Clock health: every timeline the gateway keeps (observation and receive times, alert times, the staleness
 * horizon that decides whether a reading may alarm, staleness.ts) depends on the gateway's wall clock. Two
 * technical alarm conditions of the gateway itself [IEC 60601-1-8 §6.11: a failure of the distributed alarm
 * system's own parts is a technical alarm condition]:
 *
 * - `technical.clock_jump`: the wall clock moved against a monotonic clock (which no one can set) by more than
 *   `jumpToleranceSec` between two ticks. Both are read on each tick, so a stalled event loop moves both and
 *   is not a jump. The text states the size, the direction and when, and follows each further jump (an
 *   `update` of the standing alert); the alarm holds for `jumpHoldSec` of monotonic time after the last jump,
 *   then clears. The alarm reports the step; it does not have to hold alarms back meanwhile: the rule engine
 *   compensates the step itself (clock.ts `watchClockSteps`), so persistence, holds, silences, escalation and
 *   device silence keep their true durations across it. What stays unreliable is the comparison of the gateway
 *   clock with a device's own clock (a device-timed reading's age), hence the alarm.
 * - `technical.clock_unsynchronised`: the clock is known not to be synchronised (the sync probe says so) for
 *   `unsyncedAlarmAfterSec`; it clears once the probe says synchronised. A probe that cannot tell (no
 *   systemd, no timedatectl, no D-Bus: `unknown`) raises nothing: an alarm that every gateway without systemd
 *   raised at once would be noise a ward learns to ignore. `unknown` is logged once per change and shown by
 *   the metric `vitalog_clock_synchronized` (1, 0, or -1 for unknown) where the gateway wires it.
 *
 * Sync probes (choose with `rules.clock.syncSource`):
 * - `timedatectl`: `timedatectl show -p NTPSynchronized --value`, systemd-timedated's reading of the kernel's
 *   clock discipline state (adjtimex(2): not `STA_UNSYNC`), so it holds for whichever NTP client disciplines
 *   the clock (systemd-timesyncd, chrony, ntpd). Run every `syncCheckIntervalSec`, never on the tick path.
 * - `timesyncd`: the file `/run/systemd/timesync/synchronized`, which systemd-timesyncd creates at its first
 *   synchronisation after boot; absent means unsynchronised (only when timesyncd is the NTP client).
 * - `auto` (default): `timedatectl` when the machine was booted with systemd (`/run/systemd/system` exists,
 *   sd_booted(3)), else `none`.
 * - `none`: never checked (`unknown`).
 *
 * The monotonic clock comes from the gateway's `Clock` (`monotonicMs`); a clock without one (a manual test
 * clock) is not checked for jumps. Tests inject both the clock and the probe.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { type AlertPriority, type ConditionUpdate, conditionKey, type Rule, type RuleInput } from "./rule.js";

/** What a probe knows of the clock's synchronisation (wire strings, only ever added to). */
export type ClockSyncState = "synchronised" | "unsynchronised" | "unknown";

export type ClockSyncSource = "auto" | "timedatectl" | "timesyncd" | "none";

/** The `rules.clock` config slice (plain data, part of the YAML schema). */
export interface ClockHealthConfig {
  /** Wall-clock movement against the monotonic clock, between two ticks, taken as a jump. */
  jumpToleranceSec: number;
  /** How long the jump alarm stays after the last jump (monotonic time). */
  jumpHoldSec: number;
  jumpPriority: AlertPriority;
  syncSource: ClockSyncSource;
  /** How often the sync probe runs. */
  syncCheckIntervalSec: number;
  /** How long the clock must be known unsynchronised before the alarm is raised. */
  unsyncedAlarmAfterSec: number;
  unsyncedPriority: AlertPriority;
}

/**
 * Defaults. Local engineering choice, to be reviewed by the clinical lead:
 * - `jumpToleranceSec` 2: NTP slews small corrections (no step under 128 ms by default in ntpd/chrony), and
 *   two ticks are 0.5 s apart, so a 2 s difference is a step, never jitter; a step of that size already
 *   misplaces a reading's observation time across a persistence delay.
 * - `jumpHoldSec` 60: long enough for the text to be read at a station; each further jump restarts it.
 * - `unsyncedAlarmAfterSec` 300: a Raspberry Pi has no real-time clock and boots on a stale time until its
 *   first synchronisation, normally within seconds to a minute of network access; five minutes is the
 *   staleness horizon (staleness.ts), beyond which a wrong clock starts to misjudge live readings.
 * - MEDIUM for both: a wrong clock can make live readings look stale (no alarm) or misdate the evidence —
 *   a missed alarm with prompt, not immediate, onset [IEC 60601-1-8 §6.1.2 Table 1, clinical.md §5.1].
 * - `syncCheckIntervalSec` 60: cheap enough for a small gateway (one short process per minute).
 */
export const DEFAULT_CLOCK_HEALTH_CONFIG: ClockHealthConfig = {
  jumpToleranceSec: 2,
  jumpHoldSec: 60,
  jumpPriority: "medium",
  syncSource: "auto",
  syncCheckIntervalSec: 60,
  unsyncedAlarmAfterSec: 300,
  unsyncedPriority: "medium",
};

/** Tells whether the clock is synchronised; MUST NOT throw (a failure is `unknown`) and MUST settle. */
export type ClockSyncProbe = () => ClockSyncState | Promise<ClockSyncState>;

/** `timedatectl show -p NTPSynchronized --value`: yes / no; anything else (no binary, no bus) is unknown. */
export const timedatectlProbe: ClockSyncProbe = () =>
  new Promise((resolve) => {
    execFile(
      "timedatectl",
      ["show", "-p", "NTPSynchronized", "--value"],
      { timeout: 5000, encoding: "utf8" },
      (err, stdout) => {
        const value = err ? "" : stdout.trim();
        resolve(value === "yes" ? "synchronised" : value === "no" ? "unsynchronised" : "unknown");
      },
    );
  });

/** systemd-timesyncd's marker file: present once it synchronised since boot. */
export function timesyncdProbe(path = "/run/systemd/timesync/synchronized"): ClockSyncProbe {
  return () => (existsSync(path) ? "synchronised" : "unsynchronised");
}

const unknownProbe: ClockSyncProbe = () => "unknown";

/** The probe of a configured source (see the module comment); `auto` looks for systemd once, here. */
export function syncProbeFor(
  source: ClockSyncSource,
  isSystemdBooted = existsSync("/run/systemd/system"),
): {
  name: Exclude<ClockSyncSource, "auto">;
  probe: ClockSyncProbe;
} {
  const resolved = source === "auto" ? (isSystemdBooted ? "timedatectl" : "none") : source;
  if (resolved === "timedatectl") return { name: resolved, probe: timedatectlProbe };
  if (resolved === "timesyncd") return { name: resolved, probe: timesyncdProbe() };
  return { name: "none", probe: unknownProbe };
}

export interface ClockHealthDeps {
  config: ClockHealthConfig;
  gatewayId: string;
  /** Milliseconds of a clock that never jumps (performance.now); absent: jumps are not checked. */
  monotonicMs?: (() => number) | undefined;
  probe: ClockSyncProbe;
  /** Told each change of the probe's answer (log it; a gauge may show it). */
  onSyncState?: (state: ClockSyncState) => void;
}

const JUMP = "technical.clock_jump";
const UNSYNCED = "technical.clock_unsynchronised";

function duration(ms: number): string {
  const s = Math.round(ms / 100) / 10;
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 360) / 10} h`;
}

export class ClockHealthRule implements Rule {
  readonly id = "clock_health";
  readonly category = "technical" as const;
  readonly #deps: ClockHealthDeps;
  /** Wall and monotonic time at the last tick. */
  #last: { wall: number; mono: number } | null = null;
  /** The last jump: its wall time after it, its size (wall minus monotonic), and its monotonic time. */
  #jump: { atMs: number; driftMs: number; mono: number } | null = null;
  #isJumpActive = false;
  #sync: ClockSyncState = "unknown";
  /** Elapsed (monotonic, else wall) time since which the probe says unsynchronised. */
  #unsyncedSince: number | null = null;
  #isUnsyncedActive = false;
  #lastProbeAt: number | null = null;
  #isProbing = false;

  constructor(deps: ClockHealthDeps) {
    const c = deps.config;
    if (
      !(
        c.jumpToleranceSec > 0 &&
        c.jumpHoldSec >= 0 &&
        c.syncCheckIntervalSec > 0 &&
        c.unsyncedAlarmAfterSec >= 0
      )
    )
      throw new RangeError("clock: tolerances and intervals must be positive");
    this.#deps = deps;
  }

  /** The probe's last answer. */
  get syncState(): ClockSyncState {
    return this.#sync;
  }

  evaluate(input: RuleInput, nowMs: number): readonly ConditionUpdate[] {
    if (input.type !== "tick") return [];
    const out: ConditionUpdate[] = [];
    const mono = this.#deps.monotonicMs?.();
    const elapsed = mono ?? nowMs;
    this.#checkJump(nowMs, mono, out);
    this.#probe(elapsed);
    this.#checkSync(elapsed, out);
    return out;
  }

  forgetSubject(): void {}

  #key(ruleId: string): string {
    return conditionKey(this.#deps.gatewayId, ruleId, this.#deps.gatewayId);
  }

  #checkJump(nowMs: number, mono: number | undefined, out: ConditionUpdate[]): void {
    if (mono === undefined) return;
    const last = this.#last;
    this.#last = { wall: nowMs, mono };
    if (last !== null) {
      const driftMs = nowMs - last.wall - (mono - last.mono);
      if (Math.abs(driftMs) > this.#deps.config.jumpToleranceSec * 1000) {
        this.#jump = { atMs: nowMs, driftMs, mono };
        this.#isJumpActive = true;
        const direction = driftMs > 0 ? "forward" : "back";
        out.push({
          type: "active",
          condition: {
            key: this.#key(JUMP),
            ruleId: JUMP,
            subjectId: this.#deps.gatewayId,
            deviceId: null,
            priority: this.#deps.config.jumpPriority,
            category: "technical",
            reason: `gateway clock jumped ${direction} by ${duration(Math.abs(driftMs))} at ${new Date(nowMs).toISOString()}: observation times and staleness around it are unreliable`,
            // each jump has its own text, and an alert that stands (or was restored) must name the latest one
            isReasonTracked: true,
          },
        });
        return;
      }
    }
    const jump = this.#jump;
    if (this.#isJumpActive && jump !== null && mono - jump.mono >= this.#deps.config.jumpHoldSec * 1000) {
      this.#isJumpActive = false;
      out.push({
        type: "clear",
        key: this.#key(JUMP),
        reason: `gateway clock steady for ${duration(mono - jump.mono)} since it jumped ${jump.driftMs > 0 ? "forward" : "back"} by ${duration(Math.abs(jump.driftMs))}`,
      });
    }
  }

  #probe(elapsed: number): void {
    const interval = this.#deps.config.syncCheckIntervalSec * 1000;
    if (this.#isProbing || (this.#lastProbeAt !== null && elapsed - this.#lastProbeAt < interval)) return;
    this.#lastProbeAt = elapsed;
    let answer: ClockSyncState | Promise<ClockSyncState>;
    try {
      answer = this.#deps.probe();
    } catch {
      answer = "unknown";
    }
    if (typeof answer === "string") {
      this.#setSync(answer);
      return;
    }
    this.#isProbing = true;
    answer
      .catch((): ClockSyncState => "unknown")
      .then((state) => {
        this.#isProbing = false;
        this.#setSync(state);
      });
  }

  #setSync(state: ClockSyncState): void {
    if (state === this.#sync) return;
    this.#sync = state;
    this.#deps.onSyncState?.(state);
  }

  #checkSync(elapsed: number, out: ConditionUpdate[]): void {
    if (this.#sync !== "unsynchronised") {
      this.#unsyncedSince = null;
      if (this.#isUnsyncedActive && this.#sync === "synchronised") {
        this.#isUnsyncedActive = false;
        out.push({ type: "clear", key: this.#key(UNSYNCED), reason: "gateway clock synchronised again" });
      }
      return;
    }
    this.#unsyncedSince ??= elapsed;
    const forMs = elapsed - this.#unsyncedSince;
    if (forMs < this.#deps.config.unsyncedAlarmAfterSec * 1000) return;
    this.#isUnsyncedActive = true;
    // reported on every tick while present, so the text follows the current duration
    out.push({
      type: "active",
      condition: {
        key: this.#key(UNSYNCED),
        ruleId: UNSYNCED,
        subjectId: this.#deps.gatewayId,
        deviceId: null,
        priority: this.#deps.config.unsyncedPriority,
        category: "technical",
        reason: `gateway clock not synchronised for ${duration(forMs)}: observation times, staleness and the log's times may be wrong`,
      },
    });
  }
}

/**
 * The clock-health rule of a gateway: the monotonic clock of its `Clock`, the configured sync probe, the
 * probe's answer logged at each change and exposed as `vitalog_clock_synchronized` (1 synchronised,
 * 0 unsynchronised, -1 unknown).
 */
export function createClockHealthRule(
  gw: { readonly clock: Clock; readonly metrics: Metrics },
  opts: { config: ClockHealthConfig; gatewayId: string; log: Logger; probe?: ClockSyncProbe | undefined },
): ClockHealthRule {
  const source = syncProbeFor(opts.config.syncSource);
  const probe = opts.probe ?? source.probe;
  const monotonic = gw.clock.monotonicMs?.bind(gw.clock);
  if (monotonic === undefined) opts.log.info("clock jumps not checked: this clock has no monotonic source");
  const rule = new ClockHealthRule({
    config: opts.config,
    gatewayId: opts.gatewayId,
    monotonicMs: monotonic,
    probe,
    onSyncState: (state) => {
      if (state === "unsynchronised")
        opts.log.warn({ source: source.name }, "gateway clock not synchronised");
      else if (state === "synchronised") opts.log.info({ source: source.name }, "gateway clock synchronised");
      else opts.log.warn({ source: source.name }, "gateway clock synchronisation cannot be checked");
    },
  });
  if (source.name === "none" && opts.probe === undefined)
    opts.log.warn(
      { syncSource: opts.config.syncSource },
      "gateway clock synchronisation not checked (no systemd, or rules.clock.syncSource: none)",
    );
  gw.metrics.gaugeFrom(
    "vitalog_clock_synchronized",
    "Whether the gateway clock is synchronised: 1 yes, 0 no, -1 unknown (rules.clock.syncSource)",
    () => [
      {
        labels: {},
        value: rule.syncState === "synchronised" ? 1 : rule.syncState === "unsynchronised" ? 0 : -1,
      },
    ],
  );
  return rule;
}
