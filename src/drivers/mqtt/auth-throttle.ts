/**
 * Backoff of failed MQTT authentications, per source address and per client id. Each verification costs
 * an scrypt (~16 MiB, ~60 ms) and only a few run at once, so failures are what an attacker spends the
 * gateway's authentication capacity with. A source or an id allows `freeFailures` failures; each further
 * failure closes it for twice as long as the one before (1 s, 2 s, 4 s … up to `backoffMaxMs`), and while it
 * is closed attempts are refused at once, without a verification (`auth_throttled`, CONNACK 3: a device
 * tries again later). Failures are forgotten after a quiet quarter of an hour.
 *
 * Known and unknown ids are throttled alike (the state is kept per id as presented), so the throttle tells
 * nobody which ids exist. A device whose own id or address is under attack still connects through the
 * registry's record of recently verified credentials, which is consulted before the throttle
 * ({@link DeviceRegistry.isRecentlyVerified}): the throttle slows guessing, it does not lock devices out.
 */
import type { Clock } from "../../clock.js";

export interface AuthThrottleLimits {
  /** Failures a source address, or a client id, may have before it is backed off. */
  freeFailures: number;
  /** Longest backoff after a failure. */
  backoffMaxMs: number;
}

const BACKOFF_BASE_MS = 1000;
/** Failures of a key older than this, with none since, are forgotten. */
const FORGET_AFTER_MS = 15 * 60_000;
/**
 * Keys remembered per kind; beyond, the one whose last failure is oldest is forgotten. Bounds memory
 * whatever ids and addresses a storm presents (ids are at most 64 characters).
 */
const MAX_KEYS = 4096;

interface FailureRecord {
  failures: number;
  lastFailureMs: number;
  closedUntilMs: number;
}

export class AuthThrottle {
  readonly #limits: AuthThrottleLimits;
  readonly #clock: Clock;
  readonly #sources = new Map<string, FailureRecord>();
  readonly #ids = new Map<string, FailureRecord>();

  constructor(limits: AuthThrottleLimits, clock: Clock) {
    this.#limits = limits;
    this.#clock = clock;
  }

  /** Milliseconds until an attempt from `source` for `id` may be verified; 0 when it may be now. */
  waitMs(source: string, id: string): number {
    const now = this.#clock.now();
    const until = Math.max(
      this.#sources.get(source)?.closedUntilMs ?? 0,
      this.#ids.get(id)?.closedUntilMs ?? 0,
    );
    return Math.max(0, until - now);
  }

  /** A verification from `source` for `id` failed. */
  recordFailure(source: string, id: string): void {
    const now = this.#clock.now();
    this.#bump(this.#sources, source, now);
    this.#bump(this.#ids, id, now);
  }

  /** Failures remembered for `source` and for `id` (for tests and diagnostics). */
  failures(source: string, id: string): { source: number; id: number } {
    return { source: this.#sources.get(source)?.failures ?? 0, id: this.#ids.get(id)?.failures ?? 0 };
  }

  #bump(records: Map<string, FailureRecord>, key: string, now: number): void {
    const previous = records.get(key);
    const failures = previous && now - previous.lastFailureMs <= FORGET_AFTER_MS ? previous.failures + 1 : 1;
    const excess = failures - this.#limits.freeFailures;
    const closedUntilMs =
      excess > 0
        ? now + Math.min(this.#limits.backoffMaxMs, BACKOFF_BASE_MS * 2 ** Math.min(excess - 1, 30))
        : 0;
    // re-inserted, so the map's order is the order of last failures and the first key is the stalest
    records.delete(key);
    records.set(key, { failures, lastFailureMs: now, closedUntilMs });
    if (records.size > MAX_KEYS) {
      const stalest = records.keys().next();
      if (!stalest.done) records.delete(stalest.value);
    }
  }
}
