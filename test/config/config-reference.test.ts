/**
 * The configuration reference (docs/configuration.md) is generated from the schema by
 * scripts/config-reference.mjs: every key the schema accepts has a description, the committed text is what
 * the schema gives now, and `--check` refuses a text that is not, in one line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { tempDir } from "../helpers/gateway.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SCRIPT = join(ROOT, "scripts/config-reference.mjs");
const DOC = join(ROOT, "docs/configuration.md");

interface Row {
  path: string;
  type: string;
  default: string;
  allowed: string;
  description: string;
}
interface ReferenceScript {
  configJsonSchema(io?: "input" | "output"): Promise<Record<string, unknown>>;
  referenceRows(schema: unknown): Row[];
  undocumentedKeys(schema: unknown): string[];
  renderReference(schema: unknown, output?: unknown): string;
}
// a plain .mjs beside the other scripts, outside the compiled tree: imported by URL
const reference = (await import(new URL(`file://${SCRIPT}`).href)) as ReferenceScript;

const dir = tempDir("vitalog-config-reference-");
after(() => rmSync(dir, { recursive: true, force: true }));

function runScript(...args: string[]) {
  return spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: "utf8" });
}

describe("the configuration reference", () => {
  it("describes every key of the schema", async () => {
    const schema = await reference.configJsonSchema();
    assert.deepEqual(reference.undocumentedKeys(schema), []);
    const paths = reference.referenceRows(schema).map((r) => r.path);
    // a sample from every section, leaves under maps and lists included
    for (const key of [
      "gateway.stateDir",
      "mqtt.tls.requireClientCert",
      "devices[].passwordFile",
      "ingest.limits.models.<model>.readingsBurst",
      "tlog.signingKeyFile",
      "rules.thresholds.subjects.<subject>.<vital>.low[].persistenceSec",
      "rules.news2.bandPriority.low_medium",
      "alerts.recipients.<recipient>[].sink",
      "ble.devices[].address",
      "serial.ports[].fields.<label>.status",
      "drivers.packagesFrom",
      "anchor.keyFile",
    ])
      assert.ok(paths.includes(key), `${key} is in the reference`);
  });

  it("finds a key without a description, at any depth", () => {
    const schema = z.strictObject({
      section: z
        .strictObject({
          said: z.number().default(1).describe("a described key"),
          nested: z
            .array(z.strictObject({ silent: z.string() }))
            .default([])
            .describe("a described list"),
          byName: z.record(z.string(), z.boolean()).optional(),
        })
        .prefault({}),
    });
    const json = z.toJSONSchema(schema, { io: "input" });
    assert.deepEqual(reference.undocumentedKeys(json), ["section.nested[].silent", "section.byName"]);
    assert.throws(() => reference.renderReference(json), /section\.nested\[\]\.silent, section\.byName/);
  });

  it("renders type, default and range from the schema", async () => {
    const rows = reference.referenceRows(await reference.configJsonSchema());
    const port = rows.find((r) => r.path === "mqtt.port");
    assert.deepEqual(
      { type: port?.type, default: port?.default, allowed: port?.allowed },
      { type: "integer", default: "`1883`", allowed: "0–65535" },
    );
    const sync = rows.find((r) => r.path === "storage.synchronous");
    assert.equal(sync?.allowed, '`"full"`, `"normal"`');
    assert.equal(rows.find((r) => r.path === "gateway.id")?.default, "required");
    assert.equal(rows.find((r) => r.path === "admin.tokenFile")?.default, "none");
  });

  it("the committed reference is current", () => {
    const r = runScript("--check");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "");
  });

  it("--check refuses a stale reference with one line, and the script rewrites it", () => {
    const stale = join(dir, "configuration.md");
    const doc = readFileSync(DOC, "utf8");
    writeFileSync(
      stale,
      doc.replace("| `mqtt.port` | integer | `1883` |", "| `mqtt.port` | integer | `1884` |"),
    );
    const r = runScript("--check", stale);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /configuration reference is not what the schema gives/);
    const fixed = runScript(stale);
    assert.equal(fixed.status, 0, fixed.stderr);
    assert.equal(readFileSync(stale, "utf8"), doc);
  });
});
