import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type DecodedPayload,
  decodePayload,
  PayloadError,
  SENML_NAMES,
} from "../../../src/drivers/mqtt/payload.js";
import { normaliseBatch, storableProblem, VITAL_KINDS } from "../../../src/reading.js";
import { stampReading } from "../../helpers/stamp-reading.js";

/**
 * Property tests of the MQTT payload path up to storage: whatever bytes a device sends, decodePayload
 * returns or throws a PayloadError (nothing else, no stack overflow), refusals carry snake_case reasons
 * and short details, and every reading that survives normalisation can be stored.
 */

const NOW = Date.UTC(2026, 10, 21, 12, 0, 0);
const FORMATS = ["senml", "json"] as const;
type Format = (typeof FORMATS)[number];
const SNAKE = /^[a-z][a-z0-9_]*$/;
const MAX_DETAIL_CHARS = 300;
const utf8 = (text: string) => new TextEncoder().encode(text);

/** What one payload came to, for the properties that want to know the test reached storage. */
interface Outcome {
  refused: string | undefined;
  stored: number;
}

/** Decodes, normalises, stamps and checks storability; fails on anything the path must never do. */
function ingestOnce(format: Format, bytes: Uint8Array): Outcome {
  let d: DecodedPayload;
  try {
    d = decodePayload(format, bytes);
  } catch (e) {
    if (!(e instanceof PayloadError)) throw e;
    assert.match(e.reason, SNAKE);
    assert.ok(e.message.length <= MAX_DETAIL_CHARS, e.message);
    return { refused: e.reason, stored: 0 };
  }
  for (const r of d.rejected) {
    assert.match(r.reason, SNAKE);
    assert.ok(r.detail.length <= MAX_DETAIL_CHARS, r.detail);
  }
  const { accepted, rejected } = normaliseBatch(d.inputs, NOW);
  for (const r of rejected) {
    assert.match(r.reason, SNAKE);
    assert.ok(r.detail.length <= MAX_DETAIL_CHARS, r.detail);
  }
  accepted.forEach((n, i) => {
    const reading = stampReading(n, NOW, i + 1);
    assert.equal(storableProblem(reading), undefined, `not storable: ${JSON.stringify(reading)}`);
  });
  return { refused: undefined, stored: accepted.length };
}
const ingestBoth = (bytes: Uint8Array) => FORMATS.map((f) => ingestOnce(f, bytes));

/** Numbers as the device writes them, extremes included (JSON.stringify cannot write -0 or 1e400). */
const numericText = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      "-0",
      "0",
      "72",
      "97",
      "36.6",
      "0.97",
      "120",
      "-5",
      "-1e20",
      "1e20",
      "1e308",
      "-1e308",
      "1e400",
      "-1e400",
      "1e-400",
      "9007199254740993",
      "-9007199254740993",
      "123456789012345678901234567890",
      "-268435456",
      "-268435457",
      "268435455",
      "268435456",
      "1763726400",
      "1763726400000",
      "946684799999",
      "0.5",
    ),
    weight: 6,
  },
  { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map(String), weight: 2 },
  { arbitrary: fc.integer().map(String), weight: 1 },
);
/** A number, or now and then a value of the wrong type. */
const numberText = fc.oneof(
  { arbitrary: numericText, weight: 9 },
  { arbitrary: fc.constantFrom('"72"', "null", "true", "[]", "{}", '"-1e20"'), weight: 1 },
);
const quoted = (...values: string[]) => fc.constantFrom(...values.map((v) => JSON.stringify(v)));
const objectText = (fields: Record<string, string>) =>
  `{${Object.entries(fields)
    .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
    .join(",")}}`;

/** Anything a record may carry, each label present or not. */
const hostileSenmlRecord = fc.record(
  {
    bn: quoted("urn:dev:mac:0024befffe804ff1:", "x:", "", "bad name", "a".repeat(130)),
    bt: numberText,
    bu: quoted("beat/min", "Cel", "%EL", "u".repeat(40)),
    bv: numberText,
    bver: fc.oneof(fc.constantFrom("10", "26", "5", "11", "74"), numberText),
    n: quoted(...Object.keys(SENML_NAMES), "mood", ""),
    u: quoted(
      "beat/min",
      "1/s",
      "1/min",
      "/",
      "%",
      "/100",
      "Cel",
      "K",
      "Pa",
      "hPa",
      "kg",
      "g",
      "kg/m3",
      "%EL",
      "degF",
    ),
    ucum_: quoted("mm[Hg]", "/min", "%", "mg/dL", "mmol/L", "Cel", "[degF]", "[lb_av]"),
    v: numberText,
    vb: fc.constantFrom("true", "false", "1"),
    vs: quoted("x", "s".repeat(300)),
    t: numberText,
    s: numberText,
    ut: numberText,
  },
  { requiredKeys: [] },
);
/** A vital a real device would send, at a time (absolute or relative) that may be extreme. */
const plausibleSenmlRecord = fc
  .record({
    vital: fc.constantFrom(
      ["hr", "beat/min", 72],
      ["hr", "1/s", 1.2],
      ["spo2", "/", 0.97],
      ["temp", "Cel", 36.6],
      ["sbp", "Pa", 16132],
      ["rr", "1/min", 14],
      ["wt", "kg", 72.4],
      ["glu", "kg/m3", 0.95],
    ),
    time: fc.record({ bt: numericText, t: numericText }, { requiredKeys: [] }),
  })
  .map(({ vital: [n, u, v], time }) => ({
    n: JSON.stringify(n),
    u: JSON.stringify(u),
    v: String(v),
    ...time,
  }));
const senmlRecord = fc.oneof(
  { arbitrary: plausibleSenmlRecord, weight: 4 },
  { arbitrary: hostileSenmlRecord, weight: 1 },
);
const senmlPack = fc
  .array(senmlRecord, { minLength: 1, maxLength: 6 })
  .map((rs) => `[${rs.map((r) => objectText(r as Record<string, string>)).join(",")}]`);

const hostilePlainReading = fc.record(
  {
    kind: fc.oneof(
      { arbitrary: quoted(...VITAL_KINDS), weight: 8 },
      { arbitrary: fc.oneof(quoted("mood"), numberText), weight: 1 },
    ),
    value: numberText,
    unit: quoted(
      "/min",
      "/s",
      "%",
      "Cel",
      "[degF]",
      "K",
      "mm[Hg]",
      "kPa",
      "Pa",
      "mg/dL",
      "mmol/L",
      "kg/m3",
      "kg",
      "g",
      "[lb_av]",
    ),
    time: fc.oneof(
      numericText,
      quoted(
        "2026-11-21T11:59:00Z",
        "1999-12-31T23:59:59Z",
        "+275760-09-13T00:00:00Z",
        "-271821-04-20T00:00:00Z",
        "yesterday",
      ),
    ),
  },
  { requiredKeys: [] },
);
const plainTime = fc.oneof(
  numericText,
  quoted("2026-11-21T11:59:00Z", "1999-12-31T23:59:59Z", "+275760-09-13T00:00:00Z", "yesterday"),
);
const plausiblePlainReading = fc
  .record({
    vital: fc.constantFrom(
      ["heart_rate", "/min", 72],
      ["spo2", "%", 97],
      ["body_temperature", "[degF]", 98.6],
      ["bp_systolic", "kPa", 16.1],
      ["glucose", "mmol/L", 5.3],
      ["body_weight", "[lb_av]", 160],
    ),
    time: fc.record({ time: plainTime }, { requiredKeys: [] }),
  })
  .map(({ vital: [kind, unit, value], time }) => ({
    kind: JSON.stringify(kind),
    unit: JSON.stringify(unit),
    value: String(value),
    ...time,
  }));
const plainReading = fc.oneof(
  { arbitrary: plausiblePlainReading, weight: 4 },
  { arbitrary: hostilePlainReading, weight: 1 },
);
const plainDoc = fc
  .record(
    {
      time: fc.oneof(numericText, quoted("2026-11-21T11:00:00Z", "2000-01-01T00:00:00Z")),
      readings: fc
        .array(
          plainReading.map((r) => objectText(r as Record<string, string>)),
          { maxLength: 6 },
        )
        .map((rs) => `[${rs.join(",")}]`),
      battery_pct: numberText,
      sensor_contact: fc.constantFrom("true", "false", "1"),
    },
    { requiredKeys: ["readings"] },
  )
  .map(objectText);

/** Edits that break structure in the ways firmware bugs and attackers do. */
const FRAGMENTS = [
  "[",
  "]",
  "{",
  "}",
  '"',
  "\\",
  ",",
  ":",
  "-1e20",
  "1e400",
  "-0",
  '"t":-1e20,',
  `${"[".repeat(40)}`,
  "\u0000",
  "\ud800",
  "🌡",
];
const mutation = fc.record({
  at: fc.nat(),
  op: fc.oneof(
    { arbitrary: fc.constant("number"), weight: 3 },
    { arbitrary: fc.constantFrom("delete", "insert", "replace"), weight: 1 },
  ),
  fragment: fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 4 })),
  number: numericText,
});
const NUMBER_LITERAL = /-?\d+(\.\d+)?([eE][-+]?\d+)?/g;
function mutate(
  text: string,
  edits: readonly { at: number; op: string; fragment: string; number: string }[],
): string {
  let out = text;
  for (const { at, op, fragment, number } of edits) {
    const i = at % (out.length + 1);
    if (op === "number") {
      // keeps the JSON valid: the k-th number literal becomes an extreme one
      const literals = [...out.matchAll(NUMBER_LITERAL)];
      const hit = literals[at % Math.max(1, literals.length)];
      if (hit) out = out.slice(0, hit.index) + number + out.slice(hit.index + hit[0].length);
    } else if (op === "delete") out = out.slice(0, i) + out.slice(i + 1);
    else if (op === "insert") out = out.slice(0, i) + fragment + out.slice(i);
    else out = out.slice(0, i) + fragment + out.slice(i + fragment.length);
  }
  return out;
}
const VALID_SENML =
  '[{"bn":"urn:dev:mac:0024befffe804ff1:","bt":1763726400,"n":"hr","u":"1/s","v":1.2},{"n":"spo2","u":"/","v":0.97},{"n":"temp","u":"Cel","v":36.4,"t":-30},{"n":"sbp","u":"Pa","v":16132},{"n":"bat","u":"%EL","v":40},{"n":"contact","vb":true}]';
const VALID_PLAIN =
  '{"time":"2026-11-21T11:00:00Z","readings":[{"kind":"heart_rate","value":72,"unit":"/min"},{"kind":"spo2","value":97,"unit":"%","time":1763722800000}],"battery_pct":80,"sensor_contact":true}';

describe("MQTT payload path under random and hostile input", () => {
  it("never throws anything but PayloadError for random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        ingestBoth(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses exactly the byte strings that are not UTF-8, with payload_invalid_utf8", () => {
    const fatal = new TextDecoder("utf-8", { fatal: true });
    let invalid = 0;
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })), {
          maxLength: 24,
        }),
        (octets) => {
          const bytes = new Uint8Array(octets);
          let isUtf8 = true;
          try {
            fatal.decode(bytes);
          } catch {
            isUtf8 = false;
          }
          for (const outcome of ingestBoth(bytes)) {
            assert.equal(outcome.refused === "payload_invalid_utf8", !isUtf8);
          }
          if (!isUtf8) invalid++;
        },
      ),
      { numRuns: 300 },
    );
    assert.ok(invalid > 50, `only ${invalid} invalid byte strings were generated`);
  });

  it("never throws anything but PayloadError for random strings", () => {
    const jsonish = fc.string({
      unit: fc.constantFrom(...'[]{}":,\\-+.0123456789eEtrufalsn x'),
      maxLength: 200,
    });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), jsonish), (text) => {
        ingestBoth(utf8(text));
      }),
      { numRuns: 400 },
    );
  });

  it("decodes any JSON value, alone or in place of a field, without crashing", () => {
    const anyJson = fc.jsonValue({ maxDepth: 12 }).map((v) => JSON.stringify(v));
    fc.assert(
      fc.property(anyJson, fc.nat(4), (json, place) => {
        const text = [
          json,
          `[{"n":"hr","u":"beat/min","v":${json}}]`,
          `[{"n":"hr","u":"beat/min","v":72,"x":${json}}]`,
          `{"readings":[{"kind":${json},"value":1,"unit":"/min"}]}`,
          `{"readings":[{"kind":"heart_rate","value":72,"unit":"/min","time":${json}}]}`,
        ][place]!;
        ingestBoth(utf8(text));
      }),
      { numRuns: 300 },
    );
  });

  it("refuses nesting deeper than the limit, up to 10,000 levels, wherever it sits", () => {
    const opener = { array: ["[", "]"], object: ['{"a":', "}"] } as const;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.constantFrom("array", "object"),
        fc.boolean(),
        fc.nat(3),
        (depth, shape, isClosed, place) => {
          const [open, close] = opener[shape];
          const inner =
            open.repeat(depth) + (shape === "object" ? "1" : "") + (isClosed ? close.repeat(depth) : "");
          const [format, text, outer] = (
            [
              ["senml", inner, 0],
              ["senml", `[{"n":"hr","u":"beat/min","v":72,"x":${inner}}]`, 2],
              ["json", `{"readings":[{"kind":${inner},"value":1,"unit":"/min"}]}`, 3],
              ["json", `{"x":${inner},"readings":[]}`, 1],
            ] as const
          )[place]!;
          const outcome = ingestOnce(format, utf8(text));
          if (depth + outer > 8) assert.equal(outcome.refused, "payload_too_deep");
          else if (isClosed) assert.notEqual(outcome.refused, "payload_too_deep");
          else assert.ok(outcome.refused !== undefined, "an unclosed document is refused");
        },
      ),
      { numRuns: 200 },
    );
  });

  it("stores every reading it accepts from SenML packs with extreme numbers and times", () => {
    let stored = 0;
    fc.assert(
      fc.property(senmlPack, (text) => {
        stored += ingestOnce("senml", utf8(text)).stored;
      }),
      { numRuns: 500 },
    );
    assert.ok(stored > 20, `only ${stored} readings reached storage: the property tested little`);
  });

  it("stores every reading it accepts from plain JSON with extreme numbers and times", () => {
    let stored = 0;
    fc.assert(
      fc.property(plainDoc, (text) => {
        stored += ingestOnce("json", utf8(text)).stored;
      }),
      { numRuns: 500 },
    );
    assert.ok(stored > 20, `only ${stored} readings reached storage: the property tested little`);
  });

  it("survives mutated valid packs, as text and as bytes", () => {
    const outcomes = { refused: 0, decoded: 0 };
    fc.assert(
      fc.property(
        fc.constantFrom(["senml", VALID_SENML] as const, ["json", VALID_PLAIN] as const),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.oneof(
          { arbitrary: fc.constant([]), weight: 3 },
          {
            arbitrary: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
            weight: 1,
          },
        ),
        ([format, valid], edits, flips) => {
          const bytes = utf8(mutate(valid, edits));
          for (const [at, byte] of flips) if (bytes.length > 0) bytes[at % bytes.length] = byte;
          const outcome = ingestOnce(format, bytes);
          outcomes[outcome.refused === undefined ? "decoded" : "refused"]++;
        },
      ),
      { numRuns: 500 },
    );
    assert.ok(outcomes.refused > 50 && outcomes.decoded > 50, JSON.stringify(outcomes));
  });
});
