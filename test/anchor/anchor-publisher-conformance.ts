/**
 * Conformance suite for the AnchorPublisher contract (src/anchor/anchor-publisher.ts). Every
 * implementation runs it: `anchorPublisherConformance("EVM Publisher on anvil", factory)`. Behaviour,
 * not implementation, is asserted; how time passes and blocks are made is the harness's business.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type { CheckpointInput } from "../../src/anchor/anchor.js";
import type { AnchorPublisher, AnchorState } from "../../src/anchor/anchor-publisher.js";
import { checkpoint } from "./helpers.js";

export interface AnchorPublisherHarness {
  /** The publisher under test, not started (the harness drives it); replaced by `restart`. */
  readonly publisher: AnchorPublisher;
  /** Drives the publisher and its ledger until `cp` is in `state`; fails the test if it never gets there. */
  driveTo(cp: CheckpointInput, state: "sent" | "mined" | "final"): Promise<void>;
  /** From MINED: the ledger drops the anchor's block and the publisher records REORGED, nothing more. */
  reorg(cp: CheckpointInput): Promise<void>;
  /**
   * Lets `ms` of the publisher's time pass (its timers fire) and resolves once what they started has
   * settled. The first timers fire synchronously, before this returns its promise.
   */
  elapse(ms: number): Promise<void>;
  stateOf(cp: CheckpointInput): AnchorState | undefined;
  /** How many canonical ledger records anchor `cp`. */
  anchorings(cp: CheckpointInput): Promise<number>;
  /** Stops the publisher and builds a new one over the same persisted state and the same ledger. */
  restart(): Promise<void>;
  /** Makes the persisted state unreadable and unwritable. */
  breakStore(): void;
  close(): Promise<void>;
}

/** The states a restart is tried in; `to` brings `cp` (just offered) there. */
const RESTART_STATES: {
  state: AnchorState;
  to(h: AnchorPublisherHarness, cp: CheckpointInput): Promise<void>;
}[] = [
  { state: "queued", to: async () => undefined },
  { state: "sent", to: (h, cp) => h.driveTo(cp, "sent") },
  { state: "mined", to: (h, cp) => h.driveTo(cp, "mined") },
  {
    state: "reorged",
    to: async (h, cp) => {
      await h.driveTo(cp, "mined");
      await h.reorg(cp);
    },
  },
];

export function anchorPublisherConformance(
  name: string,
  factory: () => Promise<AnchorPublisherHarness>,
): void {
  describe(`AnchorPublisher conformance: ${name}`, () => {
    let h: AnchorPublisherHarness | undefined;
    const open = async () => {
      h = await factory();
      return h;
    };
    afterEach(async () => {
      await h?.close();
      h = undefined;
    });

    it("answers an offer at once with a boolean and never throws, whatever the input", async () => {
      const { publisher: p } = await open();
      const cp = checkpoint(10, "conf-offer");
      const answers = [
        p.offer(cp),
        p.offer({ ...cp, rootHash: new Uint8Array(31) }),
        p.offer({ ...cp, treeSize: 0n }),
        p.offer(null as unknown as CheckpointInput),
      ];
      assert.deepEqual(answers, [true, false, false, false]);
      assert.equal(p.status().last_error?.reason, "invalid_checkpoint");
      assert.equal(h!.stateOf(cp), "queued");
    });

    it("anchors a checkpoint once however often it is offered: queued, in flight, final, after a restart", async () => {
      const h = await open();
      const cp = checkpoint(20, "conf-idem");
      assert.equal(h.publisher.offer(cp), true);
      assert.equal(h.publisher.offer(cp), true);
      await h.driveTo(cp, "sent");
      assert.equal(h.publisher.offer(cp), true);
      await h.driveTo(cp, "final");
      assert.equal(h.publisher.offer(cp), true);
      await h.restart();
      assert.equal(h.publisher.offer(cp), true);
      h.publisher.start();
      await h.elapse(60_000);
      assert.equal(h.stateOf(cp), "final", "final is terminal");
      assert.equal(await h.anchorings(cp), 1);
      const status = h.publisher.status();
      assert.equal(status.counts.final, 1);
      assert.equal(status.last_final?.tree_size, "20");
      assert.equal(status.pending, null);
    });

    it("folds waiting checkpoints into the newest and refuses one not newer than an anchored one", async () => {
      const h = await open();
      const [a, b, c] = [30, 31, 32].map((n) => checkpoint(n, "conf-newest")) as [
        CheckpointInput,
        CheckpointInput,
        CheckpointInput,
      ];
      for (const cp of [a, b, c]) assert.equal(h.publisher.offer(cp), true);
      assert.equal(h.publisher.status().pending?.tree_size, "32");
      await h.driveTo(c, "final");
      assert.deepEqual([h.stateOf(a), h.stateOf(b)], ["superseded", "superseded"]);
      assert.deepEqual([await h.anchorings(a), await h.anchorings(b), await h.anchorings(c)], [0, 0, 1]);
      assert.equal(h.publisher.offer(checkpoint(31, "conf-stale")), false);
      assert.equal(h.publisher.status().last_error?.reason, "stale_checkpoint");
    });

    it("does not lose a newer checkpoint offered while one is in flight", async () => {
      const h = await open();
      const older = checkpoint(40, "conf-inflight");
      const newer = checkpoint(41, "conf-inflight");
      h.publisher.offer(older);
      await h.driveTo(older, "sent");
      assert.equal(h.publisher.offer(newer), true);
      await h.driveTo(newer, "final");
      assert.ok(["final", "superseded"].includes(h.stateOf(older)!), `older ended ${h.stateOf(older)}`);
      assert.ok((await h.anchorings(older)) <= 1);
      assert.equal(await h.anchorings(newer), 1);
    });

    for (const r of RESTART_STATES) {
      it(`restarts in ${r.state.toUpperCase()} and anchors the checkpoint exactly once`, async () => {
        const h = await open();
        const cp = checkpoint(50, `conf-restart-${r.state}`);
        h.publisher.offer(cp);
        await r.to(h, cp);
        assert.equal(h.stateOf(cp), r.state);
        await h.restart();
        assert.equal(h.stateOf(cp), r.state, "the state survives the restart");
        h.publisher.offer(cp); // the checkpointer offers its latest checkpoint again at start-up
        await h.driveTo(cp, "final");
        assert.equal(await h.anchorings(cp), 1);
      });

      it(`restarts in ${r.state.toUpperCase()} and loses no newer checkpoint offered after it`, async () => {
        const h = await open();
        const cp = checkpoint(60, `conf-restart-newer-${r.state}`);
        const newer = checkpoint(61, `conf-restart-newer-${r.state}`);
        h.publisher.offer(cp);
        await r.to(h, cp);
        await h.restart();
        assert.equal(h.publisher.offer(newer), true);
        await h.driveTo(newer, "final");
        assert.ok(["final", "superseded"].includes(h.stateOf(cp)!), `older ended ${h.stateOf(cp)}`);
        assert.ok((await h.anchorings(cp)) <= 1, "never anchored twice");
        assert.equal(await h.anchorings(newer), 1);
      });
    }

    it("answers status in every state, and when its store fails, without throwing", async () => {
      const h = await open();
      const cp = checkpoint(70, "conf-status");
      assert.equal(h.publisher.status().pending, null);
      h.publisher.offer(cp);
      assert.equal(h.publisher.status().pending?.state, "queued");
      await h.driveTo(cp, "sent");
      assert.equal(h.publisher.status().pending?.state, "sent");
      await h.driveTo(cp, "final");
      const before = h.publisher.status();
      h.breakStore();
      const after = h.publisher.status();
      assert.equal(after.last_error?.reason, "store_unavailable");
      assert.equal(after.last_final?.tree_size, before.last_final?.tree_size, "the last snapshot it had");
      assert.equal(h.publisher.offer(checkpoint(71, "conf-status")), false, "an offer still answers");
    });

    it("stops with a tick under way, then changes nothing, and still answers offers", async () => {
      const h = await open();
      const cp = checkpoint(80, "conf-stop");
      h.publisher.start();
      h.publisher.offer(cp);
      const settling = h.elapse(0); // the loop's first tick begins
      await h.publisher.stop();
      await settling;
      const state = h.stateOf(cp);
      const later = checkpoint(81, "conf-stop");
      assert.equal(h.publisher.offer(later), true);
      await h.elapse(10 * 60_000);
      assert.equal(h.stateOf(cp), state, "no transition after stop");
      assert.equal(h.stateOf(later), "queued");
    });

    it("records errors reported from outside and isolates a listener that throws", async () => {
      const h = await open();
      const seen: string[] = [];
      h.publisher.on(() => {
        throw new Error("listener failure");
      });
      const off = h.publisher.on((e) => seen.push(e.type === "state" ? e.state : e.reason));
      h.publisher.noteError("ledger_unreachable", "connection refused");
      assert.equal(h.publisher.status().last_error?.reason, "ledger_unreachable");
      const cp = checkpoint(90, "conf-listeners");
      h.publisher.offer(cp);
      await h.driveTo(cp, "final");
      assert.deepEqual(seen.slice(0, 1), ["ledger_unreachable"]);
      assert.ok(seen.includes("final"));
      off();
      const count = seen.length;
      h.publisher.noteError("ledger_unreachable", "again");
      assert.equal(seen.length, count, "unsubscribed");
    });
  });
}
