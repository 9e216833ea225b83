/**
 * The catalog of rejection reasons (src/drivers/rejection-reasons.ts) against every vocabulary that refuses a
 * device's input: each one's reasons must be catalogued (checked by the compiler for the typed vocabularies,
 * and by scanning src/ for the refusals that pass a literal), and docs/rejection-reasons.md must be the page
 * the catalog generates.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { BrokerRefusal } from "../../src/drivers/mqtt/broker-refusals.js";
import { PAYLOAD_LIMITS, type PayloadLimitReason } from "../../src/drivers/mqtt/json-bounds.js";
import type { PacketRefusal } from "../../src/drivers/mqtt/packet-guard.js";
import type { PendingRefusal } from "../../src/drivers/mqtt/pending-connections.js";
import type { SenmlReason } from "../../src/drivers/mqtt/senml.js";
import type { TlsRefusal } from "../../src/drivers/mqtt/tls-refusals.js";
import {
  type BuiltinDecodeErrorReason,
  DECODE_ERROR_REASONS,
} from "../../src/drivers/profiles/decode-error.js";
import { RACP_RESPONSE_CODES } from "../../src/drivers/profiles/gatt-record-access-control-point.js";
import type { SplitEvent } from "../../src/drivers/profiles/serial-framing.js";
import {
  DECODER_ORIGINS,
  decoderReasonProblem,
  isCataloguedReason,
  REJECTION_REASONS,
  type RejectionReason,
  rejectionReasonsMarkdown,
} from "../../src/drivers/rejection-reasons.js";
import type { RejectReason } from "../../src/reading.js";

/** Compiles only when every member of `T` is a catalogued reason. */
type Catalogued<T extends string> = [Exclude<T, RejectionReason>] extends [never]
  ? true
  : Exclude<T, RejectionReason>;
const typedVocabularies: Record<string, true> = {
  RejectReason: true satisfies Catalogued<RejectReason>,
  SenmlReason: true satisfies Catalogued<SenmlReason>,
  PayloadLimitReason: true satisfies Catalogued<PayloadLimitReason>,
  BuiltinDecodeErrorReason: true satisfies Catalogued<BuiltinDecodeErrorReason>,
  SerialFraming: true satisfies Catalogued<Extract<SplitEvent, { ok: false }>["reason"]>,
  BrokerRefusal: true satisfies Catalogued<BrokerRefusal>,
  PacketRefusal: true satisfies Catalogued<PacketRefusal>,
  PendingRefusal: true satisfies Catalogued<PendingRefusal>,
  TlsRefusal: true satisfies Catalogued<TlsRefusal>,
};

const ROOT = new URL("../../../", import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

/**
 * Literal reasons handed to a refusal: `reason: "x"`, `new PayloadError("x"` (and the other errors that carry a
 * reason), and the refusal helpers called with a literal first argument.
 */
const REFUSAL_LITERALS = [
  /\breason:\s*"([a-z][a-z0-9_]*)"/g,
  /new (?:PayloadError|SenmlError|DecodeError|CountedRefusal)\(\s*"([a-z][a-z0-9_]*)"/g,
  /(?:#refuse|#withhold|\brefuse|\brefused|\breject|\bfail|\bwithhold|countNotAdmitted)\(\s*"([a-z][a-z0-9_]*)"/g,
  /BINDING_CHANGED = "([a-z][a-z0-9_]*)"/g,
];
/** Files whose `reason` fields are not refusals of a device's input (a Date Time's unknown parts). */
const NOT_REFUSALS = new Set(["profiles/date-time.ts", "rejection-reasons.ts"]);

function refusalLiterals(): Map<string, string[]> {
  const files = [
    ...sourceFiles("src/drivers").filter((f) => ![...NOT_REFUSALS].some((n) => f.endsWith(`drivers/${n}`))),
    join(ROOT, "src/reading.ts"),
    join(ROOT, "src/rules/subject-lifecycle.ts"),
    join(ROOT, "src/batcher/commit/commit-thread-protocol.ts"),
  ];
  const found = new Map<string, string[]>();
  for (const file of files) {
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, i) => {
        // a connection state's reason (port_closed, link lost …) is not a refusal of input
        if (line.includes("#state(")) return;
        for (const re of REFUSAL_LITERALS) {
          for (const m of line.matchAll(re)) {
            const at = `${file.slice(ROOT.length)}:${i + 1}`;
            found.set(m[1]!, [...(found.get(m[1]!) ?? []), at]);
          }
        }
      });
  }
  return found;
}

describe("rejection reason catalog", () => {
  it("catalogues every typed vocabulary of refusals (checked when the test compiles)", () => {
    assert.ok(Object.values(typedVocabularies).every((v) => v === true));
  });

  it("catalogues every built-in DecodeError reason, payload limit and RACP failure", () => {
    const missing = [
      ...DECODE_ERROR_REASONS,
      ...Object.values(PAYLOAD_LIMITS).map((l) => l.reason),
      ...[...Object.values(RACP_RESPONSE_CODES), "unknown"]
        .filter((n) => n !== "success" && n !== "no_records_found")
        .map((n) => `racp_${n}`),
    ].filter((r) => !isCataloguedReason(r));
    assert.deepEqual(missing, []);
  });

  it("finds a reason literal in the refusals of src/ and every one is catalogued", () => {
    const found = refusalLiterals();
    // the scan must see refusals of every layer, or it proves nothing
    for (const r of ["payload_too_large", "senml_not_array", "unknown_vital", "decoder_bug", "auth_busy"])
      assert.ok(found.has(r), `the scan found no refusal with ${r}`);
    const uncatalogued = [...found]
      .filter(([r]) => !isCataloguedReason(r))
      .map(([r, at]) => `${r} (${at[0]})`);
    assert.deepEqual(
      uncatalogued,
      [],
      "refusals with a reason missing from src/drivers/rejection-reasons.ts",
    );
  });

  it("lets a decoder give its own reasons and those of the decoder origins, and no other catalogued one", () => {
    const byDecoder = Object.entries(REJECTION_REASONS)
      .filter(([r]) => decoderReasonProblem(r) === undefined)
      .map(([, e]) => e.origin);
    assert.deepEqual(new Set(byDecoder), DECODER_ORIGINS);
    for (const [reason, e] of Object.entries(REJECTION_REASONS)) {
      const isDecoders = DECODER_ORIGINS.has(e.origin) && reason !== "decoder_bug";
      assert.equal(decoderReasonProblem(reason) === undefined, isDecoders, reason);
      // a reason a decoder may give is one that is stored like any decoded frame's refusal
      if (isDecoders) assert.ok(e.isStored && e.counters.includes("vitalog_rejections_total"), reason);
    }
    assert.equal(decoderReasonProblem("acme_lead_off"), undefined);
    assert.match(decoderReasonProblem("Lead Off") ?? "", /not snake_case/);
    assert.match(decoderReasonProblem(undefined as unknown as string) ?? "", /not a string/);
    assert.match(decoderReasonProblem("subject_erased") ?? "", /catalog's \(ingest\)/);
  });

  it("lets the built-in decoders give every reason they throw", () => {
    const thrown = new Map<string, string>();
    for (const file of sourceFiles("src/drivers")) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/new (?:PayloadError|SenmlError|DecodeError)\(\s*"([a-z][a-z0-9_]*)"/g))
        thrown.set(m[1]!, file.slice(ROOT.length));
    }
    for (const r of [...DECODE_ERROR_REASONS, ...Object.values(PAYLOAD_LIMITS).map((l) => l.reason)])
      thrown.set(r, "a built-in reason list");
    assert.ok(
      thrown.has("checksum_mismatch") && thrown.has("senml_not_array"),
      "the scan found the decoders",
    );
    const refused = [...thrown].filter(([r]) => decoderReasonProblem(r) !== undefined);
    assert.deepEqual(refused, []);
  });

  it("rejects an uncatalogued reason", () => {
    assert.equal(isCataloguedReason("payload_too_large"), true);
    assert.equal(isCataloguedReason("payload_too_big"), false);
    assert.equal(isCataloguedReason("toString"), false, "own entries only, not Object.prototype");
  });

  it("holds snake_case wire strings, each with a meaning and a counter", () => {
    for (const [reason, e] of Object.entries(REJECTION_REASONS)) {
      assert.match(reason, /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/, reason);
      assert.ok(e.meaning.length > 10, `${reason} has a meaning`);
      assert.ok(e.counters.length > 0, `${reason} is counted somewhere`);
    }
  });

  it("is what docs/rejection-reasons.md documents", () => {
    const doc = readFileSync(join(ROOT, "docs/rejection-reasons.md"), "utf8");
    assert.equal(
      doc,
      rejectionReasonsMarkdown(),
      "regenerate: node -e 'import(\"./dist/src/drivers/rejection-reasons.js\").then((m) => process.stdout.write(m.rejectionReasonsMarkdown()))' > docs/rejection-reasons.md",
    );
  });
});
