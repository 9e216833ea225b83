import { execFile } from "node:child_process";
import type { Logger } from "./log.js";

/**
 * systemd readiness and watchdog (Type=notify). Node has no unix datagram sockets, so this uses
 * `systemd-notify` with the daemon's pid; the unit therefore sets NotifyAccess=all. Without
 * NOTIFY_SOCKET (not under systemd) every call is a no-op.
 */
export class SdNotify {
  readonly #log: Logger;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  get isActive(): boolean {
    return Boolean(process.env.NOTIFY_SOCKET);
  }

  ready(): void {
    this.#send("READY=1");
    const usec = Number(process.env.WATCHDOG_USEC);
    if (this.isActive && Number.isFinite(usec) && usec > 0) {
      // ping at half the interval, from the event loop: a stuck loop stops the pings
      this.#watchdog = setInterval(() => this.#send("WATCHDOG=1"), Math.max(500, usec / 2000));
      this.#watchdog.unref();
    }
  }

  stopping(): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#send("STOPPING=1");
  }

  #send(state: string): void {
    if (!this.isActive) return;
    execFile("systemd-notify", [`--pid=${process.pid}`, state], (err) => {
      if (err) this.#log.warn({ err: err.message, state }, "sd_notify failed");
    });
  }
}
