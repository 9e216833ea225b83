/**
 * `vitalog demo` runs as two processes so that nothing it started can outlive it. The command the user ran
 * (the supervisor) starts the demo proper (the worker) as the leader of a process group of its own; every
 * helper the worker starts (dbus-daemon, socat, anvil, the simulators) is in that group. The worker is told
 * when the supervisor dies, however it dies: through `setpriv --pdeathsig TERM` (util-linux; the kernel's
 * PR_SET_PDEATHSIG [prctl(2)], which survives the exec of node) and, where setpriv is missing, by noticing its
 * parent pid change. Told, it stops as after Ctrl-C, then kills its whole group. When the supervisor lives to
 * see the worker exit (Ctrl-C, SIGTERM, SIGHUP, --seconds), it kills what is left of the group itself.
 */
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Set in the worker's environment: it runs the demo itself instead of supervising one. */
export const DEMO_WORKER_ENV = "VITALOG_DEMO_WORKER";

/** True when setpriv (util-linux) can give the worker a parent-death signal. */
function hasSetpriv(): boolean {
  return spawnSync("setpriv", ["--version"], { stdio: "ignore" }).status === 0;
}

/** Runs the demo in a worker process group and returns its exit status; signals are passed on to it. */
export async function superviseDemo(argv: string[]): Promise<number> {
  const main = fileURLToPath(new URL("../main.js", import.meta.url));
  const node = [process.execPath, ...process.execArgv, main, "demo", ...argv];
  const [file, ...args] = hasSetpriv() ? ["setpriv", "--pdeathsig", "TERM", "--", ...node] : node;
  const worker = spawn(file!, args, {
    stdio: ["ignore", "inherit", "inherit"],
    detached: true,
    env: { ...process.env, [DEMO_WORKER_ENV]: "1" },
  });
  const forward = () => worker.kill("SIGTERM");
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const s of signals) process.on(s, forward);
  const code = await new Promise<number>((resolve) => {
    worker.once("error", () => resolve(1));
    worker.once("exit", (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  for (const s of signals) process.off(s, forward);
  sweepGroup(worker.pid);
  return code;
}

/** SIGKILL to every process left in the group led by `pgid` (none, normally: ESRCH is fine). */
export function sweepGroup(pgid: number | undefined): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // ESRCH: the group is empty already
  }
}
