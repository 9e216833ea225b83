import { type ChildProcess, spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Path of the compiled CLI entry (tests run from dist/test). */
export const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../../src/main.js");

/** A `vitalog run` child that has logged "ready", with the ports it bound. */
export interface SpawnedGateway {
  child: ChildProcess;
  /** Everything the child wrote to stdout and stderr so far. */
  output: () => string;
  /**
   * The ports the child bound, from its "ready" line. A test MUST configure port 0 and read these: a port
   * picked by binding and releasing it can be taken by another test file before the child binds it.
   */
  mqttPort: number;
  /** 0 when the admin HTTP is off. */
  adminPort: number;
}

/**
 * The bound ports in the "ready" log line (pino JSON) of a `vitalog run`'s stdout, or undefined while that
 * line is not there yet. Pass whole lines only.
 */
export function readyPorts(out: string): { mqttPort: number; adminPort: number } | undefined {
  for (const line of out.split("\n")) {
    if (!line.includes('"msg":"ready"')) continue;
    const ready = JSON.parse(line) as { mqttPort?: unknown; adminPort?: unknown };
    if (typeof ready.mqttPort !== "number" || typeof ready.adminPort !== "number")
      throw new Error(`the "ready" line names no bound ports: ${line}`);
    return { mqttPort: ready.mqttPort, adminPort: ready.adminPort };
  }
  return undefined;
}

/**
 * Runs `vitalog run --config FILE` as a child process and resolves once it logs "ready" (a whole line),
 * with the ports it bound.
 */
export function spawnGateway(configFile: string, env: NodeJS.ProcessEnv = {}): Promise<SpawnedGateway> {
  const child = spawn(process.execPath, [MAIN, "run", "--config", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  let stdout = ""; // parsed apart from stderr, whose chunks may fall inside a stdout line in `out`
  let isReady = false;
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`gateway not ready in 15 s:\n${out}`)), 15_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (isReady) return;
      stdout += d.toString();
      let ports: ReturnType<typeof readyPorts>;
      try {
        ports = readyPorts(stdout.slice(0, stdout.lastIndexOf("\n") + 1));
      } catch (err) {
        clearTimeout(timer);
        rej(err);
        return;
      }
      if (!ports) return;
      isReady = true;
      clearTimeout(timer);
      res({ child, output: () => out, ...ports });
    });
    child.stderr!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      rej(new Error(`gateway exited early with ${code}:\n${out}`));
    });
  });
}

export function waitExit(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((res) => child.once("exit", (code, signal) => res({ code, signal })));
}
