/**
 * The CycloneDX SBOM that CI builds (scripts/sbom.mjs, run by scripts/test.sh into dist/sbom.cdx.json): it
 * must list exactly what a production install (`npm ci --omit=dev`) puts on a gateway, every named runtime
 * dependency at its locked version, and no development tool.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../helpers/gateway.js";
import { REPO } from "./unit-systemd.js";

interface Component {
  "bom-ref": string;
  name: string;
  version: string;
  scope?: string;
  purl?: string;
  hashes?: { alg: string; content: string }[];
}
interface Bom {
  bomFormat: string;
  specVersion: string;
  metadata: { component: Component };
  components: Component[];
  dependencies: { ref: string; dependsOn?: string[] }[];
}
interface LockEntry {
  name?: string;
  version: string;
  dev?: boolean;
}

const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")) as {
  packages: Record<string, LockEntry>;
};
const lockName = (path: string, e: LockEntry) =>
  e.name ?? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);

describe("the SBOM built in CI", () => {
  const dir = tempDir("vitalog-sbom-");
  let bom: Bom;
  after(() => rmSync(dir, { recursive: true, force: true }));

  before(async () => {
    const out = join(dir, "sbom.cdx.json");
    await new Promise<void>((res, rej) =>
      execFile(
        process.execPath,
        [join(REPO, "scripts/sbom.mjs"), out],
        { timeout: 120_000 },
        (err, _o, stderr) => (err ? rej(new Error(`${err.message}\n${stderr}`)) : res()),
      ),
    );
    bom = JSON.parse(readFileSync(out, "utf8")) as Bom;
  });

  it("is CycloneDX describing this product at its version", () => {
    assert.equal(bom.bomFormat, "CycloneDX");
    assert.ok(Number(bom.specVersion) >= 1.4, bom.specVersion);
    assert.equal(bom.metadata.component.name, pkg.name);
    assert.equal(bom.metadata.component.version, pkg.version);
    assert.equal(bom.metadata.component.purl, `pkg:npm/${pkg.name}@${pkg.version}`);
  });

  it("lists every runtime dependency at its locked version with a purl and a SHA-512, as the product's direct dependencies", () => {
    const byRef = new Map(bom.components.map((c) => [c["bom-ref"], c]));
    const root = bom.dependencies.find((d) => d.ref === bom.metadata.component["bom-ref"]);
    const direct = new Set(root?.dependsOn ?? []);
    for (const name of Object.keys(pkg.dependencies)) {
      const locked = lock.packages[`node_modules/${name}`]!.version;
      const ref = `${name}@${locked}`;
      const c = byRef.get(ref);
      assert.ok(c, `${ref} is a component`);
      assert.equal(c.purl, `pkg:npm/${name.replace("@", "%40")}@${locked}`);
      assert.ok(
        c.hashes?.some((h) => h.alg === "SHA-512" && /^[0-9a-f]{128}$/.test(h.content)),
        `${ref} hash`,
      );
      assert.ok(direct.has(ref), `the product depends on ${ref}`);
    }
    assert.equal(direct.size, Object.keys(pkg.dependencies).length, "and on nothing else directly");
  });

  it("lists exactly what a production install keeps, shared packages a devDependency also reaches included", () => {
    const runtime = new Set<string>();
    const devOnly = new Set<string>();
    for (const [path, e] of Object.entries(lock.packages)) {
      if (path === "") continue;
      (e.dev ? devOnly : runtime).add(`${lockName(path, e)}@${e.version}`);
    }
    const listed = new Set(bom.components.map((c) => `${c.name}@${c.version}`));
    assert.deepEqual(
      [...runtime].filter((x) => !listed.has(x)),
      [],
      "no runtime package is missing",
    );
    const tools = [...listed].filter((x) => !runtime.has(x));
    assert.deepEqual(tools, [], "no development-only package is listed");
    // the MQTT parser is a runtime package that is also a devDependency: `npm sbom --omit dev` drops it
    assert.ok(listed.has(`mqtt-packet@${lock.packages["node_modules/mqtt-packet"]!.version}`));
    for (const tool of ["@biomejs/biome", "fast-check", "solc", "merkletreejs"]) {
      assert.ok(!bom.components.some((c) => c.name === tool), `${tool} is a development tool`);
    }
  });

  it("keeps every dependency edge between listed components only", () => {
    const refs = new Set([bom.metadata.component["bom-ref"], ...bom.components.map((c) => c["bom-ref"])]);
    for (const d of bom.dependencies) {
      assert.ok(refs.has(d.ref), d.ref);
      for (const r of d.dependsOn ?? []) assert.ok(refs.has(r), `${d.ref} → ${r}`);
    }
  });
});
