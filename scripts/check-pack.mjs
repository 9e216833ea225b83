#!/usr/bin/env node
/**
 * Checks what `npm pack` would publish (usage: node scripts/check-pack.mjs [PACKAGE_DIR], after the
 * build; CI runs it from scripts/test.sh on this repository). The package is what a production gateway installs, so it holds the compiled
 * daemon and CLI, the files an operator or auditor reads beside them, and nothing else:
 *
 * - every file matches ALLOWED, none matches DENIED (tests, benchmarks, simulators, sources, source maps);
 * - every compiled file comes from a current source (no stale output of a deleted module);
 * - the entry points of `bin` and `exports` and the files loaded by URL are present, `bin` has a shebang;
 * - every import of a packed module resolves: a relative one to a packed file, a bare one to a built-in
 *   or a production dependency. Only a lazy `import()` may name what a production install lacks, and only
 *   the parts in LAZY (the demo's simulators and local EVM node), which the demo reports when absent;
 * - development-only packages are not production dependencies;
 * - the tarball stays within BUDGET.
 *
 * Imports are read from tsc's output with regular expressions: tsc keeps one statement per import, and a
 * comment that looked like an import would only cause a false alarm, never hide a missing file.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, normalize, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), ".."));

const ALLOWED = [
  /^package\.json$/,
  /^(README|SECURITY)\.md$/,
  /^LICEN[CS]E(\.\w+)?$/,
  /^dist\/src\/.+\.(js|json|d\.ts)$/,
  /^docs\/[\w-]+\.md$/,
  /^systemd\/vitalog\.service$/,
  // the registry contract's source, from which an auditor rebuilds the deployed bytecode
  /^src\/anchor\/contracts\/\w+\.sol$/,
];
const DENIED = [
  [/^(dist\/)?(test|bench|firmware-sim|examples|scripts)\//, "development-only folder"],
  // the unit runs node without --enable-source-maps, and tsc rebuilds identical maps from the tagged sources
  [/\.map$/, "source map"],
  [/(?<!\.d)\.ts$/, "TypeScript source"],
  [/(^|\/)node_modules\//, "installed dependency"],
  [/(^|\/)\./, "dot file"],
];
/** Loaded by URL rather than by an import, so the import walk cannot find them. */
const REQUIRED = ["package.json", "README.md", "dist/src/batcher/commit/commit-thread-worker.js"];
/** Parts a production install lacks; only a lazy import() may name them. */
const LAZY = { paths: ["firmware-sim/"], packages: ["@foundry-rs/anvil"] };
/** Development-only packages that must never become production dependencies. anvil (a 43 MB binary) serves
 * the tests, the benchmarks and the demo; a devDependency rather than an optional one, because npm installs
 * optional dependencies by default and a gateway talks to a real EVM node. */
const DEV_ONLY = ["@foundry-rs/anvil"];
/** Static imports of development packages by modules that only a vendor's test run loads; the SDK
 * guide (docs/adding-your-device.md) has vendors install them as their own devDependencies. */
const TEST_TIME = { "dist/src/drivers/sdk-conformance.js": ["fast-check"] };
const BUDGET = { packedBytes: 1024 * 1024, unpackedBytes: 3.5 * 1024 * 1024, files: 700 };

const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
const [pack] = JSON.parse(
  execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: repo,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }),
);
const files = new Set(pack.files.map((f) => f.path));
const problems = [];

for (const f of files) {
  const denied = DENIED.find(([re]) => re.test(f));
  if (denied) problems.push(`${f}: ${denied[1]}, must not be packed`);
  else if (!ALLOWED.some((re) => re.test(f))) problems.push(`${f}: not on the allow-list`);
  const m = /^dist\/(src\/.+?)\.(d\.ts|js|json)$/.exec(f);
  if (m && !existsSync(join(repo, m[2] === "json" ? `${m[1]}.json` : `${m[1]}.ts`)))
    problems.push(`${f}: no source for it (stale build output: rebuild from a clean dist/)`);
}

const exportTargets = (e) => (typeof e === "string" ? [e] : Object.values(e ?? {}).flatMap(exportTargets));
const bins = typeof pkg.bin === "string" ? [pkg.bin] : Object.values(pkg.bin ?? {});
// a vendor writing TypeScript against an exported module needs its declarations beside it
const declarations = exportTargets(pkg.exports)
  .filter((t) => t.endsWith(".js"))
  .map((t) => t.replace(/\.js$/, ".d.ts"));
for (const f of [...REQUIRED, ...bins, ...exportTargets(pkg.exports), ...declarations].map((p) => normalize(p))) {
  if (!files.has(f)) problems.push(`${f}: required but not packed (is the build done?)`);
}
for (const b of bins.map((p) => normalize(p))) {
  if (files.has(b) && !readFileSync(join(repo, b), "utf8").startsWith("#!/usr/bin/env node\n"))
    problems.push(`${b}: a bin needs the line #!/usr/bin/env node first`);
}

const production = new Set([
  ...Object.keys(pkg.dependencies ?? {}),
  ...Object.keys(pkg.optionalDependencies ?? {}),
  ...Object.keys(pkg.peerDependencies ?? {}),
]);
for (const d of DEV_ONLY) {
  if (production.has(d) || (pkg.bundleDependencies ?? pkg.bundledDependencies ?? []).includes(d))
    problems.push(`package.json: ${d} is development-only, keep it in devDependencies`);
}
const builtins = new Set(builtinModules);
const packageName = (s) => s.split("/").slice(0, s.startsWith("@") ? 2 : 1).join("/");
const IMPORTS = [
  [/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm, false],
  [/^\s*import\s*["']([^"']+)["']/gm, false],
  [/new URL\(\s*["'](\.[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g, false],
  [/\bimport\(\s*["']([^"']+)["']\s*\)/g, true],
];
for (const f of files) {
  if (!f.endsWith(".js")) continue;
  const code = readFileSync(join(repo, f), "utf8");
  for (const [re, isLazy] of IMPORTS) {
    for (const [, spec] of code.matchAll(re)) {
      if (spec.startsWith(".")) {
        const target = normalize(join(dirname(f), spec));
        const lazyOk = isLazy && LAZY.paths.some((p) => relative("dist", target).startsWith(p));
        if (!files.has(target) && !lazyOk) problems.push(`${f}: imports ${spec}, which is not packed`);
      } else if (!spec.startsWith("node:") && !builtins.has(spec)) {
        const name = packageName(spec);
        const ok = production.has(name) || (isLazy && LAZY.packages.includes(name)) || TEST_TIME[f]?.includes(name);
        if (!ok) problems.push(`${f}: imports ${name}, which a production install does not have`);
      }
    }
  }
}

const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
if (pack.size > BUDGET.packedBytes) problems.push(`tarball ${kib(pack.size)} > budget ${kib(BUDGET.packedBytes)}`);
if (pack.unpackedSize > BUDGET.unpackedBytes)
  problems.push(`unpacked ${kib(pack.unpackedSize)} > budget ${kib(BUDGET.unpackedBytes)}`);
if (files.size > BUDGET.files) problems.push(`${files.size} files > budget ${BUDGET.files}`);

process.stdout.write(
  `npm pack ${pack.name}@${pack.version}: ${files.size} files, ${kib(pack.size)} packed, ` +
    `${kib(pack.unpackedSize)} unpacked (budget ${BUDGET.files} files, ${kib(BUDGET.packedBytes)}, ` +
    `${kib(BUDGET.unpackedBytes)})\n`,
);
if (problems.length) {
  process.stderr.write(`${problems.length} packaging problem(s):\n${problems.map((p) => `  ${p}\n`).join("")}`);
  process.exit(1);
}
process.stdout.write("package contents ok\n");
