/**
 * Per-device admission: a token bucket on frames and one on readings, so one device can cost the
 * gateway no more than its budget whatever it sends (DESIGN.md "One device cannot hurt the others").
 * Hand-written rather than a rate-limit library: it is a dozen lines on the ingest hot path, runs on the
 * injected clock (tests replay it second by second) and needs the deficit in milliseconds, which
 * transports use to pause the offending socket.
 */
import type { Clock } from "../clock.js";
import { type IngestConfig, type RateLimit, rateLimitFor } from "./ingest-config.js";

/** Why a frame was not admitted. Wire strings: add, never rename. */
export type AdmissionRefusal = "rate_limited_messages" | "rate_limited_readings";

interface Bucket {
  tokens: number;
  atMs: number;
}

interface DeviceBudget {
  model: string | null;
  limit: RateLimit;
  messages: Bucket;
  readings: Bucket;
}

/** Token buckets per device; the state is bounded by the number of provisioned devices that spoke. */
export class Admission {
  readonly #config: IngestConfig;
  readonly #clock: Clock;
  readonly #budgets = new Map<string, DeviceBudget>();

  constructor(deps: { config: IngestConfig; clock: Clock }) {
    this.#config = deps.config;
    this.#clock = deps.clock;
  }

  /** The budget in force for a device of `model` (the registry's; selects `ingest.limits.models`). */
  limitOf(deviceId: string, model: string | null): RateLimit {
    return this.#budget(deviceId, model).limit;
  }

  /**
   * Takes one frame carrying `readings` readings, from both buckets or from neither. Refused, `waitMs`
   * says when the frame would pass. A full reading bucket admits one frame larger than the burst (and goes
   * into debt), so a legitimate stored-record upload bigger than the bucket is never refused forever.
   */
  take(
    deviceId: string,
    model: string | null,
    readings: number,
  ): { ok: true } | { ok: false; reason: AdmissionRefusal; waitMs: number } {
    const b = this.#budget(deviceId, model);
    const now = this.#clock.now();
    const { limit } = b;
    const messageWait = shortfallMs(b.messages, 1, limit.messagesPerSec, limit.messagesBurst, now);
    const readingWait =
      readings > 0 ? shortfallMs(b.readings, readings, limit.readingsPerSec, limit.readingsBurst, now) : 0;
    if (messageWait > 0 || readingWait > 0) {
      return messageWait >= readingWait
        ? { ok: false, reason: "rate_limited_messages", waitMs: messageWait }
        : { ok: false, reason: "rate_limited_readings", waitMs: readingWait };
    }
    b.messages.tokens -= 1;
    b.readings.tokens -= readings;
    return { ok: true };
  }

  /** Forgets a device (removed, or its model changed): its next frame starts with a full budget. */
  forget(deviceId: string): void {
    this.#budgets.delete(deviceId);
  }

  #budget(deviceId: string, model: string | null): DeviceBudget {
    let b = this.#budgets.get(deviceId);
    // a device whose model changed starts over under its new budget
    if (!b || b.model !== model) {
      const limit = rateLimitFor(this.#config, model);
      const now = this.#clock.now();
      b = {
        model,
        limit,
        messages: { tokens: limit.messagesBurst, atMs: now },
        readings: { tokens: limit.readingsBurst, atMs: now },
      };
      this.#budgets.set(deviceId, b);
    }
    return b;
  }
}

function refill(b: Bucket, ratePerSec: number, burst: number, nowMs: number): void {
  // a clock that steps back never adds tokens
  const elapsed = Math.max(0, nowMs - b.atMs);
  b.tokens = Math.min(burst, b.tokens + (elapsed * ratePerSec) / 1000);
  b.atMs = nowMs;
}

/** Refills, then returns 0 when `n` tokens are there (or the bucket is full), else the milliseconds until they are. */
function shortfallMs(b: Bucket, n: number, ratePerSec: number, burst: number, nowMs: number): number {
  refill(b, ratePerSec, burst, nowMs);
  if (b.tokens >= n || b.tokens >= burst) return 0;
  const needed = Math.min(n, burst) - b.tokens;
  return Math.max(1, Math.ceil((needed / ratePerSec) * 1000));
}
