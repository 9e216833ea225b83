/**
 * Backoff of failed MQTT authentications, per source address and per client id. Each verification costs
 * an scrypt (~16 MiB, ~60 ms) and only a few run at once, so failures are what an attacker spends the
 * gateway's authentication capacity with. A source or an id allows `freeFailures` failures; each further
 * failure closes it for twice as long as the one before (1 s, 2 s, 4 s … up to `backoffMaxMs`), and while it
 * is closed attempts are refused at once, without a verification (`auth_throttled`, CONNACK 3: a device
 * tries again later). Failures are forgotten after a quiet quarter of an hour.
 *
 * A backed-off id would lock its own device out while the storm against it lasts, so it stays open to
 * **clean sources**, addresses with no failure on record, one verification at a time (ten a second at
 * most): each address an attacker controls gets about one such guess (its first failure ends its
 * cleanness), so what bounds guessing is the number of addresses, and once they are used up the
 * device's own clean address has the slot to itself. A device whose password this gateway has verified before does
 * not even need that: the registry's record of recently verified credentials is consulted before the
 * throttle ({@link DeviceRegistry.isRecentlyVerified}). The throttle slows guessing; it does not lock
 * devices out.
 *
 * Known and unknown ids are throttled alike (the state is kept per id as presented), so the throttle tells
 * nobody which ids exist.
 */
import type { Clock } from "../../clock.js";

export interface AuthThrottleLimits {
  /** Failures a source address, or a client id, may have before it is backed off. */
  freeFailures: number;
  /** Longest backoff after a failure. */
  backoffMaxMs: number;
}

const BACKOFF_BASE_MS = 1000;
/**
 * How often a backed-off id is verified for a clean source: about one scrypt's time, so a clean address's
 * failure is usually recorded before the same address could take the slot again.
 */
const CLEAN_SOURCE_INTERVAL_MS = 100;
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
  /** When a clean source last got a verification of this (backed-off) id. */
  cleanSourceAtMs: number;
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

  /** Milliseconds until `source` and `id` are both out of their backoff; 0 when neither is in one. */
  waitMs(source: string, id: string): number {
    const now = this.#clock.now();
    const until = Math.max(
      this.#sources.get(source)?.closedUntilMs ?? 0,
      this.#ids.get(id)?.closedUntilMs ?? 0,
    );
    return Math.max(0, until - now);
  }

  /**
   * Whether an attempt from `source` for `id` may be verified now: neither is backed off, or only the id
   * is and `source` is clean and the id's clean-source slot is free. With `reserve` the slot is taken (call
   * it so just before verifying; without, to refuse early).
   */
  mayVerify(source: string, id: string, reserve: boolean): boolean {
    const now = this.#clock.now();
    const src = this.#sources.get(source);
    if (src && src.closedUntilMs > now) return false;
    const rec = this.#ids.get(id);
    if (!rec || rec.closedUntilMs <= now) return true;
    const isClean = !src || now - src.lastFailureMs > FORGET_AFTER_MS;
    if (!isClean || now - rec.cleanSourceAtMs < CLEAN_SOURCE_INTERVAL_MS) return false;
    if (reserve) rec.cleanSourceAtMs = now;
    return true;
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
    records.set(key, {
      failures,
      lastFailureMs: now,
      closedUntilMs,
      cleanSourceAtMs: previous?.cleanSourceAtMs ?? Number.NEGATIVE_INFINITY,
    });
    if (records.size > MAX_KEYS) {
      const stalest = records.keys().next();
      if (!stalest.done) records.delete(stalest.value);
    }
  }
}
