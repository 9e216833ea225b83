/** Retry timing of the durable sinks: capped exponential backoff with jitter (AWS "equal jitter" family). */

export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** 0 = fixed delays, 1 = uniformly in (0, delay]. */
  jitter: number;
  maxAgeSec: number;
}

/**
 * Delay before retry number `attempt` (1 = the first retry): min(max, initial × 2^(attempt−1)), of which the
 * `jitter` fraction is randomised downwards so that many gateways recovering together do not stampede.
 * Never below 1 ms, never above `maxDelayMs`.
 */
export function backoffDelayMs(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  if (!(attempt >= 1)) throw new RangeError("attempt must be >= 1");
  const exp = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 40));
  const delay = exp * (1 - policy.jitter * random());
  return Math.max(1, Math.min(policy.maxDelayMs, Math.round(delay)));
}

/** A refusal or failure reported by a delivery transport. `permanent` dead-letters the message at once. */
export class DeliveryError extends Error {
  readonly permanent: boolean;
  constructor(message: string, options: { permanent?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DeliveryError";
    this.permanent = options.permanent ?? false;
  }
}
