import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { ReadingStore, type StoredReading } from "../batcher/commit/reading-store.js";
import { loadConfig } from "../config.js";
import { openDatabase } from "../db.js";
import { GatewayError } from "../errors.js";
import { idFlag, parseSince, requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand } from "./options.js";

/**
 * `vitalog readings --config FILE [--device ID] [--subject S] [--since 15m] [--limit N | --tail N] [--follow]`:
 * JSON lines, always oldest first. `--limit N` is the first N from `--since` on (a page); `--tail N` is the
 * latest N, as `tail -n N` shows a file's end, and with `--follow` it then prints new readings as they come.
 */
export async function readingsCommand(
  argv: string[],
  out: NodeJS.WritableStream,
  signal?: AbortSignal,
): Promise<number> {
  const { values } = parseCommand(COMMAND_SPECS.readings, argv);
  const config = loadConfig(requireFlag(values.config, "config"));
  const count = (flag: "limit" | "tail", text: string | undefined, dflt: number) => {
    const n = text === undefined ? dflt : Number(text);
    if (!Number.isInteger(n) || n <= 0)
      throw new GatewayError("USAGE", `--${flag} must be a positive integer`);
    return n;
  };
  if (values.limit !== undefined && values.tail !== undefined)
    throw new GatewayError("USAGE", "--limit and --tail are exclusive: the first N, or the latest N");
  const limit = count("limit", values.limit, 1000);
  const tail = values.tail === undefined ? undefined : count("tail", values.tail, 0);
  // a malformed id is a usage error, not an empty answer
  const deviceId = idFlag(values.device, "device");
  const subjectId = idFlag(values.subject, "subject");
  const db = openDatabase(config.storage.path!, [], { readonly: true });
  try {
    const store = new ReadingStore(db);
    const base = {
      deviceId,
      subjectId,
      sinceMs: values.since === undefined ? undefined : parseSince(values.since, Date.now()),
    };
    let after: number | undefined;
    if (tail !== undefined) {
      // the latest N, printed oldest first as tail(1) prints them; --follow continues after the newest
      const latest = store.query({ ...base, limit: tail, isNewestFirst: true }).reverse();
      for (const r of latest) {
        if (!out.write(`${JSON.stringify(toWire(r))}\n`)) await once(out, "drain");
      }
      if (!values.follow) return 0;
      after = latest.at(-1)?.rowId;
    }
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
