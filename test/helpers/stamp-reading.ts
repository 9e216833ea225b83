import type { NormalisedInput, Reading } from "../../src/reading.js";

/** Stamps a normalised input the way ingest does (id, device, subject, receive time, sequence). */
export function stampReading(n: NormalisedInput, receivedAtMs: number, seq: number): Reading {
  return {
    id: `01KAKX${String(seq).padStart(20, "0")}`,
    deviceId: "bedside-7",
    subjectId: "patient-42",
    kind: n.kind,
    loinc: n.loinc,
    value: n.value,
    unit: n.unit,
    deviceTimeMs: n.deviceTimeMs,
    receivedAtMs,
    observedAtMs: n.observedAtMs,
    seq,
    flags: n.flags,
    mdc: n.mdc,
  };
}
