#!/usr/bin/env node
/**
 * The configuration reference, generated from the config schema (src/config.ts) so it cannot drift from
 * what the gateway accepts. Usage, after the build:
 *
 *   node scripts/config-reference.mjs            rewrite the reference in docs/configuration.md
 *   node scripts/config-reference.mjs --check    exit 1 with one line when the committed text is not current
 *   (either form takes the document's path as a last argument, for tests)
 *
 * zod's own `z.toJSONSchema` gives the keys, types, defaults and ranges (the input side: what an operator
 * writes, before defaults and transforms); the descriptions come from `.describe()` / `.meta({ description })`
 * on the schema fields. Every row of the reference MUST have a description: `undocumentedKeys` lists those
 * without, and the reference refuses to render while any is left. Only the text between the two markers is
 * generated; the prose around them is written by hand.
 *
 * A plain .mjs beside the other scripts (check-pack, sbom): it runs on the compiled schema in dist/ and is
 * never part of the package.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
export const START = "<!-- config-reference:start -->";
export const END = "<!-- config-reference:end -->";

/**
 * The config schema as JSON Schema, input side (what the file may hold); `io: "output"` gives the output
 * side, whose defaults `renderReference` reads where zod leaves them out of the input side (a key whose value
 * is transformed, e.g. `ble.devices`, whose addresses are upper-cased).
 */
export async function configJsonSchema(io = "input") {
  const { configSchema } = await import(pathToFileURL(join(repo, "dist/src/config.js")).href);
  return z.toJSONSchema(configSchema, { io, unrepresentable: "any" });
}

/**
 * The rows of the reference, in schema order: every leaf key, and every map (`<name>` keys) and list of
 * objects (`[]`), whose rows carry what applies to all their entries. An object is a row only when it is
 * described and not a top-level section.
 * A map's key is shown as `<keyName>` (the map's `keyName` meta), else `<key>`.
 */
export function referenceRows(schema) {
  const rows = [];
  const visit = (node, path, isRequired) => {
    const alternatives = node.anyOf ?? node.oneOf;
    if (alternatives?.some(isObjectLike)) {
      // a union of objects (one entry written in one of several shapes): the keys of every shape
      for (const alt of alternatives) visit(alt, path, false);
      return;
    }
    if (node.type === "object" && node.properties) {
      // a described object inside a section gets a row of its own, saying what the keys under it are for
      if (path.includes(".") && node.description) rows.push(row(node, path, isRequired));
      const required = new Set(node.required ?? []);
      for (const [key, child] of Object.entries(node.properties))
        visit(child, path ? `${path}.${key}` : key, required.has(key));
      return;
    }
    if (node.type === "object" && typeof node.additionalProperties === "object") {
      rows.push(row(node, path, isRequired));
      // a map of plain values is one row; a map of objects or lists has rows for what its entries hold
      const value = node.additionalProperties;
      if (isObjectLike(value) || value.type === "array")
        visit(value, `${path}.<${node.keyName ?? "key"}>`, false);
      return;
    }
    if (node.type === "array" && node.items && isObjectLike(node.items)) {
      rows.push(row(node, path, isRequired));
      visit(node.items, `${path}[]`, false);
      return;
    }
    rows.push(row(node, path, isRequired));
  };
  visit(schema, "", true);
  // a key that several shapes of a union share is one row, allowing what each shape allows
  const byPath = new Map();
  for (const r of rows) {
    const first = byPath.get(r.path);
    if (first === undefined) byPath.set(r.path, r);
    else if (r.allowed && !first.allowed.split(", ").includes(r.allowed))
      first.allowed = [first.allowed, r.allowed].filter(Boolean).join(", ");
  }
  return [...byPath.values()];
}

/** The paths of the rows that have no description. */
export function undocumentedKeys(schema) {
  return referenceRows(schema)
    .filter((r) => !r.description)
    .map((r) => r.path);
}

function isObjectLike(n) {
  return n.type === "object" || (n.anyOf ?? n.oneOf)?.some(isObjectLike) === true;
}

function row(node, path, isRequired) {
  return {
    path,
    type: typeOf(node),
    default: defaultOf(node, isRequired),
    allowed: allowedOf(node),
    description: node.description ?? "",
  };
}

function typeOf(n) {
  const alternatives = n.anyOf ?? n.oneOf;
  if (alternatives) return [...new Set(alternatives.map(typeOf))].join(" or ");
  if (n.type === "array") return `list of ${n.items ? typeOf(n.items) : "any"}`;
  if (n.type === "object" && typeof n.additionalProperties === "object") {
    const value = n.additionalProperties;
    return isObjectLike(value) || value.type === "array" ? "map" : `map of ${typeOf(value)}`;
  }
  if (n.type === "object") return "object";
  if (n.enum || n.const !== undefined) return n.type ?? "value";
  return n.type ?? "any";
}

function defaultOf(n, isRequired) {
  if (n.default !== undefined) return `\`${JSON.stringify(n.default)}\``;
  return isRequired ? "required" : "none";
}

function allowedOf(n) {
  const parts = [];
  const alternatives = n.anyOf ?? n.oneOf;
  if (alternatives) return alternatives.map(allowedOf).filter(Boolean).join("; ");
  if (n.enum) parts.push(n.enum.map((v) => `\`${JSON.stringify(v)}\``).join(", "));
  if (n.const !== undefined) parts.push(`\`${JSON.stringify(n.const)}\``);
  if (n.type === "null") parts.push("`null`");
  // zod bounds every integer to the safe range: not a limit an operator needs to read
  const min = n.minimum === Number.MIN_SAFE_INTEGER ? undefined : n.minimum;
  const max = n.maximum === Number.MAX_SAFE_INTEGER ? undefined : n.maximum;
  const lo =
    n.exclusiveMinimum !== undefined ? `> ${n.exclusiveMinimum}` : min !== undefined ? `≥ ${min}` : "";
  const hi =
    n.exclusiveMaximum !== undefined ? `< ${n.exclusiveMaximum}` : max !== undefined ? `≤ ${max}` : "";
  if (min !== undefined && max !== undefined) parts.push(`${min}–${max}`);
  else if (lo || hi) parts.push([lo, hi].filter(Boolean).join(", "));
  if (n.minLength > 1 && n.maxLength === undefined) parts.push(`at least ${n.minLength} characters`);
  else if (n.maxLength !== undefined) parts.push(`${n.minLength ?? 0}–${n.maxLength} characters`);
  if (n.format) parts.push(n.format);
  if (n.pattern) parts.push(`\`/${n.pattern}/\``);
  if (n.minItems > 0 && n.maxItems === undefined)
    parts.push(`at least ${n.minItems} ${n.minItems === 1 ? "entry" : "entries"}`);
  else if (n.maxItems !== undefined) parts.push(`${n.minItems ?? 0}–${n.maxItems} entries`);
  if (n.type === "array" && n.items && !isObjectLike(n.items)) {
    const each = allowedOf(n.items);
    if (each) parts.push(`each ${each}`);
  }
  if (n.type === "object" && n.propertyNames) {
    const keys = allowedOf(n.propertyNames);
    if (keys) parts.push(`keys ${keys}`);
  }
  const value = n.type === "object" ? n.additionalProperties : undefined;
  if (typeof value === "object" && !isObjectLike(value) && value.type !== "array") {
    const each = allowedOf(value);
    if (each) parts.push(`values ${each}`);
  }
  return parts.join("; ");
}

/** One Markdown table cell: no line break, no bare `|` (GFM escapes it inside code spans too). */
function cell(text) {
  return String(text)
    .replace(/\s*\n\s*/g, " ")
    .replaceAll("|", "\\|");
}

/**
 * The generated text between the markers: one table per top-level section. `output`: the output side of
 * the same schema, for the defaults the input side leaves out.
 */
export function renderReference(schema, output) {
  const missing = undocumentedKeys(schema);
  if (missing.length > 0) throw new Error(`config keys without a description: ${missing.join(", ")}`);
  const outputDefaults = new Map(output ? referenceRows(output).map((r) => [r.path, r.default]) : []);
  const out = [];
  for (const [section, node] of Object.entries(schema.properties)) {
    out.push(`### \`${section}\``, "");
    const rows = referenceRows({ type: "object", properties: { [section]: node } });
    // a section that is itself a row (a list, a map) says what it is in that row
    if (node.description && rows[0]?.path !== section) out.push(cell(node.description), "");
    out.push("| Key | Type | Default | Allowed | Meaning |", "|---|---|---|---|---|");
    for (const r of rows) {
      if (r.default === "none" && outputDefaults.get(r.path)?.startsWith("`"))
        r.default = outputDefaults.get(r.path);
      out.push(
        `| \`${cell(r.path)}\` | ${cell(r.type)} | ${cell(r.default)} | ${cell(r.allowed)} | ${cell(r.description)} |`,
      );
    }
    out.push("");
  }
  return out.join("\n");
}

/** `doc` with the text between the markers replaced by `generated`. */
export function withReference(doc, generated) {
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`markers ${START} … ${END} not found`);
  return `${doc.slice(0, start + START.length)}\n\n${generated}\n${doc.slice(end)}`;
}

async function main(args) {
  const check = args.includes("--check");
  const file = resolve(args.find((a) => !a.startsWith("--")) ?? join(repo, "docs/configuration.md"));
  const shown = relative(process.cwd(), file) || file;
  const doc = readFileSync(file, "utf8");
  const current = withReference(
    doc,
    renderReference(await configJsonSchema(), await configJsonSchema("output")),
  );
  if (!check) {
    if (current !== doc) writeFileSync(file, current);
    return 0;
  }
  if (current === doc) return 0;
  console.error(
    `${shown}: the configuration reference is not what the schema gives; run node scripts/config-reference.mjs`,
  );
  return 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(`config-reference: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
