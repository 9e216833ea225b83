/**
 * The README's install step puts `vitalog` on PATH: `npm install -g .` from a built clone links the package
 * and its bin into npm's global prefix (/usr/local as root; a user passes `--prefix ~/.local`). Here into a
 * temporary prefix, from a copy of the built package, then `vitalog --help` is run by name.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { tempDir } from "../helpers/gateway.js";
import { REPO } from "../security/unit-systemd.js";

describe("installing vitalog on PATH", () => {
  const dir = tempDir("vitalog-install-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("npm install -g --prefix P . gives a vitalog that runs by name from P/bin", { timeout: 120_000 }, () => {
    // a built clone: package.json, dist/, and its dependencies (linked one by one: npm must not touch ours)
    const clone = join(dir, "clone");
    mkdirSync(join(clone, "node_modules"), { recursive: true });
    cpSync(join(REPO, "package.json"), join(clone, "package.json"));
    cpSync(join(REPO, "dist/src"), join(clone, "dist/src"), { recursive: true });
    for (const name of readdirSync(join(REPO, "node_modules"))) {
      if (!name.startsWith("."))
        symlinkSync(join(REPO, "node_modules", name), join(clone, "node_modules", name));
    }
    const prefix = join(dir, "prefix");
    // npm is the one beside this node (a user's PATH may hold another)
    const npm = join(dirname(process.execPath), "npm");
    const installed = spawnSync(
      npm,
      ["install", "-g", "--prefix", prefix, "--ignore-scripts", "--offline", "--no-audit", "--no-fund", "."],
      { cwd: clone, encoding: "utf8", timeout: 100_000 },
    );
    assert.equal(installed.status, 0, installed.stderr);
    const env = { ...process.env, PATH: `${join(prefix, "bin")}:${dirname(process.execPath)}:/usr/bin:/bin` };
    const help = spawnSync("sh", ["-c", "vitalog --help"], { cwd: dir, env, encoding: "utf8" });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^usage: vitalog <command>/);
    const run = spawnSync("sh", ["-c", "vitalog run --help"], { cwd: dir, env, encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /vitalog run --config FILE/);
  });
});
