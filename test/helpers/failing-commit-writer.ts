/** A commit writer (batcher/commit/commit-writer.ts) whose every write throws: every group commit fails. */
import type { ThreadCommitWriter } from "../../src/batcher/commit/commit-writer.js";

export function createCommitWriter(): ThreadCommitWriter {
  return {
    write() {
      throw new Error("log unavailable");
    },
  };
}
