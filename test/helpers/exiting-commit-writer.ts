/**
 * A commit writer (batcher/commit/commit-writer.ts) that ends its thread in the middle of the first commit it
 * sees (`init.marker` does not exist yet), like a crash of the commit thread; later threads commit normally.
 */
import { existsSync, writeFileSync } from "node:fs";
import type { ThreadCommitWriter } from "../../src/batcher/commit/commit-writer.js";

export function createCommitWriter(_db: unknown, init: unknown): ThreadCommitWriter {
  const { marker } = init as { marker: string };
  return {
    write() {
      if (!existsSync(marker)) {
        writeFileSync(marker, "");
        process.exit(3);
      }
      return undefined;
    },
  };
}
