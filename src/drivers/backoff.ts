/**
 * Exponential backoff with jitter, capped (the `Driver` contract's reconnect rule): 1 s, 2 s, 4 s … up to
 * `maxDelayMs`, each delay reduced by up to `jitter` × itself at random so that devices that dropped together
 * do not all retry together. Pure state; the caller schedules through its `Clock`.
 */
export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
  jitter: number;
}

export class Backoff {
  readonly #o: BackoffOptions;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions, random: () => number = Math.random) {
    if (!(options.initialDelayMs > 0 && options.maxDelayMs >= options.initialDelayMs))
      throw new RangeError("backoff needs 0 < initialDelayMs <= maxDelayMs");
    this.#o = options;
    this.#random = random;
  }

  /** The delay before the next attempt; each call moves one step up the ladder. */
  next(): number {
    const o = this.#o;
    const base = Math.min(o.maxDelayMs, o.initialDelayMs * o.multiplier ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 64);
    return Math.max(1, Math.round(base * (1 - o.jitter * this.#random())));
  }

  /** Back to the first step (after a successful connection). */
  reset(): void {
    this.#attempt = 0;
  }

  /** Attempts since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }
}
