/**
 * Seeds for randomized tests. A test that draws random kill points MUST log its seed and MUST take
 * `VITALOG_TEST_SEED` to replay a run: a crash that shows up once in a hundred runs is only fixable when
 * the same kill points can be had again. The draws come from fast-check (already the property-test
 * library) rather than a hand-written generator.
 */
import { randomInt } from "node:crypto";
import type { TestContext } from "node:test";
import fc from "fast-check";

/** Environment variable that replays a randomized test with the seed it logged. */
export const SEED_ENV = "VITALOG_TEST_SEED";

/** The seed of this run (from `VITALOG_TEST_SEED`, else fresh), logged as a test diagnostic. */
export function testSeed(t: TestContext): number {
  const raw = process.env[SEED_ENV];
  const seed = raw === undefined || raw === "" ? randomInt(2 ** 31) : Number(raw);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${SEED_ENV} must be an integer, not ${raw}`);
  t.diagnostic(`seed ${seed} (replay with ${SEED_ENV}=${seed})`);
  return seed;
}

/** `count` integers in [min, max] drawn from `seed`: the same seed gives the same integers. */
export function seededIntegers(seed: number, count: number, min: number, max: number): number[] {
  return fc.sample(fc.integer({ min, max }), { seed, numRuns: count });
}
