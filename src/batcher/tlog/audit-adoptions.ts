/**
 * What operators adopted into the log (`vitalog tlog adopt-unlogged`), listed by `vitalog audit` so an
 * auditor sees every row whose history the gateway did not witness: device rows (`device_bound` with
 * `via: "adopted"`, adopt-devices.ts) and rejection evidence (`rejection_evidence_adopted`,
 * adopt-rejections.ts). Readings' adoptions are listed from the leaf pass (tlog-audit.ts). Adoptions are
 * not findings. Field names are wire strings (`--json`), snake_case, only ever added to.
 */
import { DEVICE_BOUND } from "../../drivers/device-events.js";
import { REJECTION_EVIDENCE_ADOPTED } from "../commit/rejection-evidence.js";
import type { LoggedEvent } from "./audit-events.js";

/** A device row put in the log by an operator, as it stood. */
export interface DeviceAdoption {
  readonly event_id: string;
  readonly leaf_index: number;
  readonly at_ms: number;
  readonly device_id: string;
  readonly subject_id: string | null;
  readonly by: string | null;
  readonly reason: string | null;
}

/** Rejection evidence put in the log by an operator (one event of an adoption). */
export interface RejectionAdoption {
  readonly event_id: string;
  readonly leaf_index: number;
  readonly at_ms: number;
  readonly by: string | null;
  readonly reason: string | null;
  /** Count rows whose unlogged part was adopted, and the refusals it adds up to. */
  readonly counts: number;
  readonly refusals: number;
  /** Sample rows adopted. */
  readonly samples: number;
}

/** Collects the adoptions from the log's events, in log order. */
export class AdoptionList {
  readonly devices: DeviceAdoption[] = [];
  readonly rejections: RejectionAdoption[] = [];

  onEvent(e: LoggedEvent): void {
    const text = (v: unknown) => (typeof v === "string" ? v : null);
    if (e.type === DEVICE_BOUND && e.data.via === "adopted" && e.deviceId !== null) {
      this.devices.push({
        event_id: e.ref,
        leaf_index: e.leafIndex,
        at_ms: e.atMs,
        device_id: e.deviceId,
        subject_id: e.subjectId,
        by: text(e.data.by),
        reason: text(e.data.reason),
      });
    } else if (e.type === REJECTION_EVIDENCE_ADOPTED) {
      const counts = Array.isArray(e.data.counts) ? (e.data.counts as unknown[][]) : [];
      this.rejections.push({
        event_id: e.ref,
        leaf_index: e.leafIndex,
        at_ms: e.atMs,
        by: text(e.data.by),
        reason: text(e.data.reason),
        counts: counts.length,
        refusals: counts.reduce((n, c) => n + (Number(Array.isArray(c) ? c[3] : 0) || 0), 0),
        samples: Array.isArray(e.data.samples) ? e.data.samples.length : 0,
      });
    }
  }
}
