/**
 * The one way a `devices` row that has no logged binding enters the log: an operator's explicit adoption
 * (`vitalog tlog adopt-unlogged`, with the readings). Such a row was provisioned before bindings were
 * logged, or inserted behind the gateway's back; nothing in it tells the two apart, so `audit` names it
 * (`device_mismatch`) until a person decides. Adoption logs, in one IMMEDIATE transaction, a `device_bound`
 * event with `via: "adopted"`, the person and the reason for each such row, as it stands.
 *
 * A row whose logged binding differs from it (another subject, model or credential) is not adopted: that
 * is a change behind the gateway's back, and stays a finding. `audit` lists every adopted row
 * (`device_adoptions`), and an adoption also vouches for the readings stored under the adopted subject while
 * the row had no logged binding (audit-devices.ts): adopt a row only once `audit`'s findings about it and
 * its readings were checked, one row at a time if need be (`id`).
 */
import { DEVICE_BOUND, DEVICE_UNBOUND, deviceBound } from "../../drivers/device-events.js";
import { scanLoggedEvents } from "./audit-events.js";
import type { Tlog } from "./open-tlog.js";

/**
 * Adopts every device row without a logged binding, or only the row `id` when given (nothing when that row
 * has a logged binding or does not exist); returns the ids adopted, in id order.
 */
export function adoptUnloggedDevices(
  tlog: Tlog,
  opts: { by: string; reason: string; nowMs: number; id?: string | undefined },
): string[] {
  const { db, records } = tlog;
  return db
    .transaction(() => {
      // the bindings the log holds now (erased subjects' episodes are shredded and closed: skipped)
      const bound = new Set<string>();
      scanLoggedEvents(db, records.keys, (e) => {
        if (e.deviceId === null) return;
        if (e.type === DEVICE_BOUND) bound.add(e.deviceId);
        else if (e.type === DEVICE_UNBOUND) bound.delete(e.deviceId);
      });
      const rows = db
        .prepare("SELECT id, subject_id, model, password_hash FROM devices ORDER BY id")
        .all() as { id: string; subject_id: string; model: string | null; password_hash: string }[];
      const unlogged = rows.filter((r) => !bound.has(r.id) && (opts.id === undefined || r.id === opts.id));
      if (unlogged.length === 0) return [];
      const actor = { via: "adopted" as const, by: opts.by, reason: opts.reason };
      records.append(
        [],
        unlogged.map((r) =>
          deviceBound(
            { deviceId: r.id, subjectId: r.subject_id, model: r.model, passwordHash: r.password_hash },
            actor,
            opts.nowMs,
          ),
        ),
      );
      return unlogged.map((r) => r.id);
    })
    .immediate();
}
