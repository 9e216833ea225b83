/**
 * `vitalog audit`: the device bindings replayed from the device events (drivers/device-events.ts), in log
 * order (`device_bound` sets a device's subject, model and credential, `device_credential_changed` its
 * credential, `device_unbound` ends the binding), against three things:
 * - the `devices` table: every row must be a binding the log holds, with the same subject, model and
 *   credential (`credentialDigest(password_hash)`), and every binding the log holds must have its row;
 * - the log's own unbindings: an unbinding must name the subject the replay holds the device bound to (one
 *   that names another was made over a row changed behind the gateway's back: the change is named even
 *   though the row is gone);
 * - the readings: each reading's subject must be its device's logged subject at the reading's leaf. A
 *   reading of a device that has no logged binding at that leaf is a finding once the log holds any device
 *   event before it; before the first one (a release that did not log bindings) it is not. An operator's
 *   adoption vouches for what it adopted as it stood: readings adopted (`readings_adopted`, at the leaves it
 *   names) are not compared, and a reading stored while its device had no logged binding is not a finding
 *   when the device's next binding is an adoption (`via: "adopted"`) naming the reading's subject.
 *
 * Erasure: every event of a binding is sealed under the key of the subject it binds to, so erasing that
 * subject shreds the whole episode (bound … unbound) and the replay skips it. That is sound because an
 * erasure refuses while a device is still bound to the subject, and deletes the subject's readings: an
 * erased subject's episodes are all closed, and skipping them leaves each device in the state of its
 * surviving episodes. (A row deleted behind the gateway's back and its subject then erased leaves nothing to
 * compare: the erasure took the evidence with it.)
 *
 * The replay is lenient with an unbinding of a device it does not hold bound (one provisioned before device
 * events were logged): it just leaves it unbound; its readings are compared as above.
 */
import type { Database } from "better-sqlite3";
import {
  credentialDigest,
  DEVICE_BOUND,
  DEVICE_CREDENTIAL_CHANGED,
  DEVICE_UNBOUND,
} from "../../drivers/device-events.js";
import { READINGS_ADOPTED } from "./adopt-unlogged.js";
import type { LoggedEvent } from "./audit-events.js";
import { type AddFinding, type Finding, showValue, type TableCheck } from "./audit-findings.js";

interface Binding {
  subjectId: string | null;
  model: unknown;
  credential: unknown;
  /** The leaf of the event that set the binding last. */
  leaf: number;
}

/** A device's subject from the leaf after `leaf` on (null: unbound), as its events set it. */
interface Span {
  leaf: number;
  subjectId: string | null;
  isAdopted: boolean;
}

export function devicesCheck(db: Database): TableCheck {
  const bound = new Map<string, Binding>();
  const history = new Map<string, Span[]>();
  const adoptedLeaves: [number, number][] = [];
  const early: Finding[] = [];
  let firstDeviceEvent: number | undefined;
  const spansOf = (id: string) => {
    const spans = history.get(id) ?? [];
    history.set(id, spans);
    return spans;
  };
  return {
    onEvent(e: LoggedEvent) {
      if (e.type === READINGS_ADOPTED) {
        adoptedLeaves.push([Number(e.data.first_leaf), Number(e.data.last_leaf)]);
        return;
      }
      if (e.deviceId === null) return;
      if (e.type === DEVICE_BOUND) {
        firstDeviceEvent ??= e.leafIndex;
        bound.set(e.deviceId, {
          subjectId: e.subjectId,
          model: e.data.model ?? null,
          credential: e.data.credential,
          leaf: e.leafIndex,
        });
        spansOf(e.deviceId).push({
          leaf: e.leafIndex,
          subjectId: e.subjectId,
          isAdopted: e.data.via === "adopted",
        });
      } else if (e.type === DEVICE_CREDENTIAL_CHANGED) {
        firstDeviceEvent ??= e.leafIndex;
        const b = bound.get(e.deviceId);
        if (b !== undefined)
          bound.set(e.deviceId, { ...b, credential: e.data.credential, leaf: e.leafIndex });
      } else if (e.type === DEVICE_UNBOUND) {
        firstDeviceEvent ??= e.leafIndex;
        const b = bound.get(e.deviceId);
        if (b !== undefined && b.subjectId !== e.subjectId) {
          early.push({
            kind: "device_mismatch",
            ref: e.deviceId,
            leafIndex: e.leafIndex,
            table: "devices",
            detail:
              `the logged unbinding names subject ${showValue(e.subjectId)}, but the log had the device bound to ` +
              `${showValue(b.subjectId)} (since leaf ${b.leaf}): its row was changed behind the gateway's back`,
          });
        }
        bound.delete(e.deviceId);
        spansOf(e.deviceId).push({ leaf: e.leafIndex, subjectId: null, isAdopted: false });
      }
    },
    finish(add: AddFinding) {
      const table = "devices";
      for (const f of early) add(f);
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
      if (firstDeviceEvent !== undefined) checkReadings(db, firstDeviceEvent, history, adoptedLeaves, add);
      return [{ table, rows: rows.length, verified, pending: 0, erased: 0 }];
    },
  };
}

/** Each logged reading's subject against its device's logged binding at its leaf (see the module comment). */
function checkReadings(
  db: Database,
  firstDeviceEvent: number,
  history: ReadonlyMap<string, readonly Span[]>,
  adoptedLeaves: readonly [number, number][],
  add: AddFinding,
): void {
  const isAdopted = (leaf: number) => adoptedLeaves.some(([first, last]) => leaf >= first && leaf <= last);
  // storage order, not leaf order: no sort over the whole table (each lookup is a binary search)
  const rows = db.prepare(
    "SELECT id, device_id, subject_id, leaf_index FROM readings WHERE leaf_index > ? ORDER BY row_id",
  );
  type Row = { id: string; device_id: string; subject_id: string; leaf_index: number };
  for (const r of rows.iterate(firstDeviceEvent) as IterableIterator<Row>) {
    if (isAdopted(r.leaf_index)) continue;
    const spans = history.get(r.device_id) ?? [];
    const k = lastBefore(spans, r.leaf_index);
    const at = k >= 0 ? spans[k]! : undefined;
    const stored = `stored for subject ${showValue(r.subject_id)} at leaf ${r.leaf_index}`;
    let detail: string | undefined;
    if (at !== undefined && at.subjectId !== null) {
      if (at.subjectId !== r.subject_id)
        detail = `${stored}, but the log had device ${r.device_id} bound to ${showValue(at.subjectId)} then (since leaf ${at.leaf})`;
    } else {
      const next = spans[k + 1];
      if (next?.isAdopted !== true || next.subjectId !== r.subject_id) {
        const adoption = next?.isAdopted
          ? `; its adoption at leaf ${next.leaf} names ${showValue(next.subjectId)}`
          : "";
        detail = `${stored}, when device ${r.device_id} had no logged binding${adoption}`;
      }
    }
    if (detail !== undefined)
      add({
        kind: "reading_binding_mismatch",
        ref: r.id,
        leafIndex: r.leaf_index,
        detail,
        table: "readings",
      });
  }
}

/** The index of the last span set before `leaf` (-1 when none). */
function lastBefore(spans: readonly Span[], leaf: number): number {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (spans[mid]!.leaf < leaf) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
