/**
 * Time for everything that schedules or stamps. Inject a fake one in tests.
 *
 * Clock steps. The wall clock (`now`) can be stepped: NTP or chrony correcting an offset at once, an operator
 * setting the date, a Raspberry Pi without a real-time clock booting on a stale time. Timers are unaffected
 * (Node's timers run on a monotonic clock), but every duration measured as the difference of two wall times
 * would be off by the step: persistence delays, clear holds, silences, escalation waits, "unacknowledged for",
 * device silence, NEWS2 ages. A backward step would hold every alarm off for its length, a forward step fire
 * every escalation at once. So the rule engine reads its clock through {@link watchClockSteps}: each read
 * compares the wall time moved with the monotonic time moved since the previous read, and a difference over
 * the tolerance is a step, reported before the new time is returned, so the engine shifts every wall time it
 * keeps by the step (`clockStepped`) before anything is compared with the new "now". Durations then stay true
 * in the new timebase, and a time shown in a text is the instant in the new timebase. Observation times set
 * by a device's own clock did not step and are not shifted. Whether the step itself is an alarm condition is
 * the clock-health rule's business (clock-health-rule.ts, docs/alerting.md "Clock health").
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Like setTimeout; the returned handle is passed to clearTimeout. */
  setTimeout(fn: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
  /**
   * Milliseconds of a monotonic clock (never set, never jumps), to tell a jump of `now` from elapsed time.
   * Optional: a clock without it (a manual test clock) is not checked for jumps.
   */
  monotonicMs?(): number;
}

/**
 * Implemented by a rule that keeps wall times to compare with a later "now" (the rule engine calls it on a
 * step; `Rule` implementations without it keep no such times). It MUST move every such time by `deltaMs` and
 * nothing else: observation times set by a device's own clock did not step.
 */
export interface ClockStepAware {
  clockStepped(deltaMs: number): void;
}

/**
 * Wall-clock movement against the monotonic clock, between two reads, taken as a step. Local engineering
 * choice, to be reviewed: far above what a slewing clock drifts between two reads (at most 500 ppm in the
 * kernel's clock discipline, 0.5 ms per second, and the engine reads at least once a second) and below the
 * smallest offset ntpd steps rather than slews (128 ms by default), so every NTP step is compensated.
 */
export const CLOCK_STEP_TOLERANCE_MS = 100;

/**
 * `clock`, whose `now()` first tells `onStep` of a step of the wall clock since the previous read (see the
 * module comment): `deltaMs` > 0 forward, < 0 back. `onStep` runs synchronously inside `now()`, before the new
 * time is returned; it MUST NOT read this clock. A clock without `monotonicMs` cannot tell a step from elapsed
 * time and is returned as it is.
 */
export function watchClockSteps(
  clock: Clock,
  onStep: (deltaMs: number) => void,
  toleranceMs = CLOCK_STEP_TOLERANCE_MS,
): Clock {
  const monotonicMs = clock.monotonicMs?.bind(clock);
  if (monotonicMs === undefined) return clock;
  let last: { wall: number; mono: number } | null = null;
  return {
    now: () => {
      const wall = clock.now();
      const mono = monotonicMs();
      const prev = last;
      last = { wall, mono };
      if (prev !== null) {
        const deltaMs = wall - prev.wall - (mono - prev.mono);
        if (Math.abs(deltaMs) > toleranceMs) onStep(deltaMs);
      }
      return wall;
    },
    monotonicMs,
    setTimeout: (fn, delayMs) => clock.setTimeout(fn, delayMs),
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimeout: (fn, delayMs) => {
    const t = setTimeout(fn, delayMs);
    t.unref?.();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * A clock that only moves when told to: for deterministic tests of timers. With `hasMonotonic`, it also has a
 * monotonic clock, which `advance` moves and `step` does not, so a test can step the wall clock.
 */
export class ManualClock implements Clock {
  #now: number;
  #mono = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #nextId = 1;
  readonly monotonicMs?: () => number;

  constructor(startMs = Date.UTC(2026, 0, 1), options: { hasMonotonic?: boolean } = {}) {
    this.#now = startMs;
    if (options.hasMonotonic === true) this.monotonicMs = () => this.#mono;
  }

  /**
   * Sets the wall clock by `deltaMs` (> 0 forward, < 0 back) without time passing: pending timers keep their
   * remaining delays, as Node's timers (monotonic) do.
   */
  step(deltaMs: number): void {
    this.#now += deltaMs;
    for (const t of this.#timers.values()) t.at += deltaMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, delayMs: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, delayMs), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Moves time forward, firing due timers in order (timers set while firing are honoured). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Number.POSITIVE_INFINITY;
      for (const [id, t] of this.#timers) {
        if (t.at <= target && t.at < nextAt) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId < 0) break;
      const timer = this.#timers.get(nextId)!;
      this.#timers.delete(nextId);
      const at = Math.max(this.#now, timer.at);
      this.#mono += at - this.#now;
      this.#now = at;
      timer.fn();
    }
    this.#mono += target - this.#now;
    this.#now = target;
  }
}
