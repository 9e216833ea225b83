/**
 * The gateway process as the shipped systemd unit runs it: its `Environment=` settings and the node flags
 * of its `ExecStart=`, read from systemd/vitalog.service, so benchmarks measure what is deployed (memory
 * especially: glibc arena settings and V8 heap flags change RSS by a factor of two).
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const UNIT = resolve(dirname(fileURLToPath(import.meta.url)), "../../systemd/vitalog.service");

export interface UnitProcess {
  env: Record<string, string>;
  /** Node flags before the script path in ExecStart. */
  nodeArgs: string[];
}

export function unitProcess(unitFile = UNIT): UnitProcess {
  const env: Record<string, string> = {};
  let nodeArgs: string[] = [];
  for (const line of readFileSync(unitFile, "utf8").split("\n")) {
    const m = /^Environment=(\w+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
    if (line.startsWith("ExecStart=")) {
      const words = line.slice("ExecStart=".length).trim().split(/\s+/);
      nodeArgs = words
        .slice(1)
        .filter((w, i, all) => w.startsWith("--") && all.slice(0, i).every((x) => x.startsWith("--")));
    }
  }
  return { env, nodeArgs };
}
