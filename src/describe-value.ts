/**
 * A bounded description of a value a device sent, for rejection details and logs. Pure; no Node-only APIs.
 *
 * Never `JSON.stringify` (or otherwise recurse over) a device-controlled value: a 10 KB array nested 5,000
 * deep overflows the stack, and a long string ends up whole in every log line and rejection row.
 */

/** Longest excerpt of a string kept in a description (the description itself stays under ~64 characters). */
export const DESCRIBED_STRING_CHARS = 40;

/**
 * The type of `value` and, for scalars, at most {@link DESCRIBED_STRING_CHARS} characters of it:
 * `string(300) "abc…"`, `array(5000)`, `object`, `number 1e+308`. Never recurses, never throws.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string": {
      if (value.length <= DESCRIBED_STRING_CHARS) return `string ${JSON.stringify(value)}`;
      // JSON.stringify of a flat string only escapes: control characters and lone surrogates stay readable
      return `string(${value.length}) ${JSON.stringify(value.slice(0, DESCRIBED_STRING_CHARS))}…`;
    }
    case "number":
      return `number ${String(value)}`;
    case "boolean":
      return `boolean ${String(value)}`;
    case "undefined":
      return "undefined";
    case "object":
      if (value === null) return "null";
      return Array.isArray(value) ? `array(${value.length})` : "object";
    default:
      return typeof value;
  }
}
