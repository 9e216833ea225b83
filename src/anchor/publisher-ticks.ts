/**
 * One step of the publisher state machine (see publisher.ts for the contract). Every step reads the
 * ledger first (awaits), then writes its decision in one synchronous SQLite transaction.
 */
import type { Hex } from "viem";
import { type AnchorFields, anchorFields } from "./anchor.js";
import type { Publisher } from "./publisher.js";
import type { ItemRow } from "./publisher-store.js";

function fieldsOf(item: ItemRow): AnchorFields {
  return anchorFields({
    origin: item.origin,
    treeSize: item.treeSize,
    rootHash: item.rootHash,
    noteText: item.noteText,
  });
}

export class PublisherTicks {
  readonly #p: Publisher;
  #isReconciled = false;

  constructor(p: Publisher) {
    this.#p = p;
  }

  async run(): Promise<void> {
    if (!this.#isReconciled) {
      await this.#reconcile();
      this.#isReconciled = true;
    }
    const s = this.#p.store;
    for (const item of s.inState("mined")) await this.#checkMined(item);
    for (const item of s.inState("reorged")) await this.#checkReorged(item);
    for (const item of s.inState("sent")) await this.#checkSent(item);
    await this.#sendQueued();
    this.#p.clearError();
  }

  /** Start-up: rebroadcast every SENT transaction (a crash may have hit between persist and send). */
  async #reconcile(): Promise<void> {
    for (const item of this.#p.store.inState("sent")) {
      const tx = this.#p.latestTx(item);
      if (tx !== undefined && (await this.#p.ledger.receipt(tx.txHash as Hex)) === undefined) {
        await this.#p.ledger.broadcast(tx.raw as Hex);
        this.#p.store.touchTx(tx.txHash, this.#p.clock.now());
      }
    }
  }

  #transition(item: ItemRow, write: () => void, state: ItemRow["state"], txHash?: string): void {
    this.#p.store.db.transaction(write)();
    this.#p.emit({ type: "state", treeSize: item.treeSize, state, ...(txHash ? { txHash } : {}) });
  }

  /** [§6.4] re-check the receipt and canonical hash on every head; promote under the finality point. */
  async #checkMined(item: ItemRow): Promise<void> {
    const { ledger, store, clock } = this.#p;
    const r = await ledger.receipt(item.txHash as Hex);
    const canonical = await ledger.blockHashAt(item.blockNumber!);
    if (r !== undefined && r.blockHash === canonical && r.blockHash !== item.blockHash) {
      // Re-included in another block at once: still mined, new position.
      this.#transition(
        item,
        () => store.setMined(item.id, item.nonce!, item.txHash!, r.blockNumber, r.blockHash, clock.now()),
        "mined",
        item.txHash!,
      );
      return;
    }
    if (r === undefined || canonical !== item.blockHash || r.blockHash !== item.blockHash) {
      this.#transition(
        item,
        () => store.setState(item.id, "reorged", "anchor block left the canonical chain", clock.now()),
        "reorged",
      );
      return;
    }
    if (item.blockNumber! > (await ledger.finalizedNumber())) return;
    const evidence = await ledger.evidence(item.txHash as Hex, fieldsOf(item));
    if (evidence.blockHash !== item.blockHash) return; // moved meanwhile; next tick decides
    this.#transition(
      item,
      () => store.setFinal(item.id, JSON.stringify(evidence), clock.now()),
      "final",
      item.txHash!,
    );
  }

  /** Finds which of our transactions at `nonce` is mined on the canonical chain, if any. */
  async #minedAtNonce(nonce: number) {
    for (const tx of this.#p.store.txsAtNonce(nonce)) {
      const r = await this.#p.ledger.receipt(tx.txHash as Hex);
      if (r !== undefined) return { tx, r };
    }
    return undefined;
  }

  /** Resolves a nonce whose fate is known: a receipt (ours) or consumed by a foreign transaction. */
  async #resolveNonce(item: ItemRow): Promise<boolean> {
    const { ledger, store, clock } = this.#p;
    const nonce = item.nonce!;
    let hit = await this.#minedAtNonce(nonce);
    if (hit === undefined && (await ledger.nonces()).latest > nonce) hit = await this.#minedAtNonce(nonce); // race with mining
    if (hit === undefined) {
      if ((await ledger.nonces()).latest <= nonce) return false;
      this.#transition(
        item,
        () => store.setQueued(item.id, null, "nonce consumed by a foreign transaction", clock.now()),
        "queued",
      );
      return true;
    }
    const { tx, r } = hit;
    const owner = store.byId(tx.itemId)!;
    const now = clock.now();
    this.#transition(
      owner,
      () => {
        if (r.isSuccess) store.setMined(owner.id, nonce, tx.txHash, r.blockNumber, r.blockHash, now);
        else store.setState(owner.id, "rejected", "anchor transaction reverted", now);
        // The loser at this nonce (a newer checkpoint that replaced too late) goes back to the queue.
        if (owner.id !== item.id) store.setQueued(item.id, null, null, now);
      },
      r.isSuccess ? "mined" : "rejected",
      tx.txHash,
    );
    return true;
  }

  async #checkReorged(item: ItemRow): Promise<void> {
    if (await this.#resolveNonce(item)) return;
    // The nonce is free again: re-anchor at the SAME nonce, so the old transaction can never land too.
    const { store, clock } = this.#p;
    const newer = store.inState("queued").find((q) => q.treeSize > item.treeSize);
    this.#transition(
      item,
      () => {
        if (newer === undefined) {
          store.setQueued(item.id, item.nonce, "re-anchoring after reorg", clock.now());
        } else {
          store.setState(item.id, "superseded", null, clock.now());
          store.setQueued(newer.id, item.nonce, null, clock.now());
        }
      },
      "queued",
    );
  }

  /** Stuck-transaction escalation (§6.3): rebroadcast after T1, same-nonce fee bump after T2, cap. */
  async #checkSent(item: ItemRow): Promise<void> {
    if (await this.#resolveNonce(item)) return;
    const { ledger, store, clock, config } = this.#p;
    const tx = this.#p.latestTx(item);
    if (tx === undefined) return;
    const now = clock.now();
    if (now - tx.firstSentAtMs >= config.bumpAfterMs) {
      const fees = await this.#p.feesFor(item.nonce!);
      if (!fees.isCapped) {
        await this.#send(item, item.nonce!, fees, () => undefined);
        return;
      }
      this.#p.noteError("fee_cap_reached", "stuck anchor transaction at the fee cap");
    }
    if (now - tx.lastSentAtMs >= config.rebroadcastMs) {
      const outcome = await ledger.broadcast(tx.raw as Hex);
      store.touchTx(tx.txHash, clock.now());
      if (outcome === "underpriced") this.#p.noteError("underpriced", "rebroadcast refused as underpriced");
    }
  }

  async #sendQueued(): Promise<void> {
    const { store, ledger, clock } = this.#p;
    const q = store.inState("queued")[0];
    if (q === undefined) return;
    const last = store.lastSentAtMs();
    const isDue = q.nonce !== null || last === null || clock.now() - last >= this.#p.config.anchorIntervalMs;
    if (!isDue) return;
    const sent = store.inState("sent")[0];
    if (sent !== undefined) {
      if (q.treeSize <= sent.treeSize) return;
      // [§6.3] aggregate: the newer checkpoint replaces the pending transaction at the same nonce.
      const fees = await this.#p.feesFor(sent.nonce!);
      await this.#send(q, sent.nonce!, fees, () => store.setState(sent.id, "superseded", null, clock.now()));
      return;
    }
    if (store.inState("mined").length > 0 || store.inState("reorged").length > 0) return; // one in flight
    try {
      await ledger.simulate(fieldsOf(q));
    } catch (err) {
      if ((err as { retryable?: boolean }).retryable === false) {
        const reason = (err as { reason?: string }).reason ?? "rejected";
        this.#transition(q, () => store.setState(q.id, "rejected", reason, clock.now()), "rejected");
        this.#p.noteError(reason, "ledger refuses this checkpoint");
        return;
      }
      throw err;
    }
    let nonce = q.nonce;
    if (nonce === null) {
      const { pending } = await ledger.nonces();
      const local = store.maxNonce();
      nonce = local !== null && local + 1 > pending ? local + 1 : pending;
    }
    await this.#send(q, nonce, await this.#p.feesFor(nonce), () => undefined);
  }

  /** Signs, persists (item → SENT, tx row) in one transaction, THEN broadcasts. */
  async #send(
    item: ItemRow,
    nonce: number,
    fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint },
    alsoWrite: () => void,
  ) {
    const { ledger, store, clock } = this.#p;
    const signed = await ledger.sign(fieldsOf(item), nonce, fees);
    const now = clock.now();
    this.#transition(
      item,
      () => {
        store.insertTx({
          txHash: signed.hash,
          itemId: item.id,
          nonce,
          raw: signed.raw,
          ...fees,
          firstSentAtMs: now,
          lastSentAtMs: now,
        });
        store.setSent(item.id, nonce, now);
        alsoWrite();
      },
      "sent",
      signed.hash,
    );
    const outcome = await ledger.broadcast(signed.raw);
    if (outcome === "underpriced") this.#p.noteError("underpriced", "replacement refused as underpriced");
  }
}
