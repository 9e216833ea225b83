/**
 * SenML JSON (RFC 8428, with RFC 9100 versions) parsing and resolution. Pure; no Node-only APIs.
 * Reference: ../shared/reference/clinical.md §4. Bounded: see PAYLOAD_LIMITS (json-bounds.ts).
 */

import { describeValue } from "../../describe-value.js";
import { PAYLOAD_LIMITS, type PayloadLimitReason, parseBoundedJson } from "./json-bounds.js";

/** [RFC 8428 §4.5.3] resolved times below 2^28 are relative to "now". */
export const RELATIVE_TIME_LIMIT = 2 ** 28;
/** [RFC 9100] bver is a feature bitmap: base version 10 (bits 1, 3) plus feature 4, secondary units. */
export const FEATURE_SECONDARY_UNITS = 1 << 4;
export const SUPPORTED_BVER_BITS = 10 | FEATURE_SECONDARY_UNITS;
/** Must-understand labels this gateway understands (a closed-ecosystem UCUM unit, clinical.md §4.3 option 3). */
export const UNDERSTOOD_MUST_UNDERSTAND = new Set(["ucum_"]);

/** A record after base-field resolution (RFC 8428 §4.6): absolute or relative time made explicit. */
export interface ResolvedRecord {
  /** Position of the record in the pack. */
  index: number;
  name: string;
  unit: string | undefined;
  /** Value of the private `ucum_` label when present. */
  ucum: string | undefined;
  value: number | undefined;
  boolValue: boolean | undefined;
  stringValue: string | undefined;
  dataValue: string | undefined;
  sum: number | undefined;
  /** Resolved time in seconds: POSIX seconds when absolute, offset from receipt when relative. */
  time: number;
  isRelativeTime: boolean;
  updateTime: number | undefined;
  /** The pack's version bitmap in force for this record. */
  version: number;
}

export type SenmlReason =
  | "payload_malformed_json"
  | "senml_not_array"
  | "senml_empty"
  | "senml_invalid_record"
  | "senml_invalid_field"
  | "senml_must_understand"
  | "senml_version_unsupported"
  | "senml_invalid_name"
  | "senml_no_value"
  | "senml_multiple_values"
  | "value_not_finite"
  | PayloadLimitReason;

/** Why a pack cannot be resolved; names the record (index) and the label when known. */
export class SenmlError extends Error {
  readonly reason: SenmlReason;
  readonly recordIndex: number | undefined;
  constructor(reason: SenmlReason, message: string, recordIndex?: number) {
    super(message);
    this.name = "SenmlError";
    this.reason = reason;
    this.recordIndex = recordIndex;
  }
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9\-:./_]*$/;
const NUMBER_LABELS = ["bt", "bv", "bs", "bver", "v", "s", "t", "ut"] as const;
const STRING_LABELS = ["bn", "bu", "n", "u", "vs", "vd", "ucum_"] as const;
/** Which length limit each string label is held to. */
const STRING_LIMITS = {
  bn: PAYLOAD_LIMITS.name,
  n: PAYLOAD_LIMITS.name,
  bu: PAYLOAD_LIMITS.unit,
  u: PAYLOAD_LIMITS.unit,
  ucum_: PAYLOAD_LIMITS.unit,
  vs: PAYLOAD_LIMITS.stringValue,
  vd: PAYLOAD_LIMITS.stringValue,
} as const;

/**
 * Parses JSON text into resolved records. Throws SenmlError naming the first problem; text nested deeper
 * than PAYLOAD_LIMITS.depth is refused before it is parsed.
 */
export function parseSenml(text: string): ResolvedRecord[] {
  const parsed = parseBoundedJson(text);
  if (!parsed.ok) throw new SenmlError(parsed.reason, parsed.detail);
  return resolveSenml(parsed.value);
}

/** Resolves a parsed SenML pack per RFC 8428 §4.6. */
export function resolveSenml(pack: unknown): ResolvedRecord[] {
  if (!Array.isArray(pack))
    throw new SenmlError("senml_not_array", "a SenML pack is a JSON array of records");
  if (pack.length === 0) throw new SenmlError("senml_empty", "the SenML pack has no records");
  if (pack.length > PAYLOAD_LIMITS.records.max) {
    throw new SenmlError(
      PAYLOAD_LIMITS.records.reason,
      `the SenML pack has ${pack.length} records, more than ${PAYLOAD_LIMITS.records.max}`,
    );
  }
  let bn = "";
  let bt = 0;
  let bu: string | undefined;
  let bv = 0;
  let bs = 0;
  let bver = 10;
  const out: ResolvedRecord[] = [];
  pack.forEach((rec: unknown, index) => {
    if (rec === null || typeof rec !== "object" || Array.isArray(rec)) {
      throw new SenmlError("senml_invalid_record", `record ${index} is not a JSON object`, index);
    }
    const r = rec as Record<string, unknown>;
    const labels = Object.keys(r);
    if (labels.length > PAYLOAD_LIMITS.labels.max) {
      throw new SenmlError(
        PAYLOAD_LIMITS.labels.reason,
        `record ${index} has ${labels.length} labels, more than ${PAYLOAD_LIMITS.labels.max}`,
        index,
      );
    }
    for (const label of labels) {
      // [RFC 8428 §4.4] labels ending in "_" must be understood or the pack rejected
      if (label.endsWith("_") && !UNDERSTOOD_MUST_UNDERSTAND.has(label)) {
        throw new SenmlError(
          "senml_must_understand",
          `record ${index} has must-understand label ${describeValue(label)}`,
          index,
        );
      }
    }
    for (const label of NUMBER_LABELS) {
      if (label in r) {
        const v = r[label];
        if (typeof v !== "number") {
          throw new SenmlError(
            "senml_invalid_field",
            `record ${index} label ${label} must be a number`,
            index,
          );
        }
        // JSON.parse turns 1e400 into Infinity; SenML numbers are finite
        if (!Number.isFinite(v)) {
          throw new SenmlError("value_not_finite", `record ${index} label ${label} is not finite`, index);
        }
      }
    }
    for (const label of STRING_LABELS) {
      if (!(label in r)) continue;
      const v = r[label];
      if (typeof v !== "string") {
        throw new SenmlError("senml_invalid_field", `record ${index} label ${label} must be a string`, index);
      }
      const limit = STRING_LIMITS[label];
      if (v.length > limit.maxChars) {
        throw new SenmlError(
          limit.reason,
          `record ${index} label ${label} has ${v.length} characters, more than ${limit.maxChars}`,
          index,
        );
      }
    }
    if ("vb" in r && typeof r.vb !== "boolean") {
      throw new SenmlError("senml_invalid_field", `record ${index} label vb must be a boolean`, index);
    }
    if ("bver" in r) {
      const v = r.bver as number;
      // [RFC 8428 §4.4] versions up to 10 are older or equal: accepted. Above 10, [RFC 9100] compares
      // feature bits, not magnitude: the base bits must be set and no unknown feature may be.
      const ok =
        Number.isInteger(v) && v > 0 && (v <= 10 || ((v & 10) === 10 && (v & ~SUPPORTED_BVER_BITS) === 0));
      if (!ok) {
        throw new SenmlError(
          "senml_version_unsupported",
          `record ${index} bver ${v} is not supported`,
          index,
        );
      }
      bver = v;
    }
    // [RFC 8428 §4] a base field applies until the next record carrying the same base field
    if ("bn" in r) bn = r.bn as string;
    if ("bt" in r) bt = r.bt as number;
    if ("bu" in r) bu = r.bu as string;
    if ("bv" in r) bv = r.bv as number;
    if ("bs" in r) bs = r.bs as number;

    const name = bn + ((r.n as string | undefined) ?? "");
    if (name.length > PAYLOAD_LIMITS.name.maxChars) {
      throw new SenmlError(
        PAYLOAD_LIMITS.name.reason,
        `record ${index} resolved name has ${name.length} characters, more than ${PAYLOAD_LIMITS.name.maxChars}`,
        index,
      );
    }
    if (!NAME_PATTERN.test(name)) {
      throw new SenmlError(
        "senml_invalid_name",
        `record ${index} resolved name ${describeValue(name)} is invalid`,
        index,
      );
    }
    const valueLabels = ["v", "vs", "vb", "vd"].filter((l) => l in r);
    if (valueLabels.length > 1) {
      throw new SenmlError(
        "senml_multiple_values",
        `record ${index} has more than one value (${valueLabels})`,
        index,
      );
    }
    if (valueLabels.length === 0 && !("s" in r)) {
      throw new SenmlError("senml_no_value", `record ${index} has no value`, index);
    }
    const time = bt + ((r.t as number | undefined) ?? 0);
    out.push({
      index,
      name,
      unit: (r.u as string | undefined) ?? bu,
      ucum: r.ucum_ as string | undefined,
      value: "v" in r ? bv + (r.v as number) : undefined,
      boolValue: r.vb as boolean | undefined,
      stringValue: r.vs as string | undefined,
      dataValue: r.vd as string | undefined,
      sum: "s" in r ? bs + (r.s as number) : undefined,
      time,
      isRelativeTime: time < RELATIVE_TIME_LIMIT,
      updateTime: r.ut as number | undefined,
      version: bver,
    });
  });
  return out;
}
