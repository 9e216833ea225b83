import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.js";
import { anchorPublisherConformance } from "./anchor-publisher-conformance.js";
import { MemoryAnchorBook, MemoryAnchorPublisher } from "./memory-anchor-publisher.js";

anchorPublisherConformance("MemoryAnchorPublisher", async () => {
  const book = new MemoryAnchorBook();
  const clock = new ManualClock();
  let p = new MemoryAnchorPublisher(book, clock);
  return {
    get publisher() {
      return p;
    },
    stateOf: (cp) => book.stateOf(cp),
    driveTo: async (cp, state) => {
      for (let i = 0; i < 12; i++) {
        if (book.stateOf(cp) === state) return;
        await p.tick();
        if (book.stateOf(cp) === state) return;
        book.mine();
      }
      assert.fail(`checkpoint ${cp.treeSize} stuck in ${book.stateOf(cp)} (wanted ${state})`);
    },
    reorg: async (cp) => {
      book.reorgFrom(book.blockOf(cp)!);
      await p.tick();
    },
    elapse: async (ms) => {
      clock.advance(ms);
      await p.settled();
    },
    anchorings: async (cp) => book.anchorings(cp),
    restart: async () => {
      await p.stop();
      p = new MemoryAnchorPublisher(book, clock);
    },
    breakStore: () => {
      book.isStoreBroken = true;
    },
    close: () => p.stop(),
  };
});
