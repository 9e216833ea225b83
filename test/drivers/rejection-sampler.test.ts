/** The forensic-sample quotas: per device and reason, per device, and in all, per wall-clock minute. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RejectionSampler } from "../../src/drivers/rejection-sampler.js";

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);

/** How many of `n` refusals of (device, reason) at `atMs` become samples. */
function taken(s: RejectionSampler, device: string | null, reason: string, n: number, atMs = T0): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (s.take(device, reason, atMs)) k++;
  return k;
}

describe("rejection samples", () => {
  it("keeps at most 3 per device and reason a minute, and fresh quotas the next minute", () => {
    const s = new RejectionSampler();
    assert.equal(taken(s, "dev-a", "out_of_range", 10), 3);
    assert.equal(taken(s, "dev-a", "out_of_range", 10, T0 + 59_999), 0);
    assert.equal(taken(s, "dev-a", "out_of_range", 10, T0 + 60_000), 3);
  });

  it("keeps at most 12 per device a minute however many reasons it refuses for, leaving the rest to others", () => {
    const s = new RejectionSampler();
    let mine = 0;
    for (let r = 0; r < 40; r++) mine += taken(s, "dev-noisy", `vendor_fault_${r}`, 5);
    assert.equal(mine, 12);
    let others = 0;
    for (let d = 0; d < 20; d++) others += taken(s, `dev-${d}`, "out_of_range", 5);
    // 60 a minute in all: 48 left for the others after the noisy device's 12
    assert.equal(others, 48);
  });

  it("counts refusals of unknown devices as one device", () => {
    const s = new RejectionSampler();
    let all = 0;
    for (let r = 0; r < 10; r++) all += taken(s, null, `refused_${r}`, 5);
    assert.equal(all, 12);
  });

  it("takes a new minute's quotas when the clock steps back", () => {
    const s = new RejectionSampler();
    assert.equal(taken(s, "dev-a", "x", 5, T0 + 120_000), 3);
    assert.equal(taken(s, "dev-a", "x", 5, T0), 3);
  });
});
