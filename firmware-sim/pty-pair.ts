/**
 * A real kernel pty pair from socat (`socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B`): what the gateway
 * opens at `gatewayPath` behaves like a serial port whose device is at `devicePath`. `unplug()` kills socat
 * (both links disappear and the open ends see EIO, as when a USB adapter is pulled); `replug()` starts a new
 * pair at the same paths. Fails with a clear message when socat is missing.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

export function hasSocat(): boolean {
  return spawnSync("socat", ["-V"], { stdio: "ignore" }).status === 0;
}

export class PtyPair {
  readonly gatewayPath: string;
  readonly devicePath: string;
  #child: ChildProcess | null = null;

  private constructor(dir: string, name: string) {
    this.gatewayPath = join(dir, `${name}-gateway`);
    this.devicePath = join(dir, `${name}-device`);
  }

  /** Starts socat and resolves once both links exist. */
  static async open(dir: string, name = "tty"): Promise<PtyPair> {
    if (!hasSocat())
      throw new Error("socat not found: install the Debian package `socat` (scripts/test.sh does)");
    const pair = new PtyPair(dir, name);
    await pair.replug();
    return pair;
  }

  get isPlugged(): boolean {
    return this.#child !== null;
  }

  async replug(): Promise<void> {
    if (this.#child) return;
    const child = spawn(
      "socat",
      [`pty,raw,echo=0,link=${this.gatewayPath}`, `pty,raw,echo=0,link=${this.devicePath}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
    });
    this.#child = child;
    const deadline = Date.now() + 5000;
    while (!(existsSync(this.gatewayPath) && existsSync(this.devicePath))) {
      if (child.exitCode !== null) throw new Error(`socat exited with ${child.exitCode}: ${err}`);
      if (Date.now() > deadline) throw new Error(`socat links did not appear: ${err}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Kills socat and waits until it is gone (and its links with it). */
  async unplug(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  }
}
