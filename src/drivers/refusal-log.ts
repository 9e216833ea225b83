import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";

interface LastLine {
  deviceId: string | null;
  reason: string;
  atMs: number;
  /** Refusals not logged since `atMs`. */
  suppressed: number;
}

/**
 * Refusal log lines, rate-limited: at most one `warn` per (device, reason) per `intervalMs`, carrying how
 * many refusals were suppressed since the previous one. A device flooding bad frames costs the journal one
 * line a minute per reason. The refusal's detail may carry measurement values, so it is logged only at
 * `debug` (one line per frame and reason, when enabled). A key that went quiet with suppressed refusals
 * gets a closing `warn` from a timer, so no count is left unreported.
 */
export class RefusalLog {
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #last = new Map<string, LastLine>();
  #timer: unknown = null;

  constructor(deps: { log: Logger; clock: Clock; intervalMs?: number }) {
    this.#log = deps.log;
    this.#clock = deps.clock;
    this.#intervalMs = deps.intervalMs ?? 60_000;
  }

  /** Notes `count` refusals of `reason` from one frame of the device (null: a device the gateway does not know). */
  note(deviceId: string | null, reason: string, detail: string, count: number, nowMs: number): void {
    if (this.#log.isLevelEnabled("debug"))
      this.#log.debug({ deviceId, reason, count, detail }, "input rejection detail");
    const key = `${deviceId ?? ""}\u0000${reason}`;
    const last = this.#last.get(key);
    if (last && this.#isRecent(last, nowMs)) {
      last.suppressed += count;
      this.#arm();
      return;
    }
    this.#log.warn({ deviceId, reason, count, suppressed: last?.suppressed ?? 0 }, "input rejected");
    this.#last.set(key, { deviceId, reason, atMs: nowMs, suppressed: 0 });
    this.#arm();
  }

  /** Closes quiet keys: one `warn` for those with suppressed refusals, then forgets them (bounded memory). */
  #sweep(nowMs: number): void {
    for (const [key, line] of this.#last) {
      if (this.#isRecent(line, nowMs)) continue;
      if (line.suppressed === 0) {
        this.#last.delete(key);
        continue;
      }
      const { deviceId, reason, suppressed } = line;
      this.#log.warn({ deviceId, reason, count: 0, suppressed }, "input rejected");
      // this line counts for the key's interval too
      line.atMs = nowMs;
      line.suppressed = 0;
    }
  }

  #isRecent(line: LastLine, nowMs: number): boolean {
    return nowMs >= line.atMs && nowMs - line.atMs < this.#intervalMs;
  }

  #arm(): void {
    if (this.#timer !== null) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.#sweep(this.#clock.now());
      if (this.#last.size > 0) this.#arm();
    }, this.#intervalMs);
  }
}
