/**
 * Limits on what one device payload may contain, and a JSON parse that enforces the nesting limit
 * before any parser or code recurses over the document. Pure; no Node-only APIs.
 *
 * Every limit carries the refusal reason a device sees when it is over it (wire strings: snake_case, only
 * ever added to). The payload's byte size is bounded before this, by the transport.
 */

/** The payload limits and the reason each one's refusal is counted under. */
export const PAYLOAD_LIMITS = {
  /**
   * Arrays and objects open at once. A SenML pack needs 2 (pack, record), the plain JSON form 3
   * (document, readings, reading); the slack leaves room for unknown labels holding small structures.
   */
  depth: { max: 8, reason: "payload_too_deep" },
  /** SenML records per pack, or entries in a plain JSON `readings` array. */
  records: { max: 512, reason: "too_many_records" },
  /** Labels (keys) per SenML record or plain JSON object; RFC 8428 defines 15 plus the `ucum_` label. */
  labels: { max: 32, reason: "too_many_labels" },
  /** SenML `bn`, `n` and the resolved name; the plain JSON `kind`. */
  name: { maxChars: 128, reason: "name_too_long" },
  /** SenML `u`, `bu`, `ucum_`; the plain JSON `unit`. */
  unit: { maxChars: 32, reason: "unit_too_long" },
  /** SenML `vs` and `vd` (carried, never stored, but still parsed). */
  stringValue: { maxChars: 256, reason: "string_value_too_long" },
  /**
   * Earliest SenML relative time, in seconds before receipt. [RFC 8428 §4.5.3] times below 2^28 are
   * relative to now; an offset further back than 2^28 s (about 8.5 years) is not a measurement a
   * clock-less device can mean, and keeps every resolved offset a safe integer of milliseconds.
   */
  relativeTime: { minSec: -(2 ** 28), reason: "time_offset_out_of_range" },
} as const;

/** Reasons under which the limits above refuse a payload or a record. */
export type PayloadLimitReason = (typeof PAYLOAD_LIMITS)[keyof typeof PAYLOAD_LIMITS]["reason"];

const OPEN_BRACKET = 0x5b; // [
const OPEN_BRACE = 0x7b; // {
const CLOSE_BRACKET = 0x5d; // ]
const CLOSE_BRACE = 0x7d; // }
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Offset of the first `[` or `{` that opens more than `maxDepth` levels, or -1. One pass, no recursion.
 *
 * [RFC 8259 §7] inside a string a backslash escapes the next character and a quote ends it; outside
 * strings every bracket is structure. Text that is not JSON may be scanned wrongly, but a parser then
 * refuses it at or before the point where the scan and the grammar disagree, so any text a parser accepts
 * nests no deeper than this reports.
 */
export function excessDepthOffset(text: string, maxDepth: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      depth++;
      if (depth > maxDepth) return i;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
  }
  return -1;
}

/** The outcome of {@link parseBoundedJson}. Details name positions and limits, never the device's text. */
export type BoundedJson =
  | { ok: true; value: unknown }
  | { ok: false; reason: "payload_too_deep" | "payload_malformed_json"; detail: string };

/** JSON.parse behind the depth limit: deeper text is refused before it is parsed. */
export function parseBoundedJson(text: string): BoundedJson {
  const at = excessDepthOffset(text, PAYLOAD_LIMITS.depth.max);
  if (at >= 0) {
    return {
      ok: false,
      reason: PAYLOAD_LIMITS.depth.reason,
      detail: `payload nests deeper than ${PAYLOAD_LIMITS.depth.max} levels (at offset ${at})`,
    };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    // the engine's message quotes the payload: keep none of it
    return { ok: false, reason: "payload_malformed_json", detail: "payload is not valid JSON" };
  }
}
