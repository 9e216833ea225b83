/**
 * `vitalog audit`: the `devices` table against the bindings replayed from the device events
 * (drivers/device-events.ts), in log order: `device_bound` sets a device's subject, model and credential,
 * `device_credential_changed` its credential, `device_unbound` ends the binding. Then every row must be a
 * binding the log holds, with the same subject, model and credential (`credentialDigest(password_hash)`),
 * and every binding the log holds must have its row.
 *
 * Erasure: every event of a binding is sealed under the key of the subject it binds to, so erasing that
 * subject shreds the whole episode (bound … unbound) and the replay skips it. That is sound because an
 * erasure refuses while a device is still bound to the subject: an erased subject's episodes are all
 * closed, and skipping them leaves each device in the state of its surviving, later episodes. (A row
 * deleted behind the gateway's back and its subject then erased leaves nothing to compare: the erasure
 * took the evidence with it.)
 *
 * The replay is lenient with the log's own order (an unbinding of a device the replay does not hold bound,
 * e.g. one provisioned before device events were logged, just leaves it unbound) and strict with the
 * table: a row without a logged binding is a finding until an operator adopts it into the log.
 */
import type { Database } from "better-sqlite3";
import {
  credentialDigest,
  DEVICE_BOUND,
  DEVICE_CREDENTIAL_CHANGED,
  DEVICE_UNBOUND,
} from "../drivers/device-events.js";
import type { LoggedEvent } from "./audit-events.js";
import { type AddFinding, showValue, type TableCheck } from "./audit-findings.js";

interface Binding {
  subjectId: string | null;
  model: unknown;
  credential: unknown;
  /** The leaf of the event that set the binding last. */
  leaf: number;
}

export function devicesCheck(db: Database): TableCheck {
  const bound = new Map<string, Binding>();
  return {
    onEvent(e: LoggedEvent) {
      if (e.deviceId === null) return;
      if (e.type === DEVICE_BOUND) {
        bound.set(e.deviceId, {
          subjectId: e.subjectId,
          model: e.data.model ?? null,
          credential: e.data.credential,
          leaf: e.leafIndex,
        });
      } else if (e.type === DEVICE_CREDENTIAL_CHANGED) {
        const b = bound.get(e.deviceId);
        if (b !== undefined)
          bound.set(e.deviceId, { ...b, credential: e.data.credential, leaf: e.leafIndex });
      } else if (e.type === DEVICE_UNBOUND) {
        bound.delete(e.deviceId);
      }
    },
    finish(add: AddFinding) {
      const table = "devices";
      const finding = (ref: string, leaf: number | null, detail: string) =>
        add({ kind: "device_mismatch", ref, leafIndex: leaf, detail, table });
      const rows = db
        .prepare("SELECT id, subject_id, model, password_hash FROM devices ORDER BY id")
        .all() as {
        id: string;
        subject_id: string;
        model: string | null;
        password_hash: string;
      }[];
      let verified = 0;
      for (const r of rows) {
        const b = bound.get(r.id);
        bound.delete(r.id);
        if (b === undefined) {
          finding(
            r.id,
            null,
            "device row has no logged binding: inserted (or provisioned before bindings were logged)",
          );
          continue;
        }
        const diffs: string[] = [];
        if (b.subjectId !== r.subject_id)
          diffs.push(`subject: logged ${showValue(b.subjectId)}, stored ${showValue(r.subject_id)}`);
        if ((b.model ?? null) !== r.model)
          diffs.push(`model: logged ${showValue(b.model)}, stored ${showValue(r.model)}`);
        if (b.credential !== credentialDigest(r.password_hash))
          diffs.push("its credential (password hash) is not the logged one");
        if (diffs.length > 0) finding(r.id, b.leaf, diffs.join("; "));
        else verified++;
      }
      for (const [id, b] of bound) finding(id, b.leaf, "logged binding has no device row: deleted");
      return [{ table, rows: rows.length, verified, pending: 0, erased: 0 }];
    },
  };
}
