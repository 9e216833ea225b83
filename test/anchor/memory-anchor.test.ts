import { anchorConformance } from "./anchor-conformance.js";
import { MemoryAnchor } from "./memory-anchor.js";

anchorConformance("MemoryAnchor", async () => {
  const anchor = new MemoryAnchor();
  return {
    anchor,
    writes: async () => anchor.writes.length,
    unavailable: async () => {
      const down = new MemoryAnchor();
      down.isAvailable = false;
      return down;
    },
    cleanup: async () => undefined,
  };
});
