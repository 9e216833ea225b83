/**
 * The demo's optional parts: firmware-sim/ (not in the npm package) and anvil (the optional package
 * @foundry-rs/anvil) are loaded when the demo starts, and when one is absent the demo says in one line how to
 * get it. Checked on a copy of the build that lacks each.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { tempDir } from "../helpers/gateway.js";
import { REPO } from "../security/unit-systemd.js";

/** A copy of the built package in `dir`: dist/src, optionally dist/firmware-sim, and node_modules without `omit`. */
function install(dir: string, opts: { isSimulated: boolean; omit?: string }): string {
  cpSync(join(REPO, "package.json"), join(dir, "package.json"));
  cpSync(join(REPO, "dist/src"), join(dir, "dist/src"), { recursive: true });
  if (opts.isSimulated)
    cpSync(join(REPO, "dist/firmware-sim"), join(dir, "dist/firmware-sim"), { recursive: true });
  const modules = join(REPO, "node_modules");
  mkdirSync(join(dir, "node_modules"));
  for (const name of readdirSync(modules)) {
    if (name === opts.omit) continue;
    symlinkSync(join(modules, name), join(dir, "node_modules", name));
  }
  return join(dir, "dist/src/main.js");
}

describe("the demo without its optional parts", () => {
  const dir = tempDir("vitalog-demo-optional-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("says in one line how to get the simulators when firmware-sim/ is absent", () => {
    const main = install(join(dir, "no-sim"), { isSimulated: false });
    const r = spawnSync(process.execPath, [main, "demo", "--seconds", "1"], {
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 69, r.stderr);
    assert.match(r.stderr, /^vitalog: COMPONENT_MISSING: .*firmware-sim.*clone of the repository.*\n$/);
    assert.equal(r.stderr.split("\n").length, 2, "one line");
  });

  it("runs without anchoring and says how to get anvil when @foundry-rs/anvil is absent", {
    timeout: 90_000,
  }, () => {
    const main = install(join(dir, "no-anvil"), { isSimulated: true, omit: "@foundry-rs" });
    const r = spawnSync(process.execPath, [main, "demo", "--devices", "1", "--seconds", "2"], {
      encoding: "utf8",
      timeout: 80_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^ledger: anvil is not installed, anchoring off; to see anchoring: npm install @foundry-rs\/anvil/m,
    );
  });
});
