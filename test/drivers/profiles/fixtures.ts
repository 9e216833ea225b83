/** Shared fixtures for the profile spec-vector suites (not a test file). */
import type { DecodeContext } from "../../../src/drivers/profiles/decode-result.js";

/** Gateway time after every spec example (examples are dated 2012–2024). */
export const NOW_MS = Date.UTC(2025, 0, 1);
export const ctx: DecodeContext = { nowMs: NOW_MS };

/** All subsets of the given flag masks, OR-ed. */
export function flagCombinations(masks: readonly number[]): number[] {
  const out: number[] = [];
  for (let n = 0; n < 1 << masks.length; n++) {
    out.push(masks.reduce((acc, m, i) => (n & (1 << i) ? acc | m : acc), 0));
  }
  return out;
}
