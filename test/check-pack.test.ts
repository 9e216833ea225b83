/**
 * scripts/check-pack.mjs, the check of what `npm pack` publishes, run on small packages built here: it
 * passes a clean one and names each way a production package goes wrong.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), "../../scripts/check-pack.mjs");
const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

type Files = Record<string, string>;
const MANIFEST = {
  name: "pkg-under-check",
  version: "1.0.0",
  type: "module",
  bin: { "pkg-under-check": "dist/src/main.js" },
  exports: { ".": "./dist/src/main.js" },
  files: ["dist/src/", "!dist/src/**/*.map"],
  dependencies: { yaml: "2.9.1" },
  devDependencies: { "@foundry-rs/anvil": "1.7.1", "fast-check": "4.10.2" },
};
const CLEAN: Files = {
  "README.md": "# pkg\n",
  "src/main.ts": "",
  "src/batcher/commit/commit-thread-worker.ts": "",
  "src/cli/demo.ts": "",
  "dist/src/main.js":
    '#!/usr/bin/env node\nimport { parse } from "yaml";\nimport "node:fs";\nconst demo = () => import("./cli/demo.js");\n',
  "dist/src/main.js.map": "{}",
  "dist/src/main.d.ts": "export {};\n",
  "dist/src/batcher/commit/commit-thread-worker.js": 'import { readFileSync } from "node:fs";\n',
  "dist/src/cli/demo.js":
    'export const sims = () => import("../../firmware-sim/scenarios.js");\nexport const anvil = () => import("@foundry-rs/anvil");\n',
};

/** Writes a package and runs the check on it: exit code and both outputs. */
async function check(files: Files, manifest: object = MANIFEST) {
  const dir = mkdtempSync(join(tmpdir(), "vitalog-check-pack-"));
  made.push(dir);
  for (const [path, text] of Object.entries({ ...files, "package.json": JSON.stringify(manifest) })) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return new Promise<{ code: number; out: string }>((res) =>
    execFile(process.execPath, [SCRIPT, dir], { timeout: 60_000 }, (err, stdout, stderr) =>
      res({ code: err ? Number(err.code) : 0, out: stdout + stderr }),
    ),
  );
}

describe("the npm pack check", () => {
  it("passes a package of compiled sources whose lazy imports alone name the simulators and anvil", async () => {
    const r = await check(CLEAN);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /pkg-under-check@1\.0\.0: 6 files/);
    assert.match(r.out, /package contents ok/);
  });

  it("fails a module that imports the simulators statically", async () => {
    const r = await check({
      ...CLEAN,
      "dist/src/cli/demo.js": 'import { x } from "../../firmware-sim/scenarios.js";\n',
    });
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /dist\/src\/cli\/demo\.js: imports \.\.\/\.\.\/firmware-sim\/scenarios\.js, which is not packed/,
    );
  });

  it("fails a lazy import of a packed path that is missing", async () => {
    const r = await check({
      ...CLEAN,
      "dist/src/cli/demo.js": 'export const v = () => import("./view.js");\n',
    });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /imports \.\/view\.js, which is not packed/);
  });

  it("fails anvil as a production dependency, and a static import of a development package", async () => {
    const manifest = { ...MANIFEST, dependencies: { yaml: "2.9.1", "@foundry-rs/anvil": "1.7.1" } };
    const r = await check({ ...CLEAN, "dist/src/cli/demo.js": 'import fc from "fast-check";\n' }, manifest);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /@foundry-rs\/anvil is development-only/);
    assert.match(
      r.out,
      /dist\/src\/cli\/demo\.js: imports fast-check, which a production install does not have/,
    );
  });

  it("fails tests, simulators, source maps and sources in the tarball", async () => {
    const manifest = { ...MANIFEST, files: ["dist/", "src/", "firmware-sim/"] };
    const r = await check({ ...CLEAN, "dist/test/a.test.js": "", "firmware-sim/sim.ts": "" }, manifest);
    assert.equal(r.code, 1, r.out);
    for (const f of ["dist/test/a.test.js", "firmware-sim/sim.ts", "dist/src/main.js.map", "src/main.ts"])
      assert.match(r.out, new RegExp(`${f.replaceAll(".", "\\.")}: `), f);
  });

  it("fails stale build output, a missing worker and a bin without its shebang", async () => {
    const { "dist/src/batcher/commit/commit-thread-worker.js": _worker, ...rest } = CLEAN;
    const r = await check({ ...rest, "dist/src/gone.js": "", "dist/src/main.js": 'import "node:fs";\n' });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /dist\/src\/gone\.js: no source for it/);
    assert.match(r.out, /dist\/src\/batcher\/commit\/commit-thread-worker\.js: required but not packed/);
    assert.match(r.out, /dist\/src\/main\.js: a bin needs the line #!\/usr\/bin\/env node first/);
  });

  it("fails an exported module packed without its type declarations", async () => {
    const { "dist/src/main.d.ts": _types, ...rest } = CLEAN;
    const r = await check(rest);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /dist\/src\/main\.d\.ts: required but not packed/);
  });

  it("fails a tarball over its size budget", async () => {
    const r = await check({ ...CLEAN, "dist/src/big.js": "x".repeat(4 * 1024 * 1024), "src/big.ts": "" });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /unpacked \d+ KiB > budget 3584 KiB/);
  });
});
