/**
 * One tick of the EVM publisher (reference §6.3–6.4): observe the ledger (awaits), ask the pure
 * `nextStep` what follows, apply its writes in one synchronous transaction, announce, act. The
 * decisions are all in publisher-step.ts; this file only observes and carries out. It depends on its
 * ports (records, ledger, clock, a report callback), not on the Publisher that runs it.
 */
import type { Hex } from "viem";
import type { Clock } from "../clock.js";
import { type AnchorFields, anchorFields } from "./anchor.js";
import type { PublisherEvent } from "./anchor-publisher.js";
import { type EvmLedger, type Fees, maxBig } from "./evm-ledger.js";
import type { AnchorRecords, ItemRow } from "./publisher-records.js";
import { type Action, chooseNonce, nextStep, type Situation, type Timing } from "./publisher-step.js";

/** What a tick needs; `report` receives every transition (once durable) and every error. */
export interface TickPorts {
  readonly records: AnchorRecords;
  readonly ledger: EvmLedger;
  readonly clock: Clock;
  readonly timing: Timing;
  report(e: PublisherEvent): void;
}

function fieldsOf(item: ItemRow): AnchorFields {
  return anchorFields({
    origin: item.origin,
    treeSize: item.treeSize,
    rootHash: item.rootHash,
    noteText: item.noteText,
  });
}

export class PublisherTicks {
  readonly #ports: TickPorts;
  #isReconciled = false;

  constructor(ports: TickPorts) {
    this.#ports = ports;
  }

  /** One pass over every open item, oldest stage first; rejects on a ledger failure (caller retries). */
  async run(): Promise<void> {
    if (!this.#isReconciled) {
      await this.#reconcile();
      this.#isReconciled = true;
    }
    const { records } = this.#ports;
    for (const item of records.inState("mined")) await this.#checkMined(item);
    for (const item of records.inState("reorged")) await this.#checkReorged(item);
    for (const item of records.inState("sent")) await this.#checkSent(item);
    await this.#act(
      this.#decide({
        kind: "queued",
        queued: records.inState("queued")[0],
        sent: records.inState("sent")[0],
        isMinedOrReorged: records.inState("mined").length > 0 || records.inState("reorged").length > 0,
        lastSentAtMs: records.lastSentAtMs(),
        nowMs: this.#ports.clock.now(),
        timing: this.#ports.timing,
      }),
    );
  }

  /** Applies the next step of `s` (writes, then announcements) and returns its action. */
  #decide(s: Situation): Action {
    const next = nextStep(s);
    if (next.writes.length > 0) this.#ports.records.apply(next.writes);
    for (const c of next.changes) this.#ports.report({ type: "state", ...c });
    for (const e of next.errors) this.#ports.report({ type: "error", ...e });
    return next.action;
  }

  /** Carries out an action, and the actions its outcome leads to. */
  async #act(first: Action): Promise<void> {
    const { ledger, records, clock } = this.#ports;
    let action = first;
    for (;;) {
      switch (action.kind) {
        case "fetch_evidence": {
          const ev = await ledger.evidence(action.item.txHash as Hex, fieldsOf(action.item));
          action = this.#decide({
            kind: "evidence",
            item: action.item,
            evidenceBlockHash: ev.blockHash,
            evidence: JSON.stringify(ev),
            nowMs: clock.now(),
          });
          break;
        }
        case "price_bump": {
          const { fees, isCapped } = await this.#feesFor(action.item.nonce!);
          action = this.#decide({
            kind: "fees",
            item: action.item,
            latestTx: action.latestTx,
            fees,
            isCapped,
            nowMs: clock.now(),
            timing: this.#ports.timing,
          });
          break;
        }
        case "rebroadcast": {
          const outcome = await ledger.broadcast(action.tx.raw as Hex);
          records.apply([{ op: "touch_tx", txHash: action.tx.txHash, atMs: clock.now() }]);
          action = this.#decide({ kind: "broadcast", outcome, isRebroadcast: true });
          break;
        }
        case "simulate":
          action = this.#decide({
            kind: "simulated",
            item: action.item,
            refusal: await this.#refusal(action.item),
            nowMs: clock.now(),
          });
          break;
        case "sign": {
          const nonce =
            action.nonce ?? chooseNonce(null, (await ledger.nonces()).pending, records.maxNonce());
          const fees = action.fees ?? (await this.#feesFor(nonce)).fees;
          const signed = await ledger.sign(fieldsOf(action.item), nonce, fees);
          action = this.#decide({
            kind: "signed",
            item: action.item,
            tx: { txHash: signed.hash, itemId: action.item.id, nonce, raw: signed.raw, ...fees },
            supersedes: action.supersedes,
            nowMs: clock.now(),
          });
          break;
        }
        case "broadcast": {
          const outcome = await ledger.broadcast(action.raw as Hex);
          action = this.#decide({ kind: "broadcast", outcome, isRebroadcast: false });
          break;
        }
        default:
          return;
      }
    }
  }

  /** Start-up: a crash may have hit between persisting a SENT transaction and broadcasting it. */
  async #reconcile(): Promise<void> {
    const { records, ledger, clock } = this.#ports;
    for (const item of records.inState("sent")) {
      const latestTx = records.txsOfItem(item.id)[0];
      const hasReceipt =
        latestTx !== undefined && (await ledger.receipt(latestTx.txHash as Hex)) !== undefined;
      await this.#act(this.#decide({ kind: "restart", item, latestTx, hasReceipt, nowMs: clock.now() }));
    }
  }

  async #checkMined(item: ItemRow): Promise<void> {
    const { ledger, clock } = this.#ports;
    const receipt = await ledger.receipt(item.txHash as Hex);
    const canonicalHash = await ledger.blockHashAt(item.blockNumber!);
    const finalizedNumber = await ledger.finalizedNumber();
    await this.#act(
      this.#decide({ kind: "mined", item, receipt, canonicalHash, finalizedNumber, nowMs: clock.now() }),
    );
  }

  /** Settles a nonce whose fate is known (our receipt, or consumed by another transaction). */
  async #isNonceSettled(item: ItemRow): Promise<boolean> {
    const nonce = item.nonce!;
    let hit = await this.#minedAtNonce(nonce);
    const latestNonce = (await this.#ports.ledger.nonces()).latest;
    if (hit === undefined && latestNonce > nonce) hit = await this.#minedAtNonce(nonce); // mined meanwhile
    const action = this.#decide({ kind: "nonce", item, hit, latestNonce, nowMs: this.#ports.clock.now() });
    return action.kind !== "unresolved";
  }

  /** Our transaction at `nonce` that has a receipt on the canonical chain, if any. */
  async #minedAtNonce(nonce: number) {
    const { records, ledger } = this.#ports;
    for (const tx of records.txsAtNonce(nonce)) {
      const r = await ledger.receipt(tx.txHash as Hex);
      if (r !== undefined) {
        const owner = records.byId(tx.itemId)!;
        return { tx, owner, isSuccess: r.isSuccess, blockNumber: r.blockNumber, blockHash: r.blockHash };
      }
    }
    return undefined;
  }

  async #checkReorged(item: ItemRow): Promise<void> {
    if (await this.#isNonceSettled(item)) return;
    const newer = this.#ports.records.inState("queued")[0];
    await this.#act(this.#decide({ kind: "reorged", item, newer, nowMs: this.#ports.clock.now() }));
  }

  async #checkSent(item: ItemRow): Promise<void> {
    if (await this.#isNonceSettled(item)) return;
    const latestTx = this.#ports.records.txsOfItem(item.id)[0];
    await this.#act(
      this.#decide({
        kind: "sent",
        item,
        latestTx,
        nowMs: this.#ports.clock.now(),
        timing: this.#ports.timing,
      }),
    );
  }

  /** Why the ledger refuses `item` for good, or undefined; a transient failure rejects. */
  async #refusal(item: ItemRow): Promise<string | undefined> {
    try {
      await this.#ports.ledger.simulate(fieldsOf(item));
      return undefined;
    } catch (err) {
      if ((err as { retryable?: boolean }).retryable !== false) throw err;
      return (err as { reason?: string }).reason ?? "rejected";
    }
  }

  /** [§6.3] fees for a (re)send at `nonce`: fresh, and ≥ 10 % above anything we sent at that nonce. */
  async #feesFor(nonce: number): Promise<{ fees: Fees; isCapped: boolean }> {
    const { ledger, records } = this.#ports;
    const fresh = await ledger.suggestFees();
    const prior = records.txsAtNonce(nonce);
    if (prior.length === 0) return { fees: fresh, isCapped: false };
    const top = prior.reduce((a, t) => (t.maxFeePerGas > a.maxFeePerGas ? t : a));
    const bumped = ledger.bumpFees(top);
    return {
      fees: {
        maxFeePerGas: maxBig(bumped.maxFeePerGas, fresh.maxFeePerGas),
        maxPriorityFeePerGas: maxBig(bumped.maxPriorityFeePerGas, fresh.maxPriorityFeePerGas),
      },
      isCapped: bumped.isCapped,
    };
  }
}
