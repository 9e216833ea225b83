/**
 * Canonical, versioned encoding of what the log commits to: RFC 8785 JSON Canonicalization Scheme
 * (JCS) of a `v: 1` object. Browser-safe (no Node APIs): the offline verifier decodes records with it.
 *
 * Reading record (`type: "reading"`), keys in JCS order:
 * `{"device","device_time_ms","flags","id","kind","loinc","mdc","observed_at_ms","received_at_ms","seq",
 *   "subject","type":"reading","unit","v":1,"value"}`
 * Event record (`type: "event"`): `{"at_ms","data","device","event","id","subject","type":"event","v":1}`.
 * Wire names are snake_case and only ever added to; a new field or meaning needs `v: 2`.
 */

/** Version of the record objects written by this build. */
export const RECORD_VERSION = 1;

/** A JSON value that JCS can encode (finite numbers, no `undefined` inside arrays). */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue | undefined };

/** The reading fields a record commits to (a subset of `Reading`, named as on the wire). */
export interface ReadingRecordFields {
  readonly id: string;
  readonly deviceId: string;
  readonly subjectId: string;
  readonly seq: number;
  readonly kind: string;
  readonly loinc: string;
  readonly value: number;
  readonly unit: string;
  readonly mdc: number | null;
  readonly deviceTimeMs: number | null;
  readonly observedAtMs: number;
  readonly receivedAtMs: number;
  readonly flags: readonly string[];
}

/** An auditable event as committed (device bound/unbound, subject erased, alert raised …). */
export interface EventRecordFields {
  readonly id: string;
  readonly event: string;
  readonly atMs: number;
  readonly subjectId: string | null;
  readonly deviceId: string | null;
  readonly data: Readonly<Record<string, unknown>>;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * [RFC 8785] canonical JSON text of `value`: object members sorted by UTF-16 code units (§3.2.3),
 * numbers as ECMAScript Number::toString (§3.2.2.3), strings with the minimal JSON escapes
 * (§3.2.2.2) — exactly what `JSON.stringify` emits for a single string or number.
 * @throws TypeError on non-finite numbers, lone surrogates or non-JSON values.
 */
export function canonicalize(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("JCS cannot encode a non-finite number");
      return JSON.stringify(value);
    case "string":
      if (LONE_SURROGATE.test(value)) throw new TypeError("JCS cannot encode a lone surrogate");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map((v) => canonicalize(v)).join(",")}]`;
      const keys = Object.keys(value as object)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort();
      const members = keys.map(
        (k) => `${canonicalize(k)}:${canonicalize((value as Record<string, unknown>)[k])}`,
      );
      return `{${members.join(",")}}`;
    }
    default:
      throw new TypeError(`JCS cannot encode a ${typeof value}`);
  }
}

/** The record object of a reading (keys inserted in JCS order, so `JSON.stringify` is canonical). */
export function readingRecordObject(r: ReadingRecordFields): Record<string, JsonValue> {
  return {
    device: r.deviceId,
    device_time_ms: r.deviceTimeMs,
    flags: [...r.flags],
    id: r.id,
    kind: r.kind,
    loinc: r.loinc,
    mdc: r.mdc,
    observed_at_ms: r.observedAtMs,
    received_at_ms: r.receivedAtMs,
    seq: r.seq,
    subject: r.subjectId,
    type: "reading",
    unit: r.unit,
    v: RECORD_VERSION,
    value: r.value,
  };
}

const str = JSON.stringify;

/**
 * JSON strings of the low-cardinality fields (device, subject, kind, LOINC, unit), cached: each is
 * encoded once rather than once per reading. Bounded; cleared when full.
 */
const jsonCache = new Map<string, string>();
const JSON_CACHE_MAX = 8192;

function cachedStr(s: string): string {
  let j = jsonCache.get(s);
  if (j === undefined) {
    if (jsonCache.size >= JSON_CACHE_MAX) jsonCache.clear();
    j = str(s);
    jsonCache.set(s, j);
  }
  return j;
}

/**
 * Canonical text of a reading record. Hot path: the members written in JCS order by one template
 * (strings and the flags array via `JSON.stringify`, numbers via Number::toString, which is JCS's number
 * form); test/batcher/tlog-canonical-record.test.ts pins it equal to `canonicalize(readingRecordObject)`.
 * Callers MUST pass finite numbers and well-formed strings (ingest guarantees both).
 */
export function readingRecordText(r: ReadingRecordFields): string {
  const deviceTime = r.deviceTimeMs === null ? "null" : r.deviceTimeMs;
  const mdc = r.mdc === null ? "null" : r.mdc;
  const flags = r.flags.length === 0 ? "[]" : str(r.flags);
  return `{"device":${cachedStr(r.deviceId)},"device_time_ms":${deviceTime},"flags":${flags},"id":${str(r.id)},"kind":${cachedStr(r.kind)},"loinc":${cachedStr(r.loinc)},"mdc":${mdc},"observed_at_ms":${r.observedAtMs},"received_at_ms":${r.receivedAtMs},"seq":${r.seq},"subject":${cachedStr(r.subjectId)},"type":"reading","unit":${cachedStr(r.unit)},"v":${RECORD_VERSION},"value":${r.value}}`;
}

/** Canonical text of an event record (general JCS: `data` is free-form). */
export function eventRecordText(e: EventRecordFields): string {
  return canonicalize({
    at_ms: e.atMs,
    data: e.data as JsonValue,
    device: e.deviceId,
    event: e.event,
    id: e.id,
    subject: e.subjectId,
    type: "event",
    v: RECORD_VERSION,
  });
}

/** A decoded record: the common fields every version and type carries. */
export interface DecodedRecord {
  readonly v: number;
  readonly type: "reading" | "event";
  readonly id: string;
  readonly subject: string | null;
  readonly fields: Readonly<Record<string, unknown>>;
}

/**
 * Decodes record bytes and checks they are the canonical JCS text of a known record version.
 * @throws SyntaxError naming the problem (not UTF-8, not JSON, not canonical, unknown version/type).
 */
export function decodeRecord(bytes: Uint8Array): DecodedRecord {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new SyntaxError("record is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SyntaxError("record is not JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new SyntaxError("record is not a JSON object");
  const obj = value as Record<string, unknown>;
  if (canonicalize(obj) !== text) throw new SyntaxError("record is not in RFC 8785 canonical form");
  if (obj.v !== RECORD_VERSION) throw new SyntaxError(`unsupported record version ${String(obj.v)}`);
  if (obj.type !== "reading" && obj.type !== "event")
    throw new SyntaxError(`unknown record type ${String(obj.type)}`);
  if (typeof obj.id !== "string" || obj.id.length === 0) throw new SyntaxError("record has no id");
  const subject = obj.subject;
  if (subject !== null && typeof subject !== "string") throw new SyntaxError("record subject is malformed");
  return { v: obj.v, type: obj.type, id: obj.id, subject, fields: obj };
}
