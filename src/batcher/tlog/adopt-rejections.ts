/**
 * The one way rejection evidence the log does not hold enters it: an operator's explicit adoption
 * (`vitalog tlog adopt-unlogged`, with the readings and device rows). The gateway seals only what it adds
 * itself (rejection-evidence.ts), so a count increase or a sample the log does not hold was made while the
 * log was off, before this release sealed every commit (an earlier release sealed once a minute, so up to a
 * minute of evidence was unsealed when it stopped), or behind the gateway's back; nothing in the row tells
 * these apart, so `audit` names it until a person decides.
 *
 * Adoption, in one IMMEDIATE transaction: the log's rejection events are replayed as the audit replays
 * them (audit-rejections.ts), and what the tables hold beyond them — each count's surplus over its sealed
 * sum, each sample above the last eviction that no event sealed — is logged, as it stands, in
 * `rejection_evidence_adopted` events (`{ by, reason, counts, samples, sample_through_id }`, the shape of a
 * seal). Increases the audit reports as pending are left to the running gateway, which seals them itself.
 * What the log holds more of than the tables (a count lowered, a sample deleted or edited) is not adoptable
 * and stays a finding. `audit` lists every adoption.
 */

import { REJECTION_EVIDENCE_ADOPTED, sealData } from "../commit/rejection-evidence.js";
import { scanLoggedEvents } from "./audit-events.js";
import { RejectionReplay } from "./audit-rejections.js";
import type { Tlog } from "./open-tlog.js";

/** What an adoption of rejection evidence logged. */
export interface RejectionAdoptionResult {
  /** Count rows whose unsealed part was adopted, and the refusals they add up to. */
  readonly counts: number;
  readonly refusals: number;
  /** Sample rows adopted. */
  readonly samples: number;
  /** The `rejection_evidence_adopted` events appended (none when there was nothing to adopt). */
  readonly eventIds: readonly string[];
}

/** Adopts the rejection evidence the log does not hold (see the module comment). */
export function adoptUnsealedRejections(
  tlog: Tlog,
  opts: { by: string; reason: string; nowMs: number },
): RejectionAdoptionResult {
  const { db, records } = tlog;
  return db
    .transaction((): RejectionAdoptionResult => {
      const replay = new RejectionReplay(db);
      try {
        scanLoggedEvents(db, records.keys, (e) => replay.onEvent(e));
        const { counts, samples } = replay.unsealed();
        if (counts.length === 0 && samples.length === 0)
          return { counts: 0, refusals: 0, samples: 0, eventIds: [] };
        const events = sealData(counts, samples, { by: opts.by, reason: opts.reason }).map((data) => ({
          type: REJECTION_EVIDENCE_ADOPTED,
          atMs: opts.nowMs,
          subjectId: null,
          deviceId: null,
          data,
        }));
        const { eventIds } = records.append([], events);
        // the informative `logged` part follows (the audit compares the counts with the log, not with it)
        const logged = db.prepare(
          "UPDATE rejection_counts SET logged = count WHERE device_id = ? AND reason = ? AND minute = ?",
        );
        for (const [device, reason, minute] of counts) logged.run(device, reason, minute);
        return {
          counts: counts.length,
          refusals: counts.reduce((n, c) => n + c[3], 0),
          samples: samples.length,
          eventIds,
        };
      } finally {
        replay.drop();
      }
    })
    .immediate();
}
