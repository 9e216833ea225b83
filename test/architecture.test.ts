/**
 * The architecture as rules on the import graph of src/ (docs/architecture.md; DESIGN.md "Layout and
 * composition"). Layers, bottom up:
 * - core/ (Service, Lifecycle, ports): imports only core/ and Node built-ins;
 * - shared kernel: the files directly in src/ (reading model, errors, clock, ids, db, …);
 * - subsystems: anchor/, batcher/, drivers/, rules/, users/, control/, each importing core, the kernel and
 *   itself;
 * - roots, the only modules that may know several subsystems (and that nothing below them imports): the composition root (app/), the CLI commands
 *   (cli/, main.ts), and the two lists that name every subsystem's part by design: the config schema
 *   (config-schema.ts, config.ts) and the database migrations (migrations.ts).
 * The browser-portable verifier (batcher/verifier/) imports only itself, @noble and @scure/base: no Node API,
 * and loads nothing by a dynamic specifier, require or process.getBuiltinModule (which the reader cannot see).
 * A kernel file imports no subsystem.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  closure,
  cycles,
  type FileImports,
  importGraph,
  specifiers,
  stripComments,
} from "./helpers/import-graph.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SUBSYSTEMS = new Set(["anchor", "batcher", "drivers", "rules", "users", "control"]);
const ROOTS = [
  /^src\/app\//,
  /^src\/cli\//,
  /^src\/main\.ts$/,
  /^src\/config(-schema)?\.ts$/,
  /^src\/migrations\.ts$/,
];
const VERIFIER = "src/batcher/verifier/";
const VERIFIER_ENTRY = `${VERIFIER}bundle-verify.ts`;
/** Packages the verifier may use: isomorphic, audited, no Node API. */
const VERIFIER_PACKAGES = /^@noble\/(hashes|ed25519)(\/|$)|^@scure\/base$/;

/**
 * Subsystem files that still reach into another subsystem, each with the subsystems it reaches. This list
 * only shrinks: a new crossing fails the test, and so does an entry that is no longer needed. Most are the
 * log's evidence API (commit writers, canonical records, subject keys, logged events) used by alerting and
 * users, the audit reading other subsystems' tables, and the ingest batch types in the commit thread.
 */
const KNOWN_CROSSINGS: Readonly<Record<string, readonly string[]>> = {
  "src/anchor/anchor-proof.ts": ["batcher"],
  "src/anchor/bundle-anchor.ts": ["batcher"],
  "src/batcher/tlog/adopt-devices.ts": ["drivers"],
  "src/batcher/tlog/audit-adoptions.ts": ["drivers"],
  "src/batcher/tlog/audit-alerts.ts": ["rules"],
  "src/batcher/tlog/audit-devices.ts": ["drivers"],
  "src/batcher/tlog/audit-observations.ts": ["rules"],
  "src/batcher/tlog/audit-outbox.ts": ["rules"],
  "src/batcher/tlog/audit-rules.ts": ["rules"],
  "src/batcher/tlog/audit-users.ts": ["users"],
  "src/batcher/commit/commit-thread-protocol.ts": ["drivers"],
  "src/batcher/commit/commit-thread-worker.ts": ["drivers"],
  "src/batcher/commit/commit-thread.ts": ["drivers"],
  "src/batcher/tlog/erasure.ts": ["rules"],
  "src/drivers/ingest.ts": ["batcher"],
  "src/rules/commands.ts": ["users"],
  "src/rules/create-rules.ts": ["batcher", "drivers", "users"],
  "src/rules/rules-in-force-writer.ts": ["batcher"],
  "src/rules/rules-in-force.ts": ["batcher"],
  "src/rules/rules-service.ts": ["batcher"],
  "src/rules/sinks/alert-commit-writer.ts": ["batcher"],
  "src/rules/sinks/alert-log-restore.ts": ["batcher"],
  "src/rules/sinks/consumers.ts": ["drivers"],
  "src/rules/subject-lifecycle.ts": ["batcher", "drivers"],
  "src/rules/subject-limits-control.ts": ["batcher"],
  "src/rules/subject-limits.ts": ["batcher", "users"],
  "src/users/cli-authorization.ts": ["batcher", "control"],
  "src/users/create-users.ts": ["batcher"],
  "src/users/open-user-store.ts": ["batcher"],
  "src/users/user-directory.ts": ["batcher"],
};

/**
 * Files below the roots that still import a root (mostly the `Config` type for a slice, and `readSecretFile`,
 * from config.ts; the migrations list): each should take its own slice type and the kernel's helpers instead.
 * This list only shrinks, as KNOWN_CROSSINGS does.
 */
const KNOWN_ROOT_IMPORTS: Readonly<Record<string, readonly string[]>> = {
  "src/admin-server.ts": ["src/config.ts"],
  "src/anchor/create-anchor.ts": ["src/config.ts"],
  "src/batcher/commit/commit-thread-worker.ts": ["src/migrations.ts"],
  "src/batcher/tlog/create-tlog.ts": ["src/config.ts"],
  "src/batcher/tlog/key-files.ts": ["src/config-schema.ts"],
  "src/batcher/tlog/key-rotation.ts": ["src/config.ts"],
  "src/batcher/tlog/open-tlog.ts": ["src/config.ts", "src/migrations.ts"],
  "src/drivers/create-drivers.ts": ["src/config.ts"],
  "src/drivers/mqtt/create-mqtt-driver.ts": ["src/config.ts"],
  "src/drivers/mqtt/mqtt-transport.ts": ["src/config.ts"],
  "src/rules/create-rules.ts": ["src/config.ts"],
  "src/rules/sinks/consumers.ts": ["src/config.ts"],
  "src/rules/sinks/durable-sinks.ts": ["src/config.ts"],
  "src/users/cli-authorization.ts": ["src/config.ts"],
  "src/users/open-user-store.ts": ["src/config.ts"],
};
/** Ways to reach a module that the import reader cannot see: none of them in the verifier. */
const HIDDEN_LOADS =
  /\bimport\(\s*[^"'\s]|\brequire\(|\bprocess\.(getBuiltinModule|binding|dlopen)\b|\bcreateRequire\b/;

const graph = importGraph(ROOT, "src");
const isRoot = (file: string) => ROOTS.some((r) => r.test(file));
const localEdges = (g: ReadonlyMap<string, FileImports>) => new Map([...g].map(([f, i]) => [f, i.local]));
const subsystemOf = (file: string): string | undefined => {
  const parts = file.split("/");
  return parts.length > 2 && SUBSYSTEMS.has(parts[1]!) ? parts[1] : undefined;
};

describe("the import graph of src/", () => {
  it("has no cycle, type imports included", () => {
    assert.deepEqual(cycles(localEdges(graph)), []);
  });

  it("lets core/ import only core/ and Node built-ins", () => {
    const bad: string[] = [];
    for (const [file, { local, bare }] of graph) {
      if (!file.startsWith("src/core/")) continue;
      for (const l of local) if (!l.startsWith("src/core/")) bad.push(`${file} → ${l}`);
      for (const b of bare) if (!b.startsWith("node:")) bad.push(`${file} → ${b}`);
    }
    assert.deepEqual(bad, []);
  });

  it("keeps the verifier in its folder, free of Node APIs and of packages other than @noble and @scure/base", () => {
    const files = [...graph.keys()].filter((f) => f.startsWith(VERIFIER));
    assert.ok(files.includes(VERIFIER_ENTRY), `the verifier entry ${VERIFIER_ENTRY} exists`);
    const bad: string[] = [];
    for (const file of files) {
      const { local, bare } = graph.get(file)!;
      for (const l of local) if (!l.startsWith(VERIFIER)) bad.push(`${file} → ${l}`);
      for (const b of bare) if (!VERIFIER_PACKAGES.test(b)) bad.push(`${file} → ${b}`);
    }
    assert.deepEqual(bad, []);
    // everything the bundle verifier runs is in the folder
    assert.deepEqual(
      [...closure(graph, VERIFIER_ENTRY)].filter((f) => !f.startsWith(VERIFIER)),
      [],
    );
    // and nothing there loads a module in a way the reader above cannot see
    const hidden = files.filter((f) => HIDDEN_LOADS.test(stripComments(readFileSync(join(ROOT, f), "utf8"))));
    assert.deepEqual(hidden, []);
  });

  it("lets only the roots import more than one subsystem (known crossings only shrink)", () => {
    const found: Record<string, string[]> = {};
    for (const [file, { local }] of graph) {
      if (isRoot(file)) continue;
      const own = subsystemOf(file);
      const reached = new Set(
        local.map(subsystemOf).filter((s): s is string => s !== undefined && s !== own),
      );
      // a kernel file (own undefined) reaches no subsystem at all; a subsystem file none but its own
      if (reached.size > 0) found[file] = [...reached].sort();
    }
    assert.deepEqual(found, KNOWN_CROSSINGS);
  });

  it("lets nothing below the roots import a root (known ones only shrink)", () => {
    const found: Record<string, string[]> = {};
    for (const [file, { local }] of graph) {
      if (isRoot(file)) continue;
      const roots = [...new Set(local.filter(isRoot))].sort();
      if (roots.length > 0) found[file] = roots;
    }
    assert.deepEqual(found, KNOWN_ROOT_IMPORTS);
  });
});

describe("the import graph reader", () => {
  it("reads type imports, re-exports, dynamic imports and multi-line imports, and skips comments", () => {
    const source = [
      'import type { A } from "./a.js";',
      'export { B } from "./b.js";',
      "import {\n  C,\n  type D,\n} from './c.js';",
      'const e = await import("./e.js");',
      'import "./side-effect.js";',
      '/** import { X } from "./in-a-comment.js"; */',
      '// import { Y } from "./in-a-line-comment.js";',
      'const url = "http://example.org/x"; import { Z } from "node:fs";',
    ].join("\n");
    assert.deepEqual(specifiers(source), [
      "./a.js",
      "./b.js",
      "./c.js",
      "./e.js",
      "./side-effect.js",
      "node:fs",
    ]);
  });

  it("sees the loads the reader cannot follow, and not literal imports", () => {
    for (const hidden of [
      "await import(`node:fs`)",
      "await import(name)",
      'process.getBuiltinModule("node:crypto")',
      'require("node:fs")',
      "createRequire(import.meta.url)",
    ])
      assert.ok(HIDDEN_LOADS.test(hidden), hidden);
    assert.ok(!HIDDEN_LOADS.test('await import("./merkle.js")'));
  });

  it("finds a cycle of two, a longer one and a self-import, and none in a chain", () => {
    const g = new Map<string, string[]>([
      ["a", ["b"]],
      ["b", ["a"]],
      ["c", ["d"]],
      ["d", ["e"]],
      ["e", ["c"]],
      ["f", ["f"]],
      ["g", ["h"]],
      ["h", []],
    ]);
    assert.deepEqual(cycles(g), [["a", "b"], ["c", "d", "e"], ["f"]]);
  });
});
