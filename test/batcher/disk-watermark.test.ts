import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DiskWatermark } from "../../src/batcher/commit/disk-watermark.js";
import { ManualClock } from "../../src/clock.js";
import { createLogger } from "../../src/log.js";

const MiB = 1024 * 1024;

function watermark(read: () => Promise<number>) {
  return new DiskWatermark({
    dir: "/unused",
    minFreeBytes: 64 * MiB,
    resumeMarginBytes: 16 * MiB,
    checkIntervalMs: 1000,
    clock: new ManualClock(),
    log: createLogger("silent"),
    readFreeBytes: read,
  });
}

describe("storage watermark", () => {
  it("goes low under the mark and back only above mark + margin (no flapping at the mark)", async () => {
    let free = 100 * MiB;
    const w = watermark(async () => free);
    const changes: boolean[] = [];
    w.onChange((low) => changes.push(low));
    await w.check();
    assert.equal(w.isLow, false);
    assert.equal(w.problem(), undefined);
    free = 63 * MiB;
    await w.check();
    assert.equal(w.isLow, true);
    assert.match(w.problem() ?? "", /under the 64\.0 MiB watermark/);
    free = 70 * MiB; // above the mark, inside the margin
    await w.check();
    assert.equal(w.isLow, true);
    free = 81 * MiB;
    await w.check();
    assert.equal(w.isLow, false);
    assert.deepEqual(changes, [true, false]);
  });

  it("treats free space it cannot read as a health problem, not as a full disk", async () => {
    const w = watermark(async () => {
      throw new Error("EACCES");
    });
    await w.check();
    assert.equal(w.isLow, false, "still acknowledging");
    assert.match(w.problem() ?? "", /cannot be read: EACCES/);
  });

  it("reads free space on a real file system by default", async () => {
    const w = new DiskWatermark({
      dir: "/tmp",
      minFreeBytes: 0,
      resumeMarginBytes: 0,
      checkIntervalMs: 1000,
      clock: new ManualClock(),
      log: createLogger("silent"),
    });
    await w.check();
    assert.ok((w.freeBytes ?? 0) > 0);
  });
});
