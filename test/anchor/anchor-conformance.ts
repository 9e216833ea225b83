/**
 * Conformance suite for the Anchor contract (src/anchor/anchor.ts). Every implementation runs it:
 * `anchorConformance("EvmAnchor", factory)`. Behaviour, not implementation, is asserted.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type Anchor,
  AnchorError,
  type AnchorRecord,
  anchorFields,
  type CheckpointInput,
} from "../../src/anchor/anchor.js";
import { checkpoint } from "./helpers.js";

export interface ConformanceHarness {
  /** A working anchor on a fresh ledger. */
  anchor: Anchor;
  /** Number of ledger writes (transactions) made so far by this anchor's account. */
  writes(): Promise<number>;
  /** An anchor whose ledger is unreachable (after a successful start). */
  unavailable(): Promise<Anchor>;
  /** Extra check that the record's evidence proves `cp` (e.g. offline verifier). */
  verify?(record: AnchorRecord, cp: CheckpointInput): void;
  cleanup(): Promise<void>;
}

export function anchorConformance(name: string, factory: () => Promise<ConformanceHarness>): void {
  describe(`Anchor conformance: ${name}`, () => {
    let h: ConformanceHarness;
    before(async () => {
      h = await factory();
    });
    after(async () => {
      await h.anchor.close();
      await h.cleanup();
    });

    it("resolves with a record that names the checkpoint and verifies", async () => {
      const cp = checkpoint(10, "conf-a");
      const rec = await h.anchor.publish(cp);
      assert.equal(rec.ledger, h.anchor.ledger);
      assert.equal(rec.treeSize, 10n);
      assert.deepEqual(rec.checkpointHash, anchorFields(cp).checkpointHash);
      assert.ok(rec.txId.length > 0);
      assert.ok(rec.timestampSec > 1_600_000_000);
      h.verify?.(rec, cp);
    });

    it("is idempotent: sequential and concurrent publishes write once", async () => {
      const cp = checkpoint(20, "conf-b");
      const before = await h.writes();
      const [a, b] = await Promise.all([h.anchor.publish(cp), h.anchor.publish(cp)]);
      const c = await h.anchor.publish(cp);
      assert.equal(a.txId, b.txId);
      assert.equal(a.txId, c.txId);
      assert.equal(await h.writes(), before + 1);
    });

    it("rejects a non-growing tree size as not retryable", async () => {
      await h.anchor.publish(checkpoint(30, "conf-c"));
      await assert.rejects(h.anchor.publish(checkpoint(25, "conf-c-older")), (err: unknown) => {
        assert.ok(err instanceof AnchorError);
        assert.equal(err.retryable, false);
        assert.equal(err.reason, "not_growing");
        return true;
      });
    });

    it("rejects with a retryable error while the ledger is unreachable", async () => {
      const down = await h.unavailable();
      try {
        await assert.rejects(down.publish(checkpoint(40, "conf-d")), (err: unknown) => {
          assert.ok(err instanceof AnchorError);
          assert.equal(err.retryable, true);
          return true;
        });
      } finally {
        await down.close();
      }
    });

    it("throws TypeError/RangeError for invalid input, before touching the ledger", async () => {
      const cp = checkpoint(50, "conf-e");
      assert.throws(() => h.anchor.publish({ ...cp, rootHash: new Uint8Array(31) }), TypeError);
      assert.throws(() => h.anchor.publish({ ...cp, treeSize: 0n }), RangeError);
    });

    it("rejects with reason closed after close()", async () => {
      const down = await h.unavailable();
      await down.close();
      await assert.rejects(down.publish(checkpoint(60, "conf-f")), (err: unknown) => {
        assert.ok(err instanceof AnchorError);
        assert.equal(err.reason, "closed");
        return true;
      });
    });
  });
}
