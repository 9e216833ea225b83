import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ResultBuilder } from "../../src/drivers/profiles/decode-result.js";
import { DecodeError, type Decoder, heartRateMeasurement, hex } from "../../src/drivers/sdk.js";
import {
  definitionsOf,
  frameProblems,
  readingProblems,
  resultProblems,
} from "../../src/drivers/sdk-conformance.js";

const NOW = Date.UTC(2025, 0, 1);
const ctx = { nowMs: NOW };

describe("SDK conformance checks catch broken decoders", () => {
  it("accepts a conforming decoder", () => {
    assert.deepEqual(frameProblems(heartRateMeasurement().decode, hex("16 48 55 03 40 03"), ctx, true), []);
    assert.deepEqual(frameProblems(heartRateMeasurement().decode, hex("16"), ctx), []);
  });

  it("reports an exception other than DecodeError", () => {
    const decode: Decoder = (b) => {
      if (b.length < 2) throw new RangeError("index out of range");
      return new ResultBuilder(ctx).build({});
    };
    assert.deepEqual(frameProblems(decode, hex("01"), ctx), [
      "threw RangeError: index out of range instead of DecodeError",
    ]);
  });

  it("reports a DecodeError on an example frame, and an example with no reading", () => {
    const decode: Decoder = () => {
      throw new DecodeError("frame_too_short", "short");
    };
    assert.deepEqual(frameProblems(decode, hex("01"), ctx, true), [
      "example threw DecodeError frame_too_short: short",
    ]);
    const empty: Decoder = () => new ResultBuilder(ctx).build({});
    assert.deepEqual(frameProblems(empty, hex("01"), ctx, true), ["example decoded to no reading"]);
  });

  it("reports a value outside the hard limits that bypassed ResultBuilder", () => {
    const decode: Decoder = () => ({
      readings: [{ kind: "spo2", value: 101, unit: "%" }],
      absent: [],
      conditions: [],
      details: {},
    });
    assert.deepEqual(frameProblems(decode, hex("01"), ctx), [
      "readings[0]: ingest would reject spo2 101 %: above_physiologic_limit",
    ]);
  });

  it("reports impure decoders: state between calls, or modified input", () => {
    let n = 60;
    const stateful: Decoder = () => {
      const out = new ResultBuilder(ctx);
      out.reading({ kind: "heart_rate", value: n++, unit: "/min" });
      return out.build({});
    };
    assert.deepEqual(frameProblems(stateful, hex("01"), ctx), [
      "decoding the same bytes twice gave different results (decoder is not pure)",
    ]);
    const mutating: Decoder = (b) => {
      b[0] = 0;
      return new ResultBuilder(ctx).build({});
    };
    assert.deepEqual(frameProblems(mutating, hex("01"), ctx), ["decoder modified its input bytes"]);
  });

  it("checks reading and result shapes", () => {
    assert.deepEqual(readingProblems({ kind: "mood", value: Number.NaN, unit: 3, mdc: -1 }, NOW, false), [
      'kind "mood" is not a VitalKind',
      "value NaN is not finite",
      "unit is not a string",
      "mdc is not a positive integer",
    ]);
    assert.deepEqual(readingProblems({ kind: "heart_rate", value: 60, unit: "bpm" }, NOW, false), [
      "ingest would reject heart_rate 60 bpm: unit_unsupported",
    ]);
    // strict (examples): the device time must also pass ingest
    assert.deepEqual(
      readingProblems(
        { kind: "heart_rate", value: 60, unit: "/min", deviceTimeMs: NOW + 3_600_000 },
        NOW,
        true,
      ),
      ["ingest would reject heart_rate 60 /min: device_time_in_future"],
    );
    assert.deepEqual(resultProblems({ readings: [], absent: [{ kind: "x" }], conditions: [1] }, NOW, false), [
      "absent entries must be { kind, reason }",
      "conditions is not a string array",
    ]);
  });

  it("accepts a module, an array or a single definition", () => {
    const def = { vendor: "a" } as never;
    assert.deepEqual(definitionsOf({ definitions: [def] }), [def]);
    assert.deepEqual(definitionsOf([def]), [def]);
    assert.deepEqual(definitionsOf(def), [def]);
  });

  it("registered suite fails a vendor package whose decoder throws TypeError on short frames", () => {
    const sdk = fileURLToPath(new URL("../../src/drivers/sdk.js", import.meta.url));
    const conformance = fileURLToPath(new URL("../../src/drivers/sdk-conformance.js", import.meta.url));
    const script = `
      const sdk = await import(${JSON.stringify(sdk)});
      const { registerConformanceTests } = await import(${JSON.stringify(conformance)});
      const decode = (bytes, ctx) => {
        const out = new sdk.ResultBuilder(ctx);
        out.reading({ kind: "heart_rate", value: bytes[1] + bytes[2], unit: "/min" }); // NaN when short
        if (bytes.length < 3) throw new TypeError("short");
        return out.build({});
      };
      registerConformanceTests([{
        vendor: "Broken", model: "B-1", sdkVersion: "^1.0.0",
        match: { transport: "ble", namePrefix: "B-" },
        notify: [{ name: "broken", service: "fff0", characteristic: "fff1", property: "notify", decode, examples: ["01 30 30"] }],
      }], { numRuns: 50, seed: 1 });
    `;
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      env,
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /ok \d+ - is a valid device definition/);
    assert.match(run.stdout, /ok \d+ - decodes every example frame to readings ingest accepts, purely/);
    assert.match(run.stdout, /not ok \d+ - throws only DecodeError on every truncation of every example/);
    assert.match(
      run.stdout,
      /not ok \d+ - throws only DecodeError, and never returns a value outside the hard limits/,
    );
    assert.match(run.stdout, /threw TypeError: short instead of DecodeError/);
  });
});
