/**
 * A commit writer (batcher/commit/commit-writer.ts) that writes one `writer_rows` row per stored reading and event,
 * then refuses, after those rows were written: in mode `poison`, a commit holding a reading whose id starts
 * with "poison" or an event of type "poison"; in mode `any-reading`, any commit that stored a reading (a
 * writer that cannot log readings at all, whatever they hold).
 */
import type { ThreadCommitWriter } from "../../src/batcher/commit/commit-writer.js";
import type { Db } from "../../src/db.js";

export interface PickyInit {
  mode: "poison" | "any-reading";
}

export function createCommitWriter(db: Db, init: unknown): ThreadCommitWriter {
  const { mode } = init as PickyInit;
  db.exec("CREATE TABLE IF NOT EXISTS writer_rows (ref TEXT NOT NULL) STRICT");
  const insert = db.prepare("INSERT INTO writer_rows (ref) VALUES (?)");
  return {
    write(stored, events) {
      for (const r of stored) insert.run(r.id);
      for (const e of events) insert.run(e.type);
      const isPoison =
        mode === "any-reading"
          ? stored.length > 0
          : stored.some((r) => r.id.startsWith("poison")) || events.some((e) => e.type === "poison");
      if (isPoison) throw new Error(`picky writer refuses ${mode === "poison" ? "poison" : "readings"}`);
      return stored.length;
    },
  };
}
