/**
 * Property-based fuzzing of the whole MQTT ingest path (real broker, real SQLite, a gateway in a child
 * process so a crash is observed rather than suffered): random and mutated SenML (RFC 8428) and plain JSON,
 * deep nesting, extreme numbers, invalid UTF-8 and huge arrays, all within the 16 KiB payload limit.
 * Whatever a device sends is either stored or refused with a counted reason and acknowledged once durable
 * [DESIGN.md "One device cannot hurt the others"]; no group commit fails; a bystander loses nothing.
 *
 * `VITALOG_FUZZ_RUNS` and `VITALOG_FUZZ_SEED` run it longer or replay a failure.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import mqtt, { type MqttClient } from "mqtt";
import { senmlPack } from "../../firmware-sim/senml-encode.js";
import { VITAL_KINDS } from "../../src/reading.js";
import { Bystander, deepKindPayload, nested, storedDeviceTimes } from "../helpers/adversary.js";
import { type ChildGateway, sampleSum, startChildGateway } from "../helpers/adversary-child.js";

const MAX_PAYLOAD = 16_384;
const FUZZER = "fuzz-1";
const NUM_RUNS = Number(process.env.VITALOG_FUZZ_RUNS ?? 1000);
const SEED = process.env.VITALOG_FUZZ_SEED === undefined ? undefined : Number(process.env.VITALOG_FUZZ_SEED);

/** One PUBLISH of the fuzzer; printed short in fast-check's report (payloads are up to 16 KiB). */
class FuzzMessage {
  constructor(
    readonly format: "senml" | "json",
    readonly payload: Buffer,
    readonly shape: string,
    /** Which generator made it, for the run's statistics. */
    readonly family: string,
  ) {}
  [fc.toStringMethod](): string {
    const head = this.payload.subarray(0, 120).toString("latin1");
    return `${this.shape} on /${this.format}, ${this.payload.length} bytes: ${JSON.stringify(head)}…`;
  }
}

const clip = (b: Buffer) => (b.length > MAX_PAYLOAD ? b.subarray(0, MAX_PAYLOAD) : b);
const msg = (format: "senml" | "json", payload: string | Buffer, shape: string, family = shape) =>
  new FuzzMessage(format, clip(typeof payload === "string" ? Buffer.from(payload) : payload), shape, family);

// numbers that sit on a boundary of JSON, IEEE 754, SQLite INTEGER, ECMAScript Date or RFC 8428 relative time
const EXTREME_NUMBERS = [
  -1e20,
  1e20,
  1e308,
  -1e308,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  -0,
  0,
  2 ** 53 + 2,
  -(2 ** 53 + 2),
  2 ** 63,
  -(2 ** 63),
  2 ** 31,
  -(2 ** 31),
  2 ** 28 - 0.5,
  2 ** 28,
  1e15,
  -1e15,
  8.64e15,
  8.64e15 + 1,
  -8.64e15 - 1,
  8.64e12,
  1.7637e9 + 0.0001,
  0.1,
  1e-7,
  1e-300,
];
// number spellings JSON.stringify never produces, spliced into text
const NUMBER_TOKENS = [
  "1e400",
  "-1e400",
  "1E+308",
  "-0.0",
  "0.1e-400",
  "123456789012345678901234567890",
  "-9223372036854775809",
  "9223372036854775807",
  `1.${"0".repeat(300)}1`,
  "1e-7",
  "-1e20",
  "1e20",
];
const INVALID_UTF8 = [
  [0xff],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xf4, 0x90, 0x80, 0x80],
  [0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
].map((b) => Buffer.from(b));
const SPLICE_TOKENS = [
  ...NUMBER_TOKENS,
  ...INVALID_UTF8,
  "[[[[[[[[[[",
  "]]]]",
  '{"":',
  '"\\ud800"',
  '"\\u0000"',
  "null",
  "true",
  '"__proto__":{"x":1},',
  '"constructor":1,',
  ",",
  "\u2028",
].map((t) => (typeof t === "string" ? Buffer.from(t) : t));

const SENML_NAMES = [
  "hr",
  "pr",
  "spo2",
  "rr",
  "temp",
  "sbp",
  "dbp",
  "map",
  "glu",
  "wt",
  "bat",
  "contact",
  "heart_rate",
];
const SENML_UNITS = [
  "beat/min",
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
  "%EL",
  "kg/m3",
];
const UCUM_UNITS = ["/min", "%", "Cel", "mm[Hg]", "kg", "mg/dL", "mmol/L", "kPa", "[degF]"];

const extremeNumber = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EXTREME_NUMBERS) },
  { weight: 2, arbitrary: fc.double() },
  { weight: 2, arbitrary: fc.integer({ min: -1000, max: 1000 }) },
  { weight: 1, arbitrary: fc.double({ min: 1.6e9, max: 1.9e9, noNaN: true }) },
);
const plausibleValue = fc.oneof(
  fc.integer({ min: 30, max: 200 }),
  fc.double({ min: 0.8, max: 1, noNaN: true }),
);
const wildString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 4000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 12_000 }).map((n) => "x".repeat(n)) },
);
/** A label value of the right type most of the time, of any JSON type sometimes. */
const typed = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 5, arbitrary: arb }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });

const senmlRecord = fc.record(
  {
    bn: typed(fc.oneof(fc.constant("urn:dev:fuzz:"), wildString)),
    bt: typed(fc.oneof(extremeNumber, fc.integer({ min: 1_760_000_000, max: 1_770_000_000 }))),
    bu: typed(fc.oneof(fc.constantFrom(...SENML_UNITS), wildString)),
    bv: typed(extremeNumber),
    bver: typed(fc.oneof(fc.constantFrom(10, 26, 11, 0, -1, 2 ** 40), extremeNumber)),
    n: typed(fc.oneof(fc.constantFrom(...SENML_NAMES), wildString)),
    u: typed(fc.oneof(fc.constantFrom(...SENML_UNITS), wildString)),
    v: typed(fc.oneof(plausibleValue, extremeNumber)),
    vs: typed(wildString),
    vb: typed(fc.boolean()),
    s: typed(extremeNumber),
    t: typed(fc.oneof(fc.integer({ min: -600, max: 0 }), extremeNumber)),
    ut: typed(extremeNumber),
    ucum_: typed(fc.oneof(fc.constantFrom(...UCUM_UNITS), wildString)),
    other_: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);
/** A record that passes the SenML checks, so the fuzz also reaches validation, rules and storage. */
const plausibleSenmlRecord = fc.record({
  n: fc.constantFrom("hr", "spo2", "rr", "temp", "sbp"),
  u: fc.constantFrom("beat/min", "/", "1/min", "Cel", "Pa"),
  v: plausibleValue,
  t: fc.oneof(fc.integer({ min: -600, max: 0 }), fc.constantFrom(...EXTREME_NUMBERS)),
});

const timeValue = fc.oneof(
  extremeNumber,
  fc.integer({ min: 1_700_000_000_000, max: 1_800_000_000_000 }),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom("+275760-09-13T00:00:00.000Z", "-271821-04-20T00:00:00.000Z", "2026-13-45", "", "now"),
  wildString,
);
const plainReading = fc.record(
  {
    kind: typed(
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...VITAL_KINDS) },
        { weight: 1, arbitrary: wildString },
      ),
    ),
    value: typed(fc.oneof(plausibleValue, extremeNumber)),
    unit: typed(fc.oneof(fc.constantFrom(...UCUM_UNITS), wildString)),
    time: typed(timeValue),
  },
  { requiredKeys: [] },
);
const plainDoc = fc.record(
  {
    time: typed(timeValue),
    readings: typed(fc.array(typed(plainReading), { maxLength: 40 })),
    battery_pct: typed(extremeNumber),
    sensor_contact: typed(fc.boolean()),
    extra: fc.jsonValue({ maxDepth: 3 }),
  },
  { requiredKeys: ["readings"] },
);

const generatedSenml = fc
  .array(fc.oneof(senmlRecord, plausibleSenmlRecord), { minLength: 0, maxLength: 40 })
  .map((pack) => msg("senml", JSON.stringify(pack), "generated senml"));
const generatedPlain = plainDoc.map((d) => msg("json", JSON.stringify(d), "generated json"));
const randomJson = fc
  .tuple(fc.constantFrom("senml", "json" as const), fc.jsonValue({ maxDepth: 6 }))
  .map(([format, v]) => msg(format as "senml" | "json", JSON.stringify(v) ?? "null", "random json"));
const randomBytes = fc
  .tuple(fc.constantFrom("senml", "json" as const), fc.uint8Array({ maxLength: 3000 }))
  .map(([format, b]) => msg(format as "senml" | "json", Buffer.from(b), "random bytes"));

/** Valid payloads the mutations start from: what the firmware simulator sends, and plausible packs. */
const validBase = fc.oneof(
  fc.integer({ min: 0, max: 10_000 }).map((i) =>
    msg(
      "senml",
      JSON.stringify(
        senmlPack(
          FUZZER,
          {
            heartRate: 60 + (i % 50),
            spo2: 90 + (i % 10),
            respiratoryRate: 14,
            temperatureC: 36.8,
            systolic: 120,
            diastolic: 80,
            batteryPct: 80,
            sensorContact: true,
          },
          1_763_700_000 + i,
          i,
        ),
      ),
      "firmware pack",
      "valid",
    ),
  ),
  fc
    .array(plausibleSenmlRecord, { minLength: 1, maxLength: 20 })
    .map(([first, ...rest]) =>
      msg(
        "senml",
        JSON.stringify([{ bn: "urn:dev:fuzz:", bt: 1_763_700_000, ...first }, ...rest]),
        "senml pack",
        "valid",
      ),
    ),
  fc
    .array(plainReading, { minLength: 1, maxLength: 20 })
    .map((readings) => msg("json", JSON.stringify({ readings }), "plain pack", "valid")),
);

const mutation = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({
    op: fc.constant("set" as const),
    at: fc.nat(),
    byte: fc.constantFrom(0x00, 0xff, 0xc0, 0x80, 0xed, 0x22, 0x5c, 0x5b, 0x5d, 0x7b, 0x7d, 0x2c, 0x3a, 0x2d),
  }),
  fc.record({ op: fc.constant("splice" as const), at: fc.nat(), token: fc.constantFrom(...SPLICE_TOKENS) }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({
    op: fc.constant("repeat" as const),
    at: fc.nat(),
    len: fc.integer({ min: 1, max: 256 }),
    times: fc.integer({ min: 2, max: 64 }),
  }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(input: Buffer, ops: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of ops) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.op === "flip") b[at] = b[at]! ^ (1 << m.bit);
    else if (m.op === "set") b[at] = m.byte;
    else if (m.op === "splice") b = Buffer.concat([b.subarray(0, at), m.token, b.subarray(at)]);
    else if (m.op === "delete") b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
    else if (m.op === "repeat") {
      const piece = b.subarray(at, at + m.len);
      b = Buffer.concat([b.subarray(0, at), ...Array<Buffer>(m.times).fill(piece), b.subarray(at)]);
    } else b = b.subarray(0, at);
    if (b.length > MAX_PAYLOAD) b = b.subarray(0, MAX_PAYLOAD);
  }
  return b;
}
const mutated = fc
  .tuple(validBase, fc.array(mutation, { minLength: 1, maxLength: 8 }))
  .map(([base, ops]) => msg(base.format, mutate(base.payload, ops), `mutated ${base.shape}`, "mutated"));

/** Deep nesting in every place a parser or a rejection detail might recurse into. */
const deepNesting = fc
  .record({
    depth: fc.integer({ min: 1, max: 8000 }),
    shape: fc.constantFrom("array" as const, "object" as const),
    where: fc.constantFrom(
      "senml doc",
      "json doc",
      "json kind",
      "json value",
      "json readings",
      "senml v",
      "senml bn",
      "senml record",
    ),
  })
  .map(({ depth, shape, where }) => {
    const d = Math.min(depth, Math.floor((MAX_PAYLOAD - 80) / (shape === "array" ? 2 : 6)));
    const deep = nested(d, "1", shape);
    const payload: Record<string, ["senml" | "json", string]> = {
      "senml doc": ["senml", deep],
      "json doc": ["json", deep],
      "json kind": ["json", `{"readings":[{"kind":${deep},"value":1,"unit":"/min"}]}`],
      "json value": ["json", `{"readings":[{"kind":"heart_rate","value":${deep},"unit":"/min"}]}`],
      "json readings": ["json", `{"readings":${deep}}`],
      "senml v": ["senml", `[{"bn":"urn:dev:fuzz:","n":"hr","u":"beat/min","v":${deep}}]`],
      "senml bn": ["senml", `[{"bn":${deep},"n":"hr","u":"beat/min","v":72}]`],
      "senml record": ["senml", `[${deep}]`],
    };
    const [format, text] = payload[where]!;
    return msg(format, text, `nested ${d} deep (${shape}) as ${where}`, "deep nesting");
  });

/** Arrays as long as the payload limit allows, of valid, invalid and mixed entries. */
const hugeArray = fc
  .record({
    entry: fc.constantFrom(
      "0",
      "{}",
      "null",
      "[]",
      '"x"',
      '{"v":72}',
      '{"n":"hr","u":"beat/min","v":72}',
      '{"n":"zz","v":1}',
      '{"n":"hr","u":"beat/min","v":72,"t":-1e20}',
      '{"kind":"heart_rate","value":72,"unit":"/min"}',
      '{"kind":"heart_rate","value":72,"unit":"/min","time":-1e20}',
    ),
    format: fc.constantFrom("senml", "json" as const),
    fill: fc.double({ min: 0.1, max: 1, noNaN: true }),
  })
  .map(({ entry, format, fill }) => {
    const head = format === "senml" ? '[{"bn":"urn:dev:fuzz:hr","bu":"beat/min","v":72},' : '{"readings":[';
    const tail = format === "senml" ? "]" : "]}";
    const count = Math.max(
      1,
      Math.floor(((MAX_PAYLOAD - head.length - tail.length) * fill) / (entry.length + 1)),
    );
    return msg(
      format as "senml" | "json",
      head + Array(count).fill(entry).join(",") + tail,
      `huge array of ${count} × ${entry}`,
      "huge array",
    );
  });

/** Invalid UTF-8 inside the strings of an otherwise valid payload. */
const invalidUtf8 = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(...INVALID_UTF8),
      fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b) => Buffer.from(b)),
    ),
    fc.constantFrom("senml name", "senml unit", "json kind", "json unit"),
  )
  .map(([bad, where]) => {
    const [format, before, afterText] =
      where === "senml name"
        ? ["senml", '[{"bn":"urn:dev:fuzz:', '","n":"hr","u":"beat/min","v":72}]']
        : where === "senml unit"
          ? ["senml", '[{"bn":"urn:dev:fuzz:","n":"hr","u":"beat/', 'min","v":72}]']
          : where === "json kind"
            ? ["json", '{"readings":[{"kind":"heart_', 'rate","value":72,"unit":"/min"}]}']
            : ["json", '{"readings":[{"kind":"heart_rate","value":72,"unit":"/', 'min"}]}'];
    return msg(
      format as "senml" | "json",
      Buffer.concat([Buffer.from(before), bad, Buffer.from(afterText)]),
      `invalid UTF-8 in ${where}`,
      "invalid utf-8",
    );
  });

const fuzzMessage = fc.oneof(
  { weight: 3, arbitrary: generatedSenml },
  { weight: 2, arbitrary: generatedPlain },
  { weight: 4, arbitrary: mutated },
  { weight: 1, arbitrary: randomJson },
  { weight: 1, arbitrary: randomBytes },
  { weight: 1, arbitrary: deepNesting },
  { weight: 1, arbitrary: hugeArray },
  { weight: 1, arbitrary: invalidUtf8 },
  { weight: 1, arbitrary: validBase },
);

/** Payloads that each broke a gateway once; they run first, every time. */
const REGRESSIONS: FuzzMessage[] = (
  [
    ["json", deepKindPayload(5000), "kind nested 5,000 deep"],
    ["senml", '[{"bn":"urn:dev:fuzz:","bt":1763700000,"n":"hr","u":"beat/min","v":72,"t":-1e20}]', "t -1e20"],
    ["senml", '[{"n":"hr","u":"beat/min","v":72,"t":-1e20}]', "relative t -1e20"],
    ["senml", '[{"bn":"urn:dev:fuzz:","bt":1e20,"n":"hr","u":"beat/min","v":72}]', "bt 1e20"],
    ["senml", '[{"bn":"urn:dev:fuzz:","bt":1763700000.0001,"n":"hr","u":"beat/min","v":72}]', "sub-ms bt"],
    [
      "json",
      '{"readings":[{"kind":"heart_rate","value":72,"unit":"/min","time":1763700000000.5}]}',
      "fractional ms",
    ],
    ["json", '{"readings":[{"kind":"heart_rate","value":72,"unit":"/min","time":-1e20}]}', "json time -1e20"],
    ["json", '{"readings":[{"kind":"heart_rate","value":72,"unit":"/min","time":1e300}]}', "json time 1e300"],
    ["senml", nested(8000, ""), "8,000 nested arrays"],
  ] as const
).map(([format, payload, shape]) => msg(format, payload, shape, "regression"));

/** Publishes at QoS 1 and resolves on PUBACK; rejects if the connection drops or nothing comes in time. */
function publishAcked(client: MqttClient, topic: string, payload: Buffer, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = () => finish(new Error("connection closed before PUBACK"));
    const timer = setTimeout(() => finish(new Error(`no PUBACK in ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      client.off("close", onClose);
      if (err) reject(err);
      else resolve();
    };
    client.once("close", onClose);
    client.publish(topic, payload, { qos: 1 }, (err) => finish(err ?? undefined));
  });
}

describe("fuzzing the MQTT ingest path (child-process gateway, real broker, real SQLite)", () => {
  let g: ChildGateway;
  let fuzzer: MqttClient;
  let fuzzerCloses = 0;
  let bystander: Bystander;
  const failureDir = join(tmpdir(), "vitalog-fuzz-failures");

  before(async () => {
    g = await startChildGateway({
      devices: [{ id: FUZZER, model: "fuzzer" }, { id: "bystander-1" }],
      config: {
        // the fuzzer is not throttled: what is under test is what its bytes do, not its budget
        ingest: {
          limits: {
            models: {
              fuzzer: {
                messagesPerSec: 100_000,
                messagesBurst: 1_000_000,
                readingsPerSec: 100_000,
                readingsBurst: 1_000_000,
              },
            },
          },
        },
      },
    });
    fuzzer = await mqtt.connectAsync(g.url, {
      clientId: FUZZER,
      username: FUZZER,
      password: g.password(FUZZER),
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    fuzzer.on("close", () => fuzzerCloses++);
    fuzzer.on("error", () => {});
    bystander = (await Bystander.connect(g.url, "bystander-1", g.password("bystander-1"))).start(50);
  });
  after(async () => {
    await bystander?.end();
    await fuzzer?.endAsync(true).catch(() => {});
    await g?.stop();
  });

  it("stores or refuses with a counted reason, and acknowledges, whatever a device publishes; the process and every commit survive", async (t) => {
    const families = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(fuzzMessage, { minLength: 1, maxLength: 6 }), async (batch) => {
        for (const m of batch) families.set(m.family, (families.get(m.family) ?? 0) + 1);
        const results = await Promise.allSettled(
          batch.map((m) => publishAcked(fuzzer, `vitalog/dev/${FUZZER}/${m.format}`, m.payload, 15_000)),
        );
        const failed = results.flatMap((r, i) =>
          r.status === "rejected" ? [[batch[i]!, r.reason as Error] as const] : [],
        );
        if (failed.length === 0) return;
        // keep the payloads: the report prints them short
        mkdirSync(failureDir, { recursive: true });
        const files = failed.map(([m]) => {
          const file = join(
            failureDir,
            `${createHash("sha256").update(m.payload).digest("hex").slice(0, 16)}.${m.format}`,
          );
          writeFileSync(file, m.payload);
          return file;
        });
        // a connection closed by a dying gateway: give its exit a moment to be seen
        await new Promise((r) => setTimeout(r, 500));
        const why = failed
          .map(([m, err], i) => `${m.shape}: ${err.message} (payload in ${files[i]})`)
          .join("\n");
        const died = g.isAlive() ? "" : `\ngateway exited:\n${g.output().slice(-4000)}`;
        throw new Error(`${failed.length} of ${batch.length} PUBLISHes not acknowledged:\n${why}${died}`);
      }),
      {
        numRuns: NUM_RUNS,
        ...(SEED === undefined ? {} : { seed: SEED }),
        examples: REGRESSIONS.map((m) => [[m]] as [FuzzMessage[]]),
        // a gateway that died makes every later run fail: shrinking would blame an innocent payload
        endOnFailure: true,
        includeErrorInReport: true,
      },
    );
    assert.ok(g.isAlive(), "the gateway process is still running");
    assert.equal(fuzzerCloses, 0, "the fuzzing device was never disconnected");
    const m = await g.metrics();
    assert.equal(sampleSum(m, "vitalog_commits_total", { outcome: "failed" }), 0, "no group commit failed");
    assert.ok(sampleSum(m, "vitalog_commits_total", { outcome: "ok" }) > 0);
    const refused = sampleSum(m, "vitalog_rejections_total", { device: FUZZER });
    const accepted = sampleSum(m, "vitalog_readings_accepted_total", { device: FUZZER });
    assert.ok(refused > 0, "refusals are counted per device");
    assert.ok(accepted > 0, "some fuzzed readings were valid and stored (the fuzz reaches storage)");
    const mix = [...families].map(([f, n]) => `${f} ${n}`).join(", ");
    t.diagnostic(`published: ${mix}; fuzzer readings stored ${accepted}, refusals ${refused}`);

    await bystander.stop();
    g.withDb((db) => bystander.assertIntact(storedDeviceTimes(db, bystander.id)));
    t.diagnostic(bystander.summary());

    await bystander.end();
    await fuzzer.endAsync(true);
    const exit = await g.stop();
    assert.deepEqual(
      { code: exit.code, signal: exit.signal },
      { code: 0, signal: null },
      "stops cleanly on SIGTERM",
    );
  });
});
