/**
 * The architecture as rules on the import graph of src/ (docs/architecture.md; DESIGN.md "Layout and
 * composition"). Layers, bottom up:
 * - core/ (Service, Lifecycle, ports): imports only core/ and Node built-ins;
 * - shared kernel: the files directly in src/ (reading model, errors, clock, ids, db, …);
 * - subsystems: anchor/, batcher/, drivers/, rules/, users/, control/, each importing core, the kernel and
 *   itself;
 * - roots, the only modules that may know several subsystems: the composition root (app/), the CLI commands
 *   (cli/, main.ts), and the two lists that name every subsystem's part by design: the config schema
 *   (config-schema.ts, config.ts) and the database migrations (migrations.ts).
 * The browser-portable verifier (batcher/verifier/) imports only itself, @noble and @scure/base: no Node API.
 */
import assert from "node:assert/strict";
import { dirname, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { closure, cycles, type FileImports, importGraph, specifiers } from "./helpers/import-graph.js";

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

const graph = importGraph(ROOT, "src");
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
  });

  it("lets only the roots import more than one subsystem (known crossings only shrink)", () => {
    const found: Record<string, string[]> = {};
    for (const [file, { local }] of graph) {
      if (ROOTS.some((r) => r.test(file))) continue;
      const own = subsystemOf(file);
      const reached = new Set(
        local.map(subsystemOf).filter((s): s is string => s !== undefined && s !== own),
      );
      if (own === undefined ? reached.size > 1 : reached.size > 0) found[file] = [...reached].sort();
    }
    assert.deepEqual(found, KNOWN_CROSSINGS);
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
