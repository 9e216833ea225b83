/**
 * The CLI delivers all its output before it exits, however slowly its reader reads, and ends quietly when
 * the reader goes away. Real child processes and real pipes; the database is seeded through the gateway.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fillLog, writeConfig } from "./batcher/tlog-fixture.js";
import { MAIN, waitExit } from "./helpers/child-gateway.js";
import { tempDir } from "./helpers/gateway.js";

const READINGS = 20_000;

describe("CLI output through a pipe", () => {
  const root = tempDir("vitalog-cli-output-");
  let configFile: string;
  let ids: Set<string>;
  after(() => rmSync(root, { recursive: true, force: true }));

  before(async () => {
    const dir = join(root, "gw");
    mkdirSync(dir);
    configFile = writeConfig(dir);
    const filled = await fillLog(configFile, ["pt-a"], READINGS);
    ids = new Set(filled.ids.get("pt-a"));
    assert.equal(ids.size, READINGS);
  });

  it("vitalog readings --limit 20000 into a pipe whose reader starts 1 s late delivers all 20,000 lines and exits 0", async () => {
    // the shell pipeline of the report: the reader sleeps before it reads; pipefail keeps vitalog's status
    const script = 'set -o pipefail; "$0" "$1" readings --limit 20000 --config "$2" | { sleep 1; cat; }';
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((res) =>
      execFile(
        "bash",
        ["-c", script, process.execPath, MAIN, configFile],
        { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (err as { code?: unknown }).code : 0;
          res({ code: typeof code === "number" ? code : null, stdout, stderr });
        },
      ),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const lines = r.stdout.split("\n");
    assert.equal(lines.pop(), "", "output ends with a newline");
    assert.equal(lines.length, READINGS);
    const seen = new Set(lines.map((l) => (JSON.parse(l) as { id: string }).id));
    assert.deepEqual(seen, ids);
  });

  it("a reader that closes the pipe early ends vitalog readings quietly with status 141", async () => {
    const child = spawn(process.execPath, [MAIN, "readings", "--limit", "20000", "--config", configFile], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    // read the first chunk, then go away like `head -n 1`
    const first = await new Promise<string>((res) =>
      child.stdout.once("data", (d: Buffer) => res(d.toString())),
    );
    child.stdout.destroy();
    assert.ok(JSON.parse(first.split("\n")[0]!).id);
    assert.deepEqual(await waitExit(child), { code: 141, signal: null });
    assert.equal(stderr, "");
  });
});
