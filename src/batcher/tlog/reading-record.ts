/** The canonical record fields of a stored `readings` row: what the log commits to for a reading. */

import type { ReadingRow } from "../commit/reading-store.js";
import type { ReadingRecordFields } from "../verifier/canonical-record.js";

/** The record fields of a stored reading row (flags are stored comma-joined). */
export function readingFromRow(r: Omit<ReadingRow, "row_id">): ReadingRecordFields {
  return {
    id: r.id,
    deviceId: r.device_id,
    subjectId: r.subject_id,
    seq: r.device_seq,
    kind: r.kind,
    loinc: r.loinc,
    value: r.value,
    unit: r.unit,
    mdc: r.mdc,
    deviceTimeMs: r.device_time_ms,
    observedAtMs: r.observed_at_ms,
    receivedAtMs: r.received_at_ms,
    flags: r.flags ? r.flags.split(",") : [],
  };
}
