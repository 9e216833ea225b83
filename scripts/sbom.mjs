#!/usr/bin/env node
// The CycloneDX SBOM of what a deployment installs (`npm ci --omit=dev`), for the security review
// (SECURITY.md). Usage: node scripts/sbom.mjs [OUT]   (default dist/sbom.cdx.json; dist/ is not committed)
//
// `npm sbom` is built into npm ≥ 10, so no dependency is added for it. It reads package-lock.json
// (--package-lock-only), so one commit gives one component list on any machine, every platform's optional
// packages included. Its own `--omit dev` cannot be used: it also drops production packages that a
// devDependency reaches too (here mqtt-packet, the MQTT parser, among about 45) [npm/cli#7909]. So the whole
// tree is listed and every component the lockfile marks `dev` (installed only for development) is removed,
// which is npm's own rule for `--omit=dev`.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(process.argv[2] ?? resolve(repo, "dist/sbom.cdx.json"));
const pkg = JSON.parse(readFileSync(resolve(repo, "package.json"), "utf8"));
const lock = JSON.parse(readFileSync(resolve(repo, "package-lock.json"), "utf8"));

const bom = JSON.parse(
  execFileSync("npm", ["sbom", "--sbom-format", "cyclonedx", "--package-lock-only"], {
    cwd: repo,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  }),
);

/** name@version of every lockfile package a production install keeps (some path to it is not dev-only). */
const runtime = new Set();
for (const [path, entry] of Object.entries(lock.packages)) {
  if (path === "" || entry.dev === true) continue;
  const name = entry.name ?? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
  runtime.add(`${name}@${entry.version}`);
}
const root = bom.metadata.component["bom-ref"];
bom.components = bom.components.filter((c) => runtime.has(`${c.name}@${c.version}`));
const kept = new Set([root, ...bom.components.map((c) => c["bom-ref"])]);
// the product itself depends on its `dependencies`; a devDependency that production also installs is
// listed as a component, reached through whichever runtime package needs it
const direct = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]);
const isDirect = (ref) => direct.has(bom.components.find((c) => c["bom-ref"] === ref)?.name);
bom.dependencies = bom.dependencies
  .filter((d) => kept.has(d.ref))
  .map((d) => ({
    ...d,
    dependsOn: (d.dependsOn ?? []).filter((r) => kept.has(r) && (d.ref !== root || isDirect(r))),
  }));
// npm names the root component after the checkout's folder; the product is the package
bom.metadata.component.name = pkg.name;

mkdirSync(dirname(out), { recursive: true });
writeFileSync(`${out}.tmp`, `${JSON.stringify(bom, null, 2)}\n`);
renameSync(`${out}.tmp`, out);
process.stdout.write(`SBOM (CycloneDX ${bom.specVersion}, ${bom.components.length} components): ${out}\n`);
