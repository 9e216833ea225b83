/**
 * `vitalog readings` prints oldest first; `--limit N` is the first N from `--since` on, `--tail N` the latest N
 * (as tail(1) shows a file's end). An operator who asks for the latest reading gets it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fillLog, writeConfig } from "../batcher/tlog-fixture.js";
import { MAIN } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";

const vitalog = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", timeout: 30_000 });

const seqs = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { value: number }).value);

describe("vitalog readings --tail", () => {
  const dir = tempDir("vitalog-readings-tail-");
  const config = writeConfig(dir);
  after(() => rmSync(dir, { recursive: true, force: true }));
  // five heart rates 60, 61, 62, 63, 64 from one device, stored in that order
  before(async () => {
    await fillLog(config, ["pt-1"], 5);
  });

  it("prints the latest N readings, oldest of them first", () => {
    const r = vitalog("readings", "--config", config, "--tail", "2");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(seqs(r.stdout), [63, 64]);
    assert.deepEqual(seqs(vitalog("readings", "--config", config, "--tail", "1").stdout), [64]);
  });

  it("keeps --limit as the first N, and refuses both at once", () => {
    assert.deepEqual(seqs(vitalog("readings", "--config", config, "--limit", "2").stdout), [60, 61]);
    const both = vitalog("readings", "--config", config, "--limit", "1", "--tail", "1");
    assert.equal(both.status, 64);
    assert.match(both.stderr, /^vitalog: USAGE: --limit and --tail are exclusive/);
    assert.equal(vitalog("readings", "--config", config, "--tail", "0").status, 64);
  });

  it("applies the filters before taking the latest", () => {
    const r = vitalog("readings", "--config", config, "--tail", "3", "--device", "dev-0");
    assert.deepEqual(seqs(r.stdout), [62, 63, 64]);
    assert.equal(vitalog("readings", "--config", config, "--tail", "3", "--device", "other").stdout, "");
  });
});
