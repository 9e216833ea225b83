/**
 * Vendor definition packages are loaded by npm package name (config `drivers.packages`), with the SDK
 * compatibility check; tested with the example vendor package installed into a temp npm project.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { findDefinition, loadDefinitionPackages } from "../../src/drivers/definition-loader.js";
import { driversConfigSchema } from "../../src/drivers/drivers-config.js";
import { GatewayError } from "../../src/errors.js";
import { tempDir } from "../helpers/gateway.js";

const here = dirname(fileURLToPath(import.meta.url));
const exampleSrc = resolve(here, "../../examples/vendor-acme-oximeter"); // dist/examples/…
const exampleManifest = resolve(here, "../../../examples/vendor-acme-oximeter/package.json");
const sdkUrl = new URL("../../src/drivers/sdk.js", import.meta.url).href;

describe("definition packages loaded by name from the config", () => {
  let project: string;

  before(() => {
    project = tempDir("vitalog-vendors-");
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "ward-7-gateway", private: true }));
    // "npm install @acme/vitalog-oximeter": the package's own manifest, its built files linked in
    const acme = join(project, "node_modules/@acme/vitalog-oximeter");
    mkdirSync(join(acme, "dist"), { recursive: true });
    writeFileSync(join(acme, "package.json"), readFileSync(exampleManifest));
    symlinkSync(join(exampleSrc, "src"), join(acme, "dist/src"));
    const future = join(project, "node_modules/vitalog-future-device");
    mkdirSync(future, { recursive: true });
    writeFileSync(
      join(future, "package.json"),
      JSON.stringify({ name: "vitalog-future-device", type: "module", main: "index.js" }),
    );
    writeFileSync(
      join(future, "index.js"),
      `import { plxContinuous } from ${JSON.stringify(sdkUrl)};
export const definitions = [{ vendor: "Future", model: "F-2", sdkVersion: "^2.0.0",
  match: { transport: "ble", serviceUuids: ["1822"] }, notify: [plxContinuous()] }];\n`,
    );
    const empty = join(project, "node_modules/vitalog-empty");
    mkdirSync(empty, { recursive: true });
    writeFileSync(
      join(empty, "package.json"),
      JSON.stringify({ name: "vitalog-empty", type: "module", main: "index.js" }),
    );
    writeFileSync(join(empty, "index.js"), "export const nothing = 1;\n");
  });

  after(() => rmSync(project, { recursive: true, force: true }));

  it("loads the example vendor package by its npm name", async () => {
    const loaded = await loadDefinitionPackages(["@acme/vitalog-oximeter"], { packagesFrom: project });
    assert.deepEqual(
      loaded.map((l) => [l.origin, l.definition.vendor, l.definition.model]),
      [["@acme/vitalog-oximeter", "Acme Medical", "OX-100 fingertip pulse oximeter"]],
    );
    const defs = loaded.map((l) => l.definition);
    assert.equal(findDefinition(defs, "acme medical/OX-100 fingertip pulse oximeter"), defs[0]);
    assert.equal(findDefinition(defs, "OX-100 fingertip pulse oximeter"), defs[0]);
    assert.equal(findDefinition(defs, "OX-200"), undefined);
  });

  it("refuses every bad package at once: missing, SDK-incompatible, no definitions (CONFIG_INVALID, exit 78)", async () => {
    await assert.rejects(
      loadDefinitionPackages(
        ["@acme/vitalog-oximeter", "vitalog-not-installed", "vitalog-future-device", "vitalog-empty"],
        {
          packagesFrom: project,
        },
      ),
      (err: unknown) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.code, "CONFIG_INVALID");
        assert.equal(err.exitCode, 78);
        const details = err.details as Array<{ path: string; message: string }>;
        assert.deepEqual(
          details.map((d) => d.path),
          ["drivers.packages.1", "drivers.packages.2", "drivers.packages.3"],
        );
        assert.match(details[0]!.message, /not installed/);
        assert.match(details[1]!.message, /sdkVersion \^2\.0\.0 does not include this SDK \(1\.2\.0\)/);
        assert.match(details[2]!.message, /does not export a non-empty `definitions` array/);
        return true;
      },
    );
  });

  it("validates the config slice: npm names only, no duplicates", () => {
    const r = driversConfigSchema.safeParse({ packages: ["../evil", "@acme/x", "@acme/x"] });
    assert.equal(r.success, false);
    assert.deepEqual(r.error?.issues.map((i) => i.path.join(".")).sort(), ["packages.0", "packages.2"]);
  });
});
