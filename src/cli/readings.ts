import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { ReadingStore, type StoredReading } from "../batcher/commit/reading-store.js";
import { loadConfig } from "../config.js";
import { openDatabase } from "../db.js";
import { GatewayError } from "../errors.js";
import { parseFlags, parseSince, requireFlag } from "./args.js";

/** `vitalog readings --config FILE [--device ID] [--subject S] [--since 15m] [--limit N] [--follow]`: JSON lines. */
export async function readingsCommand(
  argv: string[],
  out: NodeJS.WritableStream,
  signal?: AbortSignal,
): Promise<number> {
  const { values } = parseFlags(argv, {
    config: { type: "string", short: "c" },
    device: { type: "string" },
    subject: { type: "string" },
    since: { type: "string" },
    limit: { type: "string" },
    follow: { type: "boolean", short: "f" },
  });
  const config = loadConfig(requireFlag(values.config, "config"));
  const limit = values.limit === undefined ? 1000 : Number(values.limit);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new GatewayError("USAGE", "--limit must be a positive integer");
  const db = openDatabase(config.storage.path!, [], { readonly: true });
  try {
    const store = new ReadingStore(db);
    const base = {
      deviceId: values.device,
      subjectId: values.subject,
      sinceMs: values.since === undefined ? undefined : parseSince(values.since, Date.now()),
    };
    let after: number | undefined;
    for (;;) {
      const rows = store.query({ ...base, afterRowId: after, limit });
      for (const r of rows) {
        // a slow reader holds the command back instead of its output piling up in memory
        if (!out.write(`${JSON.stringify(toWire(r))}\n`)) await once(out, "drain");
      }
      if (rows.length > 0) after = rows.at(-1)!.rowId;
      if (!values.follow) return 0;
      if (rows.length < limit) {
        try {
          await sleep(500, undefined, { signal });
        } catch {
          return 0;
        }
      }
    }
  } finally {
    db.close();
  }
}

/** The JSON-lines wire shape of a reading (snake_case; fields only ever added). */
export function toWire(r: StoredReading) {
  return {
    id: r.id,
    device_id: r.deviceId,
    subject_id: r.subjectId,
    seq: r.seq,
    kind: r.kind,
    loinc: r.loinc,
    value: r.value,
    unit: r.unit,
    observed_at: new Date(r.observedAtMs).toISOString(),
    received_at: new Date(r.receivedAtMs).toISOString(),
    device_time: r.deviceTimeMs === null ? null : new Date(r.deviceTimeMs).toISOString(),
    flags: r.flags,
    ...(r.mdc === null ? {} : { mdc: r.mdc }),
  };
}
