/**
 * What a scenario's device sends, as the device would put it on the wire: a SenML pack [RFC 8428] with the
 * units SenML registers, or the gateway's plain JSON form with UCUM units. Scenario files give values in
 * clinical units (SpO2 %, rates /min, pressures mmHg, temperature °C, glucose mg/dL, weight kg).
 */
import type { VitalKind } from "../../src/reading.js";
import type { ScenarioStep } from "./scenario-schema.js";

export type Send = NonNullable<ScenarioStep["send"]>;
type Vitals = Send["vitals"];

/** 1 mm[Hg] in Pa (UCUM). */
const PA_PER_MMHG = 133.322387415;

/** SenML record name, unit and scale per vital [RFC 8428; reference/clinical.md §4.3]. */
const SENML: Record<VitalKind, { n: string; u: string; scale: number }> = {
  heart_rate: { n: "hr", u: "beat/min", scale: 1 },
  pulse_rate: { n: "pr", u: "beat/min", scale: 1 },
  respiratory_rate: { n: "rr", u: "1/min", scale: 1 },
  // SenML has no percent: "/" is a ratio, 97 % is 0.97
  spo2: { n: "spo2", u: "/", scale: 0.01 },
  body_temperature: { n: "temp", u: "Cel", scale: 1 },
  // SenML has no mmHg: pressures in Pa
  bp_systolic: { n: "sbp", u: "Pa", scale: PA_PER_MMHG },
  bp_diastolic: { n: "dbp", u: "Pa", scale: PA_PER_MMHG },
  bp_mean: { n: "map", u: "Pa", scale: PA_PER_MMHG },
  // 1 mg/dL = 0.01 kg/m3
  glucose: { n: "glu", u: "kg/m3", scale: 0.01 },
  body_weight: { n: "wt", u: "kg", scale: 1 },
};

/** UCUM units of the plain JSON form. */
const UCUM: Record<VitalKind, string> = {
  heart_rate: "/min",
  pulse_rate: "/min",
  respiratory_rate: "/min",
  spo2: "%",
  body_temperature: "Cel",
  bp_systolic: "mm[Hg]",
  bp_diastolic: "mm[Hg]",
  bp_mean: "mm[Hg]",
  glucose: "mg/dL",
  body_weight: "kg",
};

/** The vitals of a send's `n`-th firing (from 0): its `vitals`, with its cycle's turn merged over them. */
export function vitalsOf(send: Send, n: number): Vitals {
  if (!send.cycle) return send.vitals;
  const period = send.cycle.reduce((sum, c) => sum + c.sends, 0);
  let k = n % period;
  for (const c of send.cycle) {
    if (k < c.sends) return { ...send.vitals, ...c.vitals };
    k -= c.sends;
  }
  return send.vitals;
}

/**
 * The payload of one send. `measuredMs`: when the values were measured (the device's clock), or undefined for a
 * device that gives no time (measured when received).
 */
export function encodeFrame(
  format: "senml" | "json",
  deviceId: string,
  send: Send,
  vitals: Vitals,
  measuredMs: number | undefined,
): string {
  const entries = Object.entries(vitals) as [VitalKind, number][];
  if (format === "json") {
    return JSON.stringify({
      ...(measuredMs !== undefined ? { time: measuredMs } : {}),
      readings: entries.map(([kind, value]) => ({ kind, value, unit: UCUM[kind] })),
      ...(send.battery !== undefined ? { battery_pct: send.battery } : {}),
      ...(send.contact !== undefined ? { sensor_contact: send.contact } : {}),
    });
  }
  const records: Record<string, unknown>[] = entries.map(([kind, value]) => {
    const m = SENML[kind];
    return { n: m.n, u: m.u, v: Math.round(value * m.scale * 1e6) / 1e6 };
  });
  if (send.battery !== undefined) records.push({ n: "bat", u: "%EL", v: send.battery });
  if (send.contact !== undefined) records.push({ n: "contact", vb: send.contact });
  if (records.length === 0) throw new RangeError("a send needs vitals, contact or battery");
  // base name: the device's URN; base time: when measured, in seconds [RFC 8428 §4.5.3]
  records[0] = {
    bn: `urn:dev:vitalog:${deviceId}:`,
    ...(measuredMs !== undefined ? { bt: measuredMs / 1000 } : {}),
    ...records[0],
  };
  return JSON.stringify(records);
}
