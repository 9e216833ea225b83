/** Builds a real gateway state dir with readings, events and signed checkpoints, for tlog tests. */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Gateway } from "../../src/app/gateway.js";
import { systemClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import type { ReadingInput } from "../../src/reading.js";
import { MAIN } from "../helpers/child-gateway.js";
import { waitFor } from "../helpers/gateway.js";

export interface LogFixture {
  dir: string;
  configFile: string;
  dbFile: string;
  /** Reading ids per subject, in storage order. */
  ids: Map<string, string[]>;
}

export function writeConfig(dir: string, extra: string[] = []): string {
  const configFile = join(dir, "vitalog.yaml");
  writeFileSync(
    configFile,
    [
      "gateway: { id: tlog-gw, origin: test.vitalog.invalid/gw/tlog-gw, stateDir: state }",
      "mqtt: { port: 0 }",
      "admin: { port: 0 }",
      "log: { level: silent }",
      "storage: { synchronous: normal }",
      ...extra,
    ].join("\n"),
  );
  return configFile;
}

/** Starts a gateway in-process on `configFile`, stores `perSubject` readings for each subject, waits for the checkpoint. */
export async function fillLog(
  configFile: string,
  subjects: string[],
  perSubject: number,
  baseMs = 1_763_700_000_000,
) {
  const config = loadConfig(configFile);
  const gw = await Gateway.start(config, { log: createLogger("silent"), clock: systemClock });
  const ids = new Map<string, string[]>(subjects.map((s) => [s, []]));
  gw.ingest.addListener({ onReading: (r) => ids.get(r.subjectId)?.push(r.id) });
  try {
    // the devices the readings come from, bound to their subjects (a commit refuses an unbound device's frames)
    for (const [k, s] of subjects.entries()) {
      const id = `dev-${k}`;
      if (gw.registry.get(id) === undefined)
        await gw.registry.add({ id, subjectId: s, password: `${id}-secret` }, baseMs);
      else await gw.registry.bind({ id, subjectId: s }, baseMs, { via: "cli" });
    }
    const pending: Promise<void>[] = [];
    for (let n = 0; n < perSubject; n++) {
      for (const [k, s] of subjects.entries()) {
        const input: ReadingInput = {
          kind: "heart_rate",
          value: 60 + (n % 40),
          unit: "/min",
          deviceTimeMs: baseMs + n * 1000,
        };
        pending.push(
          new Promise((res, rej) =>
            gw.ingest.submit(
              { deviceId: `dev-${k}`, subjectId: s, transport: "mqtt" },
              { inputs: [input] },
              null,
              (err) => (err ? rej(err) : res()),
            ),
          ),
        );
      }
    }
    await Promise.all(pending);
    // unbound again, so that a test may erase their subjects
    for (const k of subjects.keys()) await gw.registry.remove(`dev-${k}`, baseMs);
    // an event through the group commit (not a device event: those replay into the devices table's audit)
    await new Promise<void>((res, rej) =>
      gw.recordEvent(
        { type: "fixture_marker", atMs: baseMs, subjectId: subjects[0] ?? null, deviceId: "dev-x", data: {} },
        (e) => (e ? rej(e) : res()),
      ),
    );
    const status = () => gw.status().tlog as { tree_size: number; checkpoint_size: number };
    await waitFor(
      () => status().checkpoint_size === status().tree_size && status().tree_size > 0,
      10_000,
      "checkpoint",
    );
  } finally {
    await gw.stop();
  }
  return { ids, config };
}

/** Runs the CLI in a child process. */
export function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [MAIN, ...args], { encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      res({ code: typeof code === "number" ? code : 1, stdout, stderr });
    });
  });
}
