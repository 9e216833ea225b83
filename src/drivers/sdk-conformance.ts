/**
 * The conformance suite every definitions package runs (vendors and the built-ins alike).
 *
 * Usage, in a vendor package's test file:
 *
 *   import { registerConformanceTests } from "vitalog/sdk-conformance";
 *   import * as acme from "../src/definition.js";
 *   registerConformanceTests(acme);            // registers node:test tests; run with `node --test`
 *
 * This module imports `fast-check` (property tests), so a vendor package needs `fast-check` (^4) as a
 * devDependency next to `vitalog`. The gateway never loads this module at run time.
 *
 * What it checks, per definition (BLE, serial, or an MQTT payload format): the definition is valid; its
 * `sdkVersion` is a caret range or an exact version (the SDK's range policy) and contains `SDK_VERSION` (npm
 * semver semantics);
 * per decoder: every example frame decodes to ≥ 1 reading that ingest accepts; decoding is pure (same result
 * twice, input untouched); every truncation of an example, random frames and mutated examples either throw
 * `DecodeError` or return a well-formed result whose readings are inside the hard limits of src/reading.ts.
 */
import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isVitalKind, normaliseInput } from "../reading.js";
import { type AnyDeviceDefinition, anyDefinitionProblems } from "./mqtt-definition.js";
import type { DecodeContext } from "./profiles/decode-result.js";
import {
  DecodeError,
  type Decoder,
  hex,
  isSdkCompatible,
  SDK_VERSION,
  sdkRangePolicyProblem,
} from "./sdk.js";

export interface ConformanceOptions {
  /** Gateway time used for example frames (default: Date.now() when the suite registers). */
  nowMs?: number | undefined;
  /** fast-check runs per property (default 300). */
  numRuns?: number | undefined;
  /** fast-check seed, for reproducing a failure. */
  seed?: number | undefined;
  /** Extra context for decoders that need it (e.g. cgmSessionStartMs). */
  context?: Partial<DecodeContext> | undefined;
}

/** Accepted shapes of a definitions module: `{ definitions }`, an array, or one definition. */
export type DefinitionsSource =
  | { readonly definitions: readonly AnyDeviceDefinition[] }
  | readonly AnyDeviceDefinition[]
  | AnyDeviceDefinition;

export function definitionsOf(source: DefinitionsSource): readonly AnyDeviceDefinition[] {
  if (Array.isArray(source)) return source;
  if (typeof source === "object" && source !== null && "definitions" in source) return source.definitions;
  return [source as AnyDeviceDefinition];
}

/**
 * Problems with one reading. `strict` (example frames): ingest must accept it as is, device time included.
 * Otherwise (random frames): the value must be inside the hard limits; the device time, if any, a finite number.
 */
export function readingProblems(reading: unknown, nowMs: number, strict: boolean): string[] {
  if (typeof reading !== "object" || reading === null) return ["reading is not an object"];
  const r = reading as Record<string, unknown>;
  const p: string[] = [];
  if (!isVitalKind(r.kind)) p.push(`kind ${JSON.stringify(r.kind)} is not a VitalKind`);
  if (typeof r.value !== "number" || !Number.isFinite(r.value))
    p.push(`value ${String(r.value)} is not finite`);
  if (typeof r.unit !== "string") p.push("unit is not a string");
  if (
    r.deviceTimeMs !== undefined &&
    (typeof r.deviceTimeMs !== "number" || !Number.isFinite(r.deviceTimeMs))
  ) {
    p.push("deviceTimeMs is not a finite number");
  }
  if (r.mdc !== undefined && (typeof r.mdc !== "number" || !Number.isInteger(r.mdc) || r.mdc <= 0)) {
    p.push("mdc is not a positive integer");
  }
  if (r.flags !== undefined && !Array.isArray(r.flags)) p.push("flags is not an array");
  if (p.length > 0) return p;
  const input = { kind: r.kind, value: r.value, unit: r.unit, flags: r.flags } as Parameters<
    typeof normaliseInput
  >[0];
  if (strict && r.deviceTimeMs !== undefined) input.deviceTimeMs = r.deviceTimeMs as number;
  const check = normaliseInput(input, nowMs);
  if (!check.ok)
    p.push(`ingest would reject ${r.kind} ${String(r.value)} ${String(r.unit)}: ${check.reason}`);
  return p;
}

/** Problems with a DecodeResult's shape and readings. */
export function resultProblems(result: unknown, nowMs: number, strict: boolean): string[] {
  if (typeof result !== "object" || result === null) return ["result is not an object"];
  const r = result as Record<string, unknown>;
  const p: string[] = [];
  if (!Array.isArray(r.readings)) p.push("readings is not an array");
  else
    r.readings.forEach((x, i) => {
      p.push(...readingProblems(x, nowMs, strict).map((m) => `readings[${i}]: ${m}`));
    });
  if (!Array.isArray(r.absent)) p.push("absent is not an array");
  else if (
    r.absent.some(
      (a) => typeof a !== "object" || a === null || !isVitalKind(a.kind) || typeof a.reason !== "string",
    )
  ) {
    p.push("absent entries must be { kind, reason }");
  }
  if (!Array.isArray(r.conditions) || r.conditions.some((c) => typeof c !== "string"))
    p.push("conditions is not a string array");
  if (
    r.rejected !== undefined &&
    (!Array.isArray(r.rejected) ||
      r.rejected.some(
        (x) =>
          typeof x !== "object" ||
          x === null ||
          typeof x.reason !== "string" ||
          !SNAKE_CASE.test(x.reason) ||
          typeof x.detail !== "string",
      ))
  )
    p.push("rejected entries must be { reason (snake_case), detail }");
  if (r.status !== undefined && (typeof r.status !== "object" || r.status === null))
    p.push("status is not an object");
  return p;
}

/**
 * Decodes one frame and lists every contract breach: an exception other than DecodeError, a malformed
 * result, an impure decode (different second result, or modified input bytes).
 */
export function frameProblems(
  decode: Decoder,
  bytes: Uint8Array,
  ctx: DecodeContext,
  strict = false,
): string[] {
  const before = Uint8Array.from(bytes);
  let first: unknown;
  try {
    first = decode(bytes, ctx);
  } catch (err) {
    if (err instanceof DecodeError)
      return strict ? [`example threw DecodeError ${err.reason}: ${err.message}`] : [];
    return [
      `threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)} instead of DecodeError`,
    ];
  }
  const p = resultProblems(first, ctx.nowMs, strict);
  if (!bytes.every((b, i) => b === before[i])) p.push("decoder modified its input bytes");
  try {
    deepStrictEqual(decode(Uint8Array.from(before), ctx), first);
  } catch {
    p.push("decoding the same bytes twice gave different results (decoder is not pure)");
  }
  if (strict && p.length === 0 && (first as { readings: unknown[] }).readings.length === 0) {
    p.push("example decoded to no reading");
  }
  return p;
}

/** Random frames, and examples mutated (octets overwritten, truncated, extended). */
export function frameArbitrary(examples: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const random = fc.uint8Array({ maxLength: 48 });
  if (examples.length === 0) return random;
  const mutated = fc
    .record({
      base: fc.constantFrom(...examples),
      writes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      tail: fc.uint8Array({ maxLength: 6 }),
    })
    .map(({ base, writes, cut, tail }) => {
      const b = Uint8Array.from(base);
      for (const [i, v] of writes) if (b.length > 0) b[i % b.length] = v;
      const kept = cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
      const out = new Uint8Array(kept.length + tail.length);
      out.set(kept);
      out.set(tail, kept.length);
      return out;
    });
  return fc.oneof({ arbitrary: random, weight: 1 }, { arbitrary: mutated, weight: 3 });
}

function contextArbitrary(nowMs: number, extra: Partial<DecodeContext>): fc.Arbitrary<DecodeContext> {
  return fc
    .record({
      deviceUtcOffsetMin: fc.option(fc.integer({ min: -720, max: 840 }), { nil: undefined }),
      cgmSessionStartMs: fc.option(fc.integer({ min: nowMs - 30 * 86_400_000, max: nowMs }), {
        nil: undefined,
      }),
    })
    .map((c) => ({ ...c, ...extra, nowMs }));
}

interface NamedDecoder {
  name: string;
  decode: Decoder;
  examples: readonly string[];
}

function decodersOf(def: AnyDeviceDefinition): NamedDecoder[] {
  if (def.match.transport === "mqtt" && "mqtt" in def)
    return [{ name: `mqtt ${def.match.topic}`, decode: def.mqtt.decode, examples: def.mqtt.examples }];
  if (!("notify" in def || "serial" in def)) return [];
  const list: NamedDecoder[] = [...(def.notify ?? [])];
  if (def.serial) list.push({ name: "serial", decode: def.serial.decode, examples: def.serial.examples });
  return list;
}

const SNAKE_CASE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;

function fail(problems: readonly string[]): void {
  if (problems.length > 0) throw new Error(problems.join("\n"));
}

/** Registers the conformance tests (node:test `describe`/`it`) for every definition in `source`. */
export function registerConformanceTests(source: DefinitionsSource, options: ConformanceOptions = {}): void {
  const nowMs = options.nowMs ?? Date.now();
  const extra = options.context ?? {};
  const params = {
    numRuns: options.numRuns ?? 300,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
  };
  for (const def of definitionsOf(source)) {
    describe(`${def.vendor} ${def.model}: vitalog SDK ${SDK_VERSION} conformance`, () => {
      it("is a valid device definition", () => fail(anyDefinitionProblems(def)));
      it(`declares its sdkVersion (${def.sdkVersion}) as a caret range or an exact version`, () => {
        const problem = sdkRangePolicyProblem(def.sdkVersion);
        if (problem !== undefined) throw new Error(problem);
      });
      it(`declares an sdkVersion range (${def.sdkVersion}) that includes SDK ${SDK_VERSION}`, () => {
        if (!isSdkCompatible(def.sdkVersion)) throw new Error(`${def.sdkVersion} excludes ${SDK_VERSION}`);
      });
      for (const d of decodersOf(def)) {
        const ctx: DecodeContext = { ...extra, nowMs };
        const examples = d.examples.map((e) => hex(e));
        describe(`decoder ${d.name}`, () => {
          it("decodes every example frame to readings ingest accepts, purely", () => {
            if (examples.length === 0) throw new Error("no example frames");
            fail(
              examples.flatMap((b, i) =>
                frameProblems(d.decode, b, ctx, true).map((m) => `example ${i}: ${m}`),
              ),
            );
          });
          it("throws only DecodeError on every truncation of every example", () => {
            const problems: string[] = [];
            for (const b of examples) {
              for (let n = 0; n < b.length; n++)
                problems.push(...frameProblems(d.decode, b.subarray(0, n), ctx));
            }
            fail(problems);
          });
          it("throws only DecodeError, and never returns a value outside the hard limits, on random and mutated frames", () => {
            fc.assert(
              fc.property(frameArbitrary(examples), contextArbitrary(nowMs, extra), (bytes, c) => {
                fail(frameProblems(d.decode, bytes, c));
              }),
              params,
            );
          });
        });
      }
    });
  }
}
