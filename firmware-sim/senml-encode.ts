import type { VitalsSample } from "./scenarios.js";

/**
 * The SenML pack a wearable publishes for one sample, with registered primary units only
 * (clinical.md §4.3): heart/respiratory rate in 1/min, SpO2 as a ratio "/", temperature in Cel,
 * blood pressure in Pa. Blood pressure and battery only every `slowEvery`-th pack.
 */
export function senmlPack(
  deviceId: string,
  sample: VitalsSample,
  timeSec: number | null,
  seq: number,
  slowEvery = 10,
) {
  const head: Record<string, unknown> = { bn: `urn:dev:vitalog-sim:${deviceId}:`, bver: 10 };
  if (timeSec !== null) head.bt = timeSec;
  const records: Record<string, unknown>[] = [{ ...head, n: "contact", vb: sample.sensorContact }];
  if (sample.sensorContact) {
    records.push(
      { n: "hr", u: "beat/min", v: sample.heartRate },
      { n: "spo2", u: "/", v: sample.spo2 / 100 },
      { n: "rr", u: "1/min", v: sample.respiratoryRate },
      { n: "temp", u: "Cel", v: sample.temperatureC },
    );
    if (seq % slowEvery === 0) {
      records.push(
        { n: "sbp", u: "Pa", v: Math.round(sample.systolic * 133.322387415) },
        { n: "dbp", u: "Pa", v: Math.round(sample.diastolic * 133.322387415) },
      );
    }
  }
  if (seq % slowEvery === 0) records.push({ n: "bat", u: "%EL", v: sample.batteryPct });
  return records;
}
