/**
 * Whether a reading describes the patient now: the test every physiological rule applies before a value may
 * raise, hold or clear a live alarm. Pure; time comes from the caller (the engine's injected clock).
 *
 * A reading is stored, proved and shown whatever its age (reading.ts keeps a wide storage window on purpose:
 * stored records fetched over the RACP months later are legitimate backfill). Only live alarms look at its
 * observation time: a value observed more than `maxAgeSec` before the gateway clock, or more than
 * `maxFutureSec` after it, never raises a live physiological alarm. NEWS2 applies the same future tolerance
 * and, instead of `maxAgeSec`, each parameter's own maximum age (news2.ts).
 *
 * Everything here depends on the gateway clock being right; a clock that jumps or is known not to be
 * synchronised is a technical condition of its own (clock-health-rule.ts).
 */
import type { Reading } from "../reading.js";

/** The staleness horizon (plain data, part of the YAML schema under `rules.staleness`). */
export interface StalenessConfig {
  /** A reading observed longer ago than this is historic: stored, never a live alarm. */
  maxAgeSec: number;
  /** A reading observed further ahead of the gateway clock than this is not trusted for a live alarm. */
  maxFutureSec: number;
}

/**
 * Defaults. Local engineering choice, to be reviewed by the clinical lead:
 * - `maxAgeSec` 300: five minutes is long beyond any device's buffering or a reconnect after a short link
 *   loss (whose values still describe the patient and must still alarm), and far shorter than a backfill of
 *   stored records, whose values describe a patient as they were, not as they are.
 * - `maxFutureSec` 120: the clock drift that clinical.md §6 flags (`clock_drift`, drift > 2 min from the
 *   gateway clock, itself an engineering choice there). A device clock further ahead than that is not trusted
 *   to say when the value was measured; such readings are still stored (up to 5 min ahead, reading.ts).
 */
export const DEFAULT_STALENESS_CONFIG: StalenessConfig = { maxAgeSec: 300, maxFutureSec: 120 };

/** How an observation time stands against the gateway clock: wire strings, only ever added to. */
export type Timeliness = "live" | "stale" | "future";

/** Throws RangeError unless both bounds are finite and non-negative (a bug or a config the schema let through). */
export function assertStalenessConfig(config: StalenessConfig): void {
  const ok = (n: unknown) => typeof n === "number" && Number.isFinite(n) && n >= 0;
  if (!ok(config.maxAgeSec) || !ok(config.maxFutureSec)) {
    throw new RangeError("staleness: maxAgeSec and maxFutureSec must be finite and >= 0");
  }
}

/**
 * Where `observedAtMs` stands at `nowMs`: older than `maxAgeSec` is `stale`, further ahead than `maxFutureSec`
 * is `future`, anything between (both bounds included) is `live`.
 */
export function timelinessOf(
  observedAtMs: number,
  nowMs: number,
  maxAgeSec: number,
  maxFutureSec: number,
): Timeliness {
  if (observedAtMs < nowMs - maxAgeSec * 1000) return "stale";
  if (observedAtMs > nowMs + maxFutureSec * 1000) return "future";
  return "live";
}

/** The timeliness of a reading under the staleness horizon. */
export function timeliness(
  reading: Pick<Reading, "observedAtMs">,
  nowMs: number,
  config: StalenessConfig,
): Timeliness {
  return timelinessOf(reading.observedAtMs, nowMs, config.maxAgeSec, config.maxFutureSec);
}

/** Whether a reading may raise, hold or clear a live physiological alarm at `nowMs`. */
export function isLive(
  reading: Pick<Reading, "observedAtMs">,
  nowMs: number,
  config: StalenessConfig,
): boolean {
  return timeliness(reading, nowMs, config) === "live";
}

/**
 * Whether an observation may enter a score whose parameter has its own maximum age (NEWS2): not older than
 * `maxAgeSec` and not further ahead than the staleness horizon's `maxFutureSec`.
 */
export function isWithinAge(
  observedAtMs: number,
  nowMs: number,
  maxAgeSec: number,
  config: Pick<StalenessConfig, "maxFutureSec">,
): boolean {
  return timelinessOf(observedAtMs, nowMs, maxAgeSec, config.maxFutureSec) === "live";
}
