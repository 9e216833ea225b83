/**
 * `vitalog audit`: `clinician_observations` against the log. Each row is written from a logged
 * `clinician_observation` event in the same transaction (alert-store.ts), and the row carries no event id,
 * so rows and events are matched by their whole content (subject, who entered it, via, when observed and
 * entered, oxygen, ACVPU, SpO2 scale), each one once. What is left over on both sides is paired by subject
 * and entry time, so a changed field (an ACVPU entry altered) is named as such; the rest is a deleted or
 * an inserted row. A row of an erased subject is a finding: the erasure purges them (erasure.ts), so one left
 * was not purged (an older version's erasure: erase the subject again) or was put back since.
 */
import type { Database } from "better-sqlite3";
import { OBSERVATION_EVENT_TYPE } from "../../rules/sinks/alert-message.js";
import type { ObservationData } from "../../rules/sinks/alert-store.js";
import type { ErasedSubjects, LoggedEvent } from "./audit-events.js";
import { isoTime, scalar, showValue, type TableCheck } from "./audit-findings.js";

const COLUMNS = [
  "subject_id",
  "entered_by",
  "via",
  "observed_at_ms",
  "entered_at_ms",
  "supplemental_oxygen",
  "acvpu",
  "spo2_scale",
] as const;

type Row = Record<string, unknown>;

const SETUP = `
DROP TABLE IF EXISTS temp.audit_observations;
CREATE TEMP TABLE audit_observations (
  leaf INTEGER PRIMARY KEY, ${COLUMNS.join(", ")}
);
`;

export function observationsCheck(db: Database, erased: ErasedSubjects): TableCheck {
  db.exec(SETUP);
  const insert = db.prepare(
    `INSERT INTO temp.audit_observations (leaf, ${COLUMNS.join(", ")}) VALUES (?${", ?".repeat(COLUMNS.length)})`,
  );
  return {
    onEvent(e: LoggedEvent) {
      if (e.type !== OBSERVATION_EVENT_TYPE) return;
      const o = e.data as unknown as ObservationData;
      const oxygen = o.supplemental_oxygen;
      insert.run(
        e.leafIndex,
        scalar(o.subject_id),
        scalar(o.entered_by),
        scalar(o.via),
        scalar(o.observed_at_ms),
        scalar(o.entered_at_ms),
        // stored as 1/0/NULL (alert-store.ts)
        oxygen === true ? 1 : oxygen === false ? 0 : null,
        scalar(o.acvpu),
        scalar(o.spo2_scale),
      );
    },
    finish(add) {
      const table = "clinician_observations";
      const same = COLUMNS.map((c) => `x.${c} IS y.${c}`).join(" AND ");
      const part = COLUMNS.join(", ");
      // identical entries are matched in order: the k-th logged one with the k-th stored one
      const numbered = `
        logged AS (SELECT leaf AS pos, ${part}, row_number() OVER (PARTITION BY ${part} ORDER BY leaf) AS k
                   FROM temp.audit_observations),
        stored AS (SELECT row_id AS pos, ${part}, row_number() OVER (PARTITION BY ${part} ORDER BY row_id) AS k
                   FROM main.clinician_observations)`;
      const unmatched = (from: "logged" | "stored", other: "logged" | "stored") =>
        db
          .prepare(
            `WITH ${numbered} SELECT * FROM ${from} x
             WHERE NOT EXISTS (SELECT 1 FROM ${other} y WHERE ${same} AND x.k = y.k) ORDER BY x.pos`,
          )
          .all() as Row[];
      const missing = unmatched("logged", "stored");
      const extra = unmatched("stored", "logged");
      const rows = db.prepare("SELECT COUNT(*) FROM main.clinician_observations").pluck().get() as number;
      const key = (r: Row) => `${r.subject_id}\u0000${r.entered_at_ms}`;
      const extraByKey = new Map<string, Row[]>();
      for (const r of extra) {
        const list = extraByKey.get(key(r));
        if (list) list.push(r);
        else extraByKey.set(key(r), [r]);
      }
      const changed = new Set<Row>();
      for (const m of missing) {
        const stored = extraByKey.get(key(m))?.find((r) => !changed.has(r));
        const when = `entry by ${showValue(m.entered_by)} at ${isoTime(m.entered_at_ms)}`;
        if (stored !== undefined) {
          changed.add(stored);
          const diffs = COLUMNS.filter((c) => m[c] !== stored[c]).map(
            (c) => `${c}: logged ${showValue(m[c])}, stored ${showValue(stored[c])}`,
          );
          add({
            kind: "observation_mismatch",
            ref: String(stored.pos),
            leafIndex: Number(m.pos),
            detail: `row ${stored.pos} differs from its logged ${when}: ${diffs.join("; ")}`,
            table,
          });
        } else {
          add({
            kind: "observation_mismatch",
            ref: null,
            leafIndex: Number(m.pos),
            detail: `logged ${when} has no row: deleted`,
            table,
          });
        }
      }
      let erasedRows = 0;
      for (const r of extra) {
        if (changed.has(r)) continue;
        if (erased.covers(String(r.subject_id), Number(r.entered_at_ms))) {
          erasedRows++;
          add({
            kind: "observation_mismatch",
            ref: String(r.pos),
            leafIndex: null,
            detail: `row ${r.pos} (entry by ${showValue(r.entered_by)} at ${isoTime(r.entered_at_ms)}) names an erased subject: not purged by its erasure, or put back since (erase the subject again to purge it)`,
            table,
          });
          continue;
        }
        add({
          kind: "observation_mismatch",
          ref: String(r.pos),
          leafIndex: null,
          detail: `row ${r.pos} (entry by ${showValue(r.entered_by)} at ${isoTime(r.entered_at_ms)}) has no logged clinician_observation: inserted`,
          table,
        });
      }
      return [{ table, rows, verified: rows - extra.length, pending: 0, erased: erasedRows }];
    },
  };
}
