/**
 * Every ```yaml block of README.md and docs/*.md is configuration that loads as written. A block with a
 * `gateway:` section is a whole config file; any other block is deliberately partial and says so on the line
 * before it, `<!-- config-fragment -->` (its top-level keys are config sections) or
 * `<!-- config-fragment: SECTION -->` (the block is that section's value). A whole file goes through
 * `parseConfig`, every check included, with the files it names made to exist: absolute paths are moved under
 * a temporary root and each `…File` gets a private file there, a `credential:` name one in a temporary
 * credentials directory. A fragment is checked against the schema (keys, types, ranges, the section's own
 * cross-field rules) beside a minimal `gateway`: the checks across sections need the sections it leaves out.
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import { configSchema, parseConfig } from "../../src/config.js";
import { issueProblems } from "../../src/config-sections.js";
import { CREDENTIAL_PREFIX, CREDENTIALS_DIRECTORY_ENV } from "../../src/credentials.js";
import { GatewayError } from "../../src/errors.js";
import { tempDir } from "../helpers/gateway.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const DOCS = ["README.md", ...readdirSync(join(ROOT, "docs")).map((f) => `docs/${f}`)].filter((f) =>
  f.endsWith(".md"),
);
const FRAGMENT = /^<!-- config-fragment(?::\s*([A-Za-z]+))? -->$/;

interface Block {
  file: string;
  line: number;
  text: string;
  /** undefined: a whole file; "": top-level sections; else the section the block is the value of. */
  fragment: string | undefined;
}

/** The ```yaml blocks of a Markdown file, with the marker on the (non-blank) line before each. */
function yamlBlocks(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), "utf8").split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```yaml\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    let end = i + 1;
    while (end < lines.length && lines[end]!.trim() !== "```") end++;
    const text = lines
      .slice(i + 1, end)
      .map((l) => l.slice(indent))
      .join("\n");
    let before = i - 1;
    while (before >= 0 && lines[before]!.trim() === "") before--;
    const marker = before >= 0 ? FRAGMENT.exec(lines[before]!.trim()) : null;
    blocks.push({ file, line: i + 1, text, fragment: marker ? (marker[1] ?? "") : undefined });
    i = end;
  }
  return blocks;
}

const root = tempDir("vitalog-doc-yaml-");
const credentials = join(root, "credentials");
mkdirSync(credentials, { mode: 0o700 });
const savedCredentials = process.env[CREDENTIALS_DIRECTORY_ENV];
process.env[CREDENTIALS_DIRECTORY_ENV] = credentials;
after(() => {
  if (savedCredentials === undefined) delete process.env[CREDENTIALS_DIRECTORY_ENV];
  else process.env[CREDENTIALS_DIRECTORY_ENV] = savedCredentials;
  rmSync(root, { recursive: true, force: true });
});

/** Content of a made-up secret: long enough for the admin token's rule, a key's format is not read here. */
const SECRET = `${"ab".repeat(32)}\n`;

/** Moves every absolute path under `base` and makes every `…File` exist (0600, private directories). */
function materialise(node: unknown, base: string): void {
  if (node === null || typeof node !== "object") return;
  for (const [key, value] of Object.entries(node)) {
    if (typeof value !== "string") {
      materialise(value, base);
      continue;
    }
    const isFile = key.endsWith("File");
    if (isFile && value.startsWith(CREDENTIAL_PREFIX)) {
      writeFileSync(join(credentials, value.slice(CREDENTIAL_PREFIX.length)), SECRET, { mode: 0o600 });
    } else if (value.startsWith("/") && (isFile || key === "stateDir" || key === "path")) {
      const moved = join(base, value);
      (node as Record<string, unknown>)[key] = moved;
      if (isFile) {
        mkdirSync(dirname(moved), { recursive: true, mode: 0o700 });
        writeFileSync(moved, SECRET, { mode: 0o600 });
      }
    }
  }
}

/** The problems of one block, as `path: message` lines (none when it loads). */
function problemsOf(block: Block, n: number): string[] {
  const doc = parseDocument(block.text, { uniqueKeys: true });
  if (doc.errors.length > 0) return doc.errors.map((e) => `(yaml): ${e.message.split("\n")[0]}`);
  const parsed = (doc.toJS() ?? {}) as Record<string, unknown>;
  if (block.fragment !== undefined) {
    const sections = block.fragment === "" ? parsed : { [block.fragment]: parsed };
    const gateway = { id: "gw-doc", stateDir: "state", ...(sections.gateway as object | undefined) };
    const r = configSchema.safeParse({ ...sections, gateway });
    return r.success ? [] : issueProblems(r.error.issues).map((p) => `${p.path}: ${p.message}`);
  }
  const raw = parsed;
  const base = join(root, `block-${n}`);
  mkdirSync(join(base, "state"), { recursive: true, mode: 0o700 });
  materialise(raw, base);
  try {
    parseConfig(raw, base, `${block.file}:${block.line}`);
    return [];
  } catch (err) {
    if (!(err instanceof GatewayError) || err.code !== "CONFIG_INVALID") throw err;
    return (err.details as { path: string; message: string }[]).map((p) => `${p.path}: ${p.message}`);
  }
}

describe("the YAML blocks of the documentation", () => {
  const blocks = DOCS.flatMap(yamlBlocks);

  it("include README's whole configuration example", () => {
    assert.ok(blocks.some((b) => b.file === "README.md" && b.fragment === undefined));
  });

  blocks.forEach((block, n) => {
    it(`${block.file}:${block.line} loads as written`, () => {
      const isWhole = /^gateway:\s*\n\s+id:/m.test(block.text);
      assert.ok(
        isWhole || block.fragment !== undefined,
        "a block without a gateway section is marked <!-- config-fragment --> on the line before it",
      );
      assert.deepEqual(problemsOf(block, n), []);
    });
  });
});
