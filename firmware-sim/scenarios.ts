/**
 * Patient scenarios shared by every simulator (MQTT, serial, BLE): what a patient's vitals are at
 * time t. Deterministic for a given seed so tests and demos are repeatable.
 */
export const SCENARIOS = ["stable", "deteriorating", "sensor_off", "flapping", "silent"] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** Vital signs at one instant; `null` means the device sends nothing (silent). */
export interface VitalsSample {
  heartRate: number;
  spo2: number;
  respiratoryRate: number;
  temperatureC: number;
  systolic: number;
  diastolic: number;
  sensorContact: boolean;
  batteryPct: number;
}

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const lerp = (a: number, b: number, f: number) => a + (b - a) * Math.min(1, Math.max(0, f));
const round1 = (v: number) => Math.round(v * 10) / 10;

/**
 * Vitals of a patient following `scenario`, `tSec` seconds after the start.
 * - stable: normal adult values with small noise
 * - deteriorating: over `periodSec` drifts towards sepsis-like values (tachycardia, hypoxia, tachypnoea, fever, hypotension)
 * - sensor_off: normal, but the probe is off the finger for 15 s of every 45 s
 * - flapping: heart rate oscillating around 130/min (a typical high limit)
 * - silent: normal for `periodSec / 10` seconds, then the device goes quiet
 */
export function sampleVitals(
  scenario: Scenario,
  tSec: number,
  random: () => number,
  periodSec = 300,
): VitalsSample | null {
  const noise = (amp: number) => (random() * 2 - 1) * amp;
  const base: VitalsSample = {
    heartRate: round1(72 + noise(3)),
    spo2: Math.round(97 + noise(1)),
    respiratoryRate: Math.round(14 + noise(1.4)),
    temperatureC: round1(36.8 + noise(0.15)),
    systolic: Math.round(122 + noise(4)),
    diastolic: Math.round(78 + noise(3)),
    sensorContact: true,
    batteryPct: Math.max(5, Math.round(95 - tSec / 120)),
  };
  switch (scenario) {
    case "stable":
      return base;
    case "deteriorating": {
      const f = tSec / periodSec;
      return {
        ...base,
        heartRate: round1(lerp(82, 132, f) + noise(2)),
        spo2: Math.round(lerp(96, 87, f) + noise(0.8)),
        respiratoryRate: Math.round(lerp(16, 28, f) + noise(1)),
        temperatureC: round1(lerp(37.2, 39.2, f) + noise(0.1)),
        systolic: Math.round(lerp(124, 88, f) + noise(3)),
        diastolic: Math.round(lerp(80, 55, f) + noise(2)),
      };
    }
    case "sensor_off":
      return tSec % 45 >= 30 ? { ...base, sensorContact: false } : base;
    case "flapping":
      return { ...base, heartRate: round1(130 + 4 * Math.sin(tSec * 1.3) + noise(1)) };
    case "silent":
      return tSec < periodSec / 10 ? base : null;
  }
}

/** The scenario of the i-th simulated patient when running a mixed ward. */
export function scenarioFor(index: number): Scenario {
  return SCENARIOS[index % SCENARIOS.length]!;
}
