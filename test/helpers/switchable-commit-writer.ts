/**
 * A commit writer (batcher/commit/commit-writer.ts) that fails every commit while the file `init.marker` exists,
 * like a log or disk that fails for a while and recovers; commits go through again once it is removed.
 */
import { existsSync } from "node:fs";
import type { ThreadCommitWriter } from "../../src/batcher/commit/commit-writer.js";

export function createCommitWriter(_db: unknown, init: unknown): ThreadCommitWriter {
  const { marker } = init as { marker: string };
  return {
    write() {
      if (existsSync(marker)) throw new Error("log unavailable");
      return undefined;
    },
  };
}
