/**
 * The life cycle of the gateway's parts. A subsystem returns its services from its `createX(deps)`; the
 * composition root (app/) adds them to one {@link Lifecycle} in dependency order. Nothing here knows a
 * subsystem.
 */

/**
 * A part of the gateway with a life cycle (checkpointer, alert sinks, drivers, anchor publisher …).
 *
 * - `start` MUST resolve once the part does its job, and MUST reject when it cannot (the gateway then
 *   stops what already started and does not run half-started).
 * - `stop` MUST be idempotent and bounded: it resolves once the part holds no timer, socket or handle
 *   that keeps the process alive. It MAY be called without a `start` (a start that failed earlier).
 * - `status`, when present, MUST be synchronous, cheap and free of patient data; it is shown by
 *   `vitalog status` under the service's name.
 */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  status?(): unknown;
}

/** Where the life cycle reports what it did (the gateway's logger satisfies it). */
export interface LifecycleLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * Services started in the order they were added and stopped in reverse. `start` rejects with the first
 * failure after stopping every service in reverse; `stop` stops every added service (started or not: the
 * {@link Service} contract allows it, and a part may hold resources from before its start) and, like
 * `status`, never throws.
 */
export class Lifecycle {
  readonly #services: Service[] = [];
  readonly #log: LifecycleLog;
  #isStarting = false;
  #isStopped = false;

  constructor(log: LifecycleLog) {
    this.#log = log;
  }

  /** Adds services; call before `start`. */
  add(...services: readonly Service[]): void {
    if (this.#isStarting || this.#isStopped) throw new TypeError("services are added before start");
    for (const s of services) {
      if (this.#services.some((other) => other.name === s.name))
        throw new TypeError(`service ${s.name} added twice`);
      this.#services.push(s);
    }
  }

  async start(): Promise<void> {
    this.#isStarting = true;
    for (const s of this.#services) {
      if (this.#isStopped) return;
      try {
        await s.start();
      } catch (err) {
        await this.stop();
        throw err;
      }
      this.#log.info({ service: s.name }, "service started");
    }
  }

  /** Stops every service in reverse order, once; a failing stop is logged and the others still stop. */
  async stop(): Promise<void> {
    if (this.#isStopped) return;
    this.#isStopped = true;
    for (const s of [...this.#services].reverse()) {
      try {
        await s.stop();
      } catch (err) {
        this.#log.warn(
          { service: s.name, err: err instanceof Error ? err.message : String(err) },
          "service stop failed",
        );
      }
    }
  }

  /** Each service's status by name; a status that throws shows as `{ error }`. */
  status(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const s of this.#services) {
      if (!s.status) continue;
      try {
        out[s.name] = s.status();
      } catch (err) {
        out[s.name] = { error: err instanceof Error ? err.message : String(err) };
      }
    }
    return out;
  }
}
