/**
 * NEWS2 scoring, pure: RCP, National Early Warning Score (NEWS) 2, Dec 2017, Chart 1 (scoring) and Chart 3/4
 * (thresholds, clinical response); tables in clinical.md §2.
 *
 * Rounding decision (the chart is silent on values between its integer bands, e.g. RR 20.6):
 * respiratory rate, SpO2, systolic BP and pulse are rounded half-up to an integer, temperature half-up to
 * 0.1 °C, *before* scoring [clinical.md §2.1 "Implementation decision"]. So RR 20.5 → 21 (scores 2),
 * RR 20.4 → 20 (scores 0), temperature 35.05 → 35.1 (scores 1), 35.04 → 35.0 (scores 3). Raw and rounded
 * values are both reported. A tiny epsilon absorbs binary floating point (36.05 is stored as 36.04999…).
 */
import type { Acvpu } from "./rule.js";

/** The seven NEWS2 parameters (wire strings). */
export const NEWS2_PARAMETERS = [
  "respiratory_rate",
  "spo2",
  "supplemental_oxygen",
  "systolic_bp",
  "pulse",
  "consciousness",
  "temperature",
] as const;
export type News2Parameter = (typeof NEWS2_PARAMETERS)[number];

/**
 * Clinical-risk bands [RCP NEWS2 Chart 3/4]: "zero" (aggregate 0), "low" (1–4), "low_medium" (a single
 * parameter scoring 3, "red score"), "medium" (5–6, key threshold for urgent response), "high" (≥ 7).
 */
export type News2Band = "zero" | "low" | "low_medium" | "medium" | "high";

const BAND_RANK: Record<News2Band, number> = { zero: 0, low: 1, low_medium: 2, medium: 3, high: 4 };

/** Half-up rounding to `decimals` places for non-negative chart values (see the module comment). */
export function roundHalfUp(value: number, decimals: 0 | 1): number {
  const f = decimals === 0 ? 1 : 10;
  return Math.floor(value * f + 0.5 + 1e-9) / f;
}

/** Respiration rate per min: ≤8 → 3, 9–11 → 1, 12–20 → 0, 21–24 → 2, ≥25 → 3. */
export function scoreRespiratoryRate(perMin: number): number {
  const r = roundHalfUp(perMin, 0);
  if (r <= 8) return 3;
  if (r <= 11) return 1;
  if (r <= 20) return 0;
  if (r <= 24) return 2;
  return 3;
}

/** SpO2 scale 1 (%): ≤91 → 3, 92–93 → 2, 94–95 → 1, ≥96 → 0. */
export function scoreSpo2Scale1(pct: number): number {
  const s = roundHalfUp(pct, 0);
  if (s <= 91) return 3;
  if (s <= 93) return 2;
  if (s <= 95) return 1;
  return 0;
}

/**
 * SpO2 scale 2 (%), only for a prescribed 88–92 % target: ≤83 → 3, 84–85 → 2, 86–87 → 1, 88–92 → 0,
 * ≥93 on air → 0; on oxygen 93–94 → 1, 95–96 → 2, ≥97 → 3 (over-oxygenation is scored).
 */
export function scoreSpo2Scale2(pct: number, isOnOxygen: boolean): number {
  const s = roundHalfUp(pct, 0);
  if (s <= 83) return 3;
  if (s <= 85) return 2;
  if (s <= 87) return 1;
  if (s <= 92 || !isOnOxygen) return 0;
  if (s <= 94) return 1;
  if (s <= 96) return 2;
  return 3;
}

/** Air or oxygen: supplemental oxygen scores 2, on either SpO2 scale. */
export function scoreSupplementalOxygen(isOnOxygen: boolean): number {
  return isOnOxygen ? 2 : 0;
}

/** Systolic BP mmHg: ≤90 → 3, 91–100 → 2, 101–110 → 1, 111–219 → 0, ≥220 → 3. */
export function scoreSystolicBp(mmHg: number): number {
  const s = roundHalfUp(mmHg, 0);
  if (s <= 90) return 3;
  if (s <= 100) return 2;
  if (s <= 110) return 1;
  if (s <= 219) return 0;
  return 3;
}

/** Pulse per min: ≤40 → 3, 41–50 → 1, 51–90 → 0, 91–110 → 1, 111–130 → 2, ≥131 → 3. */
export function scorePulse(perMin: number): number {
  const p = roundHalfUp(perMin, 0);
  if (p <= 40) return 3;
  if (p <= 50) return 1;
  if (p <= 90) return 0;
  if (p <= 110) return 1;
  if (p <= 130) return 2;
  return 3;
}

/** Consciousness: Alert → 0; new Confusion, Voice, Pain, Unresponsive → 3. */
export function scoreConsciousness(level: Acvpu): number {
  return level === "A" ? 0 : 3;
}

/** Temperature °C: ≤35.0 → 3, 35.1–36.0 → 1, 36.1–38.0 → 0, 38.1–39.0 → 1, ≥39.1 → 2. */
export function scoreTemperature(celsius: number): number {
  // Compare in whole tenths so 36.0 vs 36.1 never depends on binary fractions.
  const tenths = Math.round(roundHalfUp(celsius, 1) * 10);
  if (tenths <= 350) return 3;
  if (tenths <= 360) return 1;
  if (tenths <= 380) return 0;
  if (tenths <= 390) return 1;
  return 2;
}

/**
 * The clinical-risk band: `max(band(aggregate), hasRedScore ? low_medium : band(aggregate))`
 * [clinical.md §2.2 "Edge logic"]. `redScoreAsMedium` is the local policy of treating a red score like 5–6.
 */
export function news2Band(total: number, hasRedScore: boolean, redScoreAsMedium = false): News2Band {
  let band: News2Band = total === 0 ? "zero" : total <= 4 ? "low" : total <= 6 ? "medium" : "high";
  if (hasRedScore) {
    const red: News2Band = redScoreAsMedium ? "medium" : "low_medium";
    if (BAND_RANK[red] > BAND_RANK[band]) band = red;
  }
  return band;
}
