/**
 * The EVM publisher's state machine as one pure function (reference §6.3–6.4): a situation (persisted
 * state plus what was just observed on the ledger) in, the next step out: the writes to persist
 * atomically, the transitions and errors to announce, and the one ledger action to take next. No I/O,
 * no clock: publisher-ticks.ts observes, calls `nextStep` and applies the result.
 *
 *   QUEUED → SENT(nonce, txs) → MINED(block) → FINAL(evidence)
 *     ↑        │ rebroadcast / fee bump / newer checkpoint replaces the tx (same nonce)
 *     └────────┴──── REORGED (receipt gone or block no longer canonical) ────┘
 */
import type { AnchorState } from "./anchor-publisher.js";
import type { BroadcastOutcome, Fees } from "./evm-ledger.js";
import type { AnchorWrite, ItemRow, NewItem, TxRow } from "./publisher-records.js";

/** Timing policy; all durations in milliseconds. */
export interface PublisherConfig {
  /**
   * At most one new checkpoint is sent per interval, however often `offer` is called; newer offers
   * wait in the single queued slot. Re-sends after a reorg and fee bumps are not delayed. Default 300 000.
   */
  anchorIntervalMs?: number;
  /** Head polling period while something is in flight. Default 5 000. */
  pollIntervalMs?: number;
  /** Retry period while the ledger is unreachable. Default 15 000. */
  outageRetryMs?: number;
  /** Identical raw transaction re-sent after this long without a receipt. Default 60 000. */
  rebroadcastMs?: number;
  /** Same-nonce replacement with fees raised ≥ 10 % after this long without a receipt. Default 180 000. */
  bumpAfterMs?: number;
}

export type Timing = Required<PublisherConfig>;

/** The state machine's input: what is persisted about an item and what the ledger just said. */
export type Situation =
  /** A checkpoint offered; `known`: its hash is already stored. */
  | {
      kind: "offer";
      item: NewItem;
      known: boolean;
      maxCommittedSize: bigint;
      queued: ItemRow[];
      nowMs: number;
    }
  /** [§6.4] a MINED item re-checked: its receipt now, the canonical hash at its block, the finality point. */
  | {
      kind: "mined";
      item: ItemRow;
      receipt: { blockNumber: bigint; blockHash: string } | undefined;
      canonicalHash: string | undefined;
      finalizedNumber: bigint;
      nowMs: number;
    }
  /** The evidence of a MINED item under the finality point was fetched. */
  | { kind: "evidence"; item: ItemRow; evidenceBlockHash: string; evidence: string; nowMs: number }
  /**
   * The fate of a SENT or REORGED item's nonce: `hit` is our transaction at that nonce with a receipt
   * (and the item it carries), `latestNonce` the account's mined transaction count.
   */
  | {
      kind: "nonce";
      item: ItemRow;
      hit:
        | { tx: TxRow; owner: ItemRow; isSuccess: boolean; blockNumber: bigint; blockHash: string }
        | undefined;
      latestNonce: number;
      nowMs: number;
    }
  /** A REORGED item whose nonce is free again; `newer`: the newest queued item, if any. */
  | { kind: "reorged"; item: ItemRow; newer: ItemRow | undefined; nowMs: number }
  /** A SENT item whose nonce is still pending; `latestTx`: its latest transaction. */
  | { kind: "sent"; item: ItemRow; latestTx: TxRow | undefined; nowMs: number; timing: Timing }
  /** Fees for a replacement were computed; `isCapped`: the bump would exceed the fee cap. */
  | {
      kind: "fees";
      item: ItemRow;
      latestTx: TxRow;
      fees: Fees;
      isCapped: boolean;
      nowMs: number;
      timing: Timing;
    }
  /** The queue's head against what is in flight. */
  | {
      kind: "queued";
      queued: ItemRow | undefined;
      sent: ItemRow | undefined;
      isMinedOrReorged: boolean;
      lastSentAtMs: number | null;
      nowMs: number;
      timing: Timing;
    }
  /** The ledger's dry run of a queued item; `refusal`: it refuses this checkpoint for good. */
  | { kind: "simulated"; item: ItemRow; refusal: string | undefined; nowMs: number }
  /** A transaction for `item` at `nonce` was signed; `supersedes`: the item it replaces at that nonce. */
  | {
      kind: "signed";
      item: ItemRow;
      tx: Omit<TxRow, "firstSentAtMs" | "lastSentAtMs">;
      supersedes: ItemRow | undefined;
      nowMs: number;
    }
  /** The node's answer to a broadcast. */
  | { kind: "broadcast"; outcome: BroadcastOutcome; isRebroadcast: boolean }
  /** Start-up: a SENT item's latest transaction and whether the node has its receipt. */
  | { kind: "restart"; item: ItemRow; latestTx: TxRow | undefined; hasReceipt: boolean; nowMs: number };

/** The ledger action the driver takes after applying a step. */
export type Action =
  | { kind: "none" }
  /** Offer refused (the error says why). */
  | { kind: "refuse" }
  /** Offer accepted. */
  | { kind: "accept" }
  /** The nonce's fate is not known yet: go on with the item's own state (sent or reorged). */
  | { kind: "unresolved" }
  | { kind: "fetch_evidence"; item: ItemRow }
  /** Compute fees ≥ 10 % above every transaction at the item's nonce (then situation `fees`). */
  | { kind: "price_bump"; item: ItemRow; latestTx: TxRow }
  | { kind: "rebroadcast"; tx: TxRow }
  /** Dry-run a queued item on the ledger (then situation `simulated`). */
  | { kind: "simulate"; item: ItemRow }
  /**
   * Sign `item` at `nonce` (null: the next free one) with `fees`, or when undefined fresh fees raised
   * ≥ 10 % above every transaction at that nonce (then situation `signed`).
   */
  | { kind: "sign"; item: ItemRow; nonce: number | null; supersedes: ItemRow | undefined; fees?: Fees }
  | { kind: "broadcast"; raw: string };

export interface Step {
  /** Applied atomically, in order, before anything is announced. */
  writes: AnchorWrite[];
  /** Transitions, announced once the writes are durable. */
  changes: { treeSize: bigint; state: AnchorState; txHash?: string }[];
  errors: { reason: string; message: string }[];
  action: Action;
}

const NONE: Action = { kind: "none" };

function step(partial: Partial<Step>): Step {
  return { writes: [], changes: [], errors: [], action: NONE, ...partial };
}

/** The state machine's next step; pure and total. */
export function nextStep(s: Situation): Step {
  switch (s.kind) {
    case "offer":
      return onOffer(s);
    case "mined":
      return onMined(s);
    case "evidence":
      return s.evidenceBlockHash !== s.item.blockHash
        ? step({}) // the block moved while the evidence was fetched: the next check decides
        : step({
            writes: [{ op: "final", id: s.item.id, evidence: s.evidence, atMs: s.nowMs }],
            changes: [{ treeSize: s.item.treeSize, state: "final", txHash: s.item.txHash! }],
          });
    case "nonce":
      return onNonce(s);
    case "reorged":
      return onReorged(s);
    case "sent":
      return onSent(s);
    case "fees":
      if (!s.isCapped) {
        return step({
          action: { kind: "sign", item: s.item, nonce: s.item.nonce, supersedes: undefined, fees: s.fees },
        });
      }
      return step({
        errors: [{ reason: "fee_cap_reached", message: "stuck anchor transaction at the fee cap" }],
        action: isRebroadcastDue(s.latestTx, s.nowMs, s.timing)
          ? { kind: "rebroadcast", tx: s.latestTx }
          : NONE,
      });
    case "queued":
      return onQueued(s);
    case "simulated":
      if (s.refusal === undefined)
        return step({ action: { kind: "sign", item: s.item, nonce: s.item.nonce, supersedes: undefined } });
      return step({
        writes: [{ op: "set_state", id: s.item.id, state: "rejected", error: s.refusal, atMs: s.nowMs }],
        changes: [{ treeSize: s.item.treeSize, state: "rejected" }],
        errors: [{ reason: s.refusal, message: "ledger refuses this checkpoint" }],
      });
    case "signed":
      return onSigned(s);
    case "broadcast":
      return s.outcome !== "underpriced"
        ? step({})
        : step({
            errors: [
              {
                reason: "underpriced",
                message: s.isRebroadcast
                  ? "rebroadcast refused as underpriced"
                  : "replacement refused as underpriced",
              },
            ],
          });
    case "restart":
      // a crash may have hit between persisting a transaction and broadcasting it
      return s.latestTx !== undefined && !s.hasReceipt
        ? step({ action: { kind: "rebroadcast", tx: s.latestTx } })
        : step({});
  }
}

function onOffer(s: Extract<Situation, { kind: "offer" }>): Step {
  if (s.known) return step({ action: { kind: "accept" } });
  const stale = { reason: "stale_checkpoint", message: "checkpoint not newer than one already anchored" };
  if (s.item.treeSize <= s.maxCommittedSize || s.queued.some((q) => q.treeSize >= s.item.treeSize)) {
    return step({ errors: [stale], action: { kind: "refuse" } });
  }
  // newest wins: the waiting checkpoint is superseded, and hands over a nonce it holds after a reorg
  const reserved = s.queued.find((q) => q.nonce !== null);
  const writes: AnchorWrite[] = s.queued.map((q) => ({
    op: "set_state",
    id: q.id,
    state: "superseded",
    error: null,
    atMs: s.nowMs,
  }));
  writes.push({ op: "insert", item: s.item, nonce: reserved?.nonce ?? null, atMs: s.nowMs });
  return step({ writes, action: { kind: "accept" } });
}

function onMined(s: Extract<Situation, { kind: "mined" }>): Step {
  const { item, receipt: r, canonicalHash } = s;
  if (r !== undefined && r.blockHash === canonicalHash && r.blockHash !== item.blockHash) {
    // re-included in another block at once: still mined, at its new position
    return step({
      writes: [
        {
          op: "mined",
          id: item.id,
          nonce: item.nonce!,
          txHash: item.txHash!,
          blockNumber: r.blockNumber,
          blockHash: r.blockHash,
          atMs: s.nowMs,
        },
      ],
      changes: [{ treeSize: item.treeSize, state: "mined", txHash: item.txHash! }],
    });
  }
  if (r === undefined || canonicalHash !== item.blockHash || r.blockHash !== item.blockHash) {
    // [§6.4] receipt gone or block no longer canonical
    return step({
      writes: [
        {
          op: "set_state",
          id: item.id,
          state: "reorged",
          error: "anchor block left the canonical chain",
          atMs: s.nowMs,
        },
      ],
      changes: [{ treeSize: item.treeSize, state: "reorged" }],
    });
  }
  // [§6.4] promote only under the finality point; evidence is built at FINAL only
  return item.blockNumber! > s.finalizedNumber
    ? step({})
    : step({ action: { kind: "fetch_evidence", item } });
}

function onNonce(s: Extract<Situation, { kind: "nonce" }>): Step {
  const { item, hit } = s;
  const nonce = item.nonce!;
  if (hit === undefined) {
    if (s.latestNonce <= nonce) return step({ action: { kind: "unresolved" } });
    return step({
      writes: [
        {
          op: "queue",
          id: item.id,
          nonce: null,
          error: "nonce consumed by a foreign transaction",
          atMs: s.nowMs,
        },
      ],
      changes: [{ treeSize: item.treeSize, state: "queued" }],
    });
  }
  const { owner, tx } = hit;
  const writes: AnchorWrite[] = [
    hit.isSuccess
      ? {
          op: "mined",
          id: owner.id,
          nonce,
          txHash: tx.txHash,
          blockNumber: hit.blockNumber,
          blockHash: hit.blockHash,
          atMs: s.nowMs,
        }
      : {
          op: "set_state",
          id: owner.id,
          state: "rejected",
          error: "anchor transaction reverted",
          atMs: s.nowMs,
        },
  ];
  // the loser at this nonce (a newer checkpoint that replaced too late) goes back to the queue
  if (owner.id !== item.id)
    writes.push({ op: "queue", id: item.id, nonce: null, error: null, atMs: s.nowMs });
  return step({
    writes,
    changes: [{ treeSize: owner.treeSize, state: hit.isSuccess ? "mined" : "rejected", txHash: tx.txHash }],
  });
}

function onReorged(s: Extract<Situation, { kind: "reorged" }>): Step {
  const { item, newer } = s;
  // the nonce is free again: re-anchor at the SAME nonce, so the old transaction can never land too
  const writes: AnchorWrite[] =
    newer !== undefined && newer.treeSize > item.treeSize
      ? [
          { op: "set_state", id: item.id, state: "superseded", error: null, atMs: s.nowMs },
          { op: "queue", id: newer.id, nonce: item.nonce, error: null, atMs: s.nowMs },
        ]
      : [{ op: "queue", id: item.id, nonce: item.nonce, error: "re-anchoring after reorg", atMs: s.nowMs }];
  return step({ writes, changes: [{ treeSize: item.treeSize, state: "queued" }] });
}

function isRebroadcastDue(tx: TxRow, nowMs: number, timing: Timing): boolean {
  return nowMs - tx.lastSentAtMs >= timing.rebroadcastMs;
}

/** [§6.3] stuck-transaction escalation: rebroadcast after T1, same-nonce fee bump after T2, cap. */
function onSent(s: Extract<Situation, { kind: "sent" }>): Step {
  const tx = s.latestTx;
  if (tx === undefined) return step({});
  if (s.nowMs - tx.firstSentAtMs >= s.timing.bumpAfterMs) {
    return step({ action: { kind: "price_bump", item: s.item, latestTx: tx } });
  }
  return step({ action: isRebroadcastDue(tx, s.nowMs, s.timing) ? { kind: "rebroadcast", tx } : NONE });
}

function onQueued(s: Extract<Situation, { kind: "queued" }>): Step {
  const q = s.queued;
  if (q === undefined) return step({});
  const isDue =
    q.nonce !== null || s.lastSentAtMs === null || s.nowMs - s.lastSentAtMs >= s.timing.anchorIntervalMs;
  if (!isDue) return step({});
  if (s.sent !== undefined) {
    if (q.treeSize <= s.sent.treeSize) return step({});
    // [§6.3] aggregate: the newer checkpoint replaces the pending transaction at the same nonce
    return step({ action: { kind: "sign", item: q, nonce: s.sent.nonce, supersedes: s.sent } });
  }
  if (s.isMinedOrReorged) return step({}); // one anchor in flight at a time
  return step({ action: { kind: "simulate", item: q } });
}

function onSigned(s: Extract<Situation, { kind: "signed" }>): Step {
  const { item, tx } = s;
  const writes: AnchorWrite[] = [
    {
      op: "sent",
      id: item.id,
      nonce: tx.nonce,
      tx: { ...tx, firstSentAtMs: s.nowMs, lastSentAtMs: s.nowMs },
      atMs: s.nowMs,
    },
  ];
  if (s.supersedes !== undefined) {
    writes.push({ op: "set_state", id: s.supersedes.id, state: "superseded", error: null, atMs: s.nowMs });
  }
  // persisted BEFORE the broadcast: a restart finds and re-sends exactly this transaction
  return step({
    writes,
    changes: [{ treeSize: item.treeSize, state: "sent", txHash: tx.txHash }],
    action: { kind: "broadcast", raw: tx.raw },
  });
}

/** [§6.3] the nonce of a new anchor: `next = max(local_next, pending count)`. */
export function chooseNonce(reserved: number | null, pendingCount: number, localMax: number | null): number {
  if (reserved !== null) return reserved;
  return localMax !== null && localMax + 1 > pendingCount ? localMax + 1 : pendingCount;
}
