/**
 * The publisher's state machine (src/anchor/publisher-step.ts, reference §6.3–6.4) on a table of
 * transitions: each row is a situation and the step it must lead to, written as short strings.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AnchorState } from "../../src/anchor/anchor-publisher.js";
import type { AnchorWrite, ItemRow, TxRow } from "../../src/anchor/publisher-records.js";
import {
  chooseNonce,
  nextStep,
  type Situation,
  type Step,
  type Timing,
} from "../../src/anchor/publisher-step.js";

const NOW = 1_000_000;
const TIMING: Timing = {
  anchorIntervalMs: 10_000,
  pollIntervalMs: 1000,
  outageRetryMs: 1000,
  rebroadcastMs: 2000,
  bumpAfterMs: 5000,
};

function item(id: number, treeSize: number, state: AnchorState, more: Partial<ItemRow> = {}): ItemRow {
  return {
    id,
    ledger: "evm:31337:0xregistry",
    origin: "o",
    treeSize: BigInt(treeSize),
    rootHash: new Uint8Array(32),
    noteText: `o\n${treeSize}\n`,
    checkpointHash: new Uint8Array(32).fill(id),
    state,
    nonce: null,
    txHash: null,
    blockNumber: null,
    blockHash: null,
    evidence: null,
    error: null,
    queuedAtMs: 0,
    sentAtMs: null,
    finalAtMs: null,
    ...more,
  };
}

function tx(itemId: number, nonce: number, firstSentAtMs: number, lastSentAtMs = firstSentAtMs): TxRow {
  const fees = { maxFeePerGas: 100n, maxPriorityFeePerGas: 10n };
  return {
    txHash: `0xt${itemId}`,
    itemId,
    nonce,
    raw: `0xraw${itemId}`,
    ...fees,
    firstSentAtMs,
    lastSentAtMs,
  };
}

const mined = (more: Partial<ItemRow> = {}) =>
  item(1, 100, "mined", { nonce: 5, txHash: "0xt1", blockNumber: 10n, blockHash: "0xb1", ...more });
const sent = item(1, 100, "sent", { nonce: 5 });
const newItem = { ...item(9, 120, "queued") };

function write(w: AnchorWrite): string {
  switch (w.op) {
    case "insert":
      return `insert ${w.item.treeSize} nonce=${w.nonce}`;
    case "set_state":
      return `${w.id} → ${w.state}`;
    case "queue":
      return `${w.id} → queued nonce=${w.nonce}`;
    case "sent":
      return `${w.id} → sent nonce=${w.nonce} tx=${w.tx.txHash}`;
    case "mined":
      return `${w.id} → mined ${w.blockHash}`;
    case "final":
      return `${w.id} → final`;
    case "touch_tx":
      return `touch ${w.txHash}`;
  }
}

/** A step as readable strings: writes, announced transitions and errors, the action. */
function summary(s: Step): { writes: string[]; changes: string[]; errors: string[]; action: string } {
  const a = s.action;
  let action: string = a.kind;
  if (a.kind === "sign")
    action = `sign ${a.item.id} nonce=${a.nonce}${a.supersedes ? ` replacing ${a.supersedes.id}` : ""}`;
  if (a.kind === "rebroadcast") action = `rebroadcast ${a.tx.txHash}`;
  if (a.kind === "broadcast") action = `broadcast ${a.raw}`;
  return {
    writes: s.writes.map(write),
    changes: s.changes.map((c) => `${c.treeSize} ${c.state}`),
    errors: s.errors.map((e) => e.reason),
    action,
  };
}

interface Row {
  name: string;
  given: Situation;
  expect: Partial<ReturnType<typeof summary>>;
}

const offer = (known: boolean, maxCommittedSize: number, queued: ItemRow[]): Situation => ({
  kind: "offer",
  item: newItem,
  known,
  maxCommittedSize: BigInt(maxCommittedSize),
  queued,
  nowMs: NOW,
});
const minedSeen = (
  receipt: { blockNumber: bigint; blockHash: string } | undefined,
  canonicalHash: string,
  finalizedNumber: bigint,
): Situation => ({
  kind: "mined",
  item: mined(),
  receipt,
  canonicalHash,
  finalizedNumber,
  nowMs: NOW,
});
const queuedSeen = (
  q: ItemRow | undefined,
  s: ItemRow | undefined,
  isMinedOrReorged: boolean,
  lastSentAtMs: number | null,
): Situation => ({
  kind: "queued",
  queued: q,
  sent: s,
  isMinedOrReorged,
  lastSentAtMs,
  nowMs: NOW,
  timing: TIMING,
});

const TABLE: Row[] = [
  // offer: newest wins, idempotent per checkpoint
  {
    name: "offer of a new checkpoint is queued",
    given: offer(false, 0, []),
    expect: { writes: ["insert 120 nonce=null"], action: "accept" },
  },
  {
    name: "offer of a known checkpoint changes nothing",
    given: offer(true, 0, []),
    expect: { writes: [], errors: [], action: "accept" },
  },
  {
    name: "offer not above the anchored size is stale",
    given: offer(false, 120, []),
    expect: { writes: [], errors: ["stale_checkpoint"], action: "refuse" },
  },
  {
    name: "offer below a queued one is stale",
    given: offer(false, 0, [item(2, 130, "queued")]),
    expect: { writes: [], errors: ["stale_checkpoint"], action: "refuse" },
  },
  {
    name: "offer supersedes the queued one",
    given: offer(false, 0, [item(2, 110, "queued")]),
    expect: { writes: ["2 → superseded", "insert 120 nonce=null"], action: "accept" },
  },
  {
    name: "offer takes over the nonce a re-queued one holds",
    given: offer(false, 0, [item(2, 110, "queued", { nonce: 7 })]),
    expect: { writes: ["2 → superseded", "insert 120 nonce=7"], action: "accept" },
  },
  // MINED re-checked on every head (§6.4)
  {
    name: "mined and under the finality point: fetch the evidence",
    given: minedSeen({ blockNumber: 10n, blockHash: "0xb1" }, "0xb1", 10n),
    expect: { writes: [], action: "fetch_evidence" },
  },
  {
    name: "mined above the finality point: wait",
    given: minedSeen({ blockNumber: 10n, blockHash: "0xb1" }, "0xb1", 9n),
    expect: { writes: [], changes: [], action: "none" },
  },
  {
    name: "mined, receipt gone: reorged",
    given: minedSeen(undefined, "0xb1", 20n),
    expect: { writes: ["1 → reorged"], changes: ["100 reorged"] },
  },
  {
    name: "mined, block no longer canonical: reorged",
    given: minedSeen({ blockNumber: 10n, blockHash: "0xb1" }, "0xb9", 20n),
    expect: { writes: ["1 → reorged"], changes: ["100 reorged"] },
  },
  {
    name: "mined again in another canonical block: mined at the new position",
    given: minedSeen({ blockNumber: 11n, blockHash: "0xb2" }, "0xb2", 20n),
    expect: { writes: ["1 → mined 0xb2"], changes: ["100 mined"], action: "none" },
  },
  {
    name: "evidence of the same block: final",
    given: { kind: "evidence", item: mined(), evidenceBlockHash: "0xb1", evidence: "{}", nowMs: NOW },
    expect: { writes: ["1 → final"], changes: ["100 final"] },
  },
  {
    name: "evidence of another block: decide next head",
    given: { kind: "evidence", item: mined(), evidenceBlockHash: "0xb2", evidence: "{}", nowMs: NOW },
    expect: { writes: [], changes: [] },
  },
  // the fate of a nonce (§6.3)
  {
    name: "nonce still pending: unresolved",
    given: { kind: "nonce", item: sent, hit: undefined, latestNonce: 5, nowMs: NOW },
    expect: { writes: [], action: "unresolved" },
  },
  {
    name: "nonce consumed by a foreign transaction: queued for a fresh nonce",
    given: { kind: "nonce", item: sent, hit: undefined, latestNonce: 6, nowMs: NOW },
    expect: { writes: ["1 → queued nonce=null"], changes: ["100 queued"] },
  },
  {
    name: "our transaction mined: mined",
    given: {
      kind: "nonce",
      item: sent,
      hit: { tx: tx(1, 5, 0), owner: sent, isSuccess: true, blockNumber: 10n, blockHash: "0xb1" },
      latestNonce: 6,
      nowMs: NOW,
    },
    expect: { writes: ["1 → mined 0xb1"], changes: ["100 mined"] },
  },
  {
    name: "our transaction reverted: rejected",
    given: {
      kind: "nonce",
      item: sent,
      hit: { tx: tx(1, 5, 0), owner: sent, isSuccess: false, blockNumber: 10n, blockHash: "0xb1" },
      latestNonce: 6,
      nowMs: NOW,
    },
    expect: { writes: ["1 → rejected"], changes: ["100 rejected"] },
  },
  {
    name: "the replaced transaction landed: its item is mined, the replacement goes back to the queue",
    given: {
      kind: "nonce",
      item: item(2, 110, "sent", { nonce: 5 }),
      hit: {
        tx: tx(1, 5, 0),
        owner: item(1, 100, "superseded", { nonce: 5 }),
        isSuccess: true,
        blockNumber: 10n,
        blockHash: "0xb1",
      },
      latestNonce: 6,
      nowMs: NOW,
    },
    expect: { writes: ["1 → mined 0xb1", "2 → queued nonce=null"], changes: ["100 mined"] },
  },
  // REORGED with its nonce free again
  {
    name: "reorged: queued again at the same nonce",
    given: { kind: "reorged", item: mined({ state: "reorged" }), newer: undefined, nowMs: NOW },
    expect: { writes: ["1 → queued nonce=5"], changes: ["100 queued"] },
  },
  {
    name: "reorged with a newer one queued: the newer takes the nonce",
    given: { kind: "reorged", item: mined({ state: "reorged" }), newer: item(3, 130, "queued"), nowMs: NOW },
    expect: { writes: ["1 → superseded", "3 → queued nonce=5"] },
  },
  // stuck SENT escalation (§6.3)
  {
    name: "sent without a transaction: nothing",
    given: { kind: "sent", item: sent, latestTx: undefined, nowMs: NOW, timing: TIMING },
    expect: { action: "none" },
  },
  {
    name: "sent recently: wait",
    given: { kind: "sent", item: sent, latestTx: tx(1, 5, NOW - 1000), nowMs: NOW, timing: TIMING },
    expect: { action: "none" },
  },
  {
    name: "sent past T1: rebroadcast",
    given: { kind: "sent", item: sent, latestTx: tx(1, 5, NOW - 2000), nowMs: NOW, timing: TIMING },
    expect: { action: "rebroadcast 0xt1" },
  },
  {
    name: "sent past T2: price a bump",
    given: {
      kind: "sent",
      item: sent,
      latestTx: tx(1, 5, NOW - 5000, NOW - 100),
      nowMs: NOW,
      timing: TIMING,
    },
    expect: { action: "price_bump" },
  },
  {
    name: "bump under the cap: sign at the same nonce",
    given: {
      kind: "fees",
      item: sent,
      latestTx: tx(1, 5, 0),
      fees: { maxFeePerGas: 111n, maxPriorityFeePerGas: 11n },
      isCapped: false,
      nowMs: NOW,
      timing: TIMING,
    },
    expect: { errors: [], action: "sign 1 nonce=5" },
  },
  {
    name: "bump at the cap: error, and rebroadcast when due",
    given: {
      kind: "fees",
      item: sent,
      latestTx: tx(1, 5, 0),
      fees: { maxFeePerGas: 100n, maxPriorityFeePerGas: 10n },
      isCapped: true,
      nowMs: NOW,
      timing: TIMING,
    },
    expect: { errors: ["fee_cap_reached"], action: "rebroadcast 0xt1" },
  },
  {
    name: "bump at the cap, rebroadcast not due: error only",
    given: {
      kind: "fees",
      item: sent,
      latestTx: tx(1, 5, 0, NOW),
      fees: { maxFeePerGas: 100n, maxPriorityFeePerGas: 10n },
      isCapped: true,
      nowMs: NOW,
      timing: TIMING,
    },
    expect: { errors: ["fee_cap_reached"], action: "none" },
  },
  // the queue's head
  {
    name: "nothing queued: nothing",
    given: queuedSeen(undefined, undefined, false, null),
    expect: { action: "none" },
  },
  {
    name: "queued within the anchor interval: wait",
    given: queuedSeen(item(2, 110, "queued"), undefined, false, NOW - 9_999),
    expect: { action: "none" },
  },
  {
    name: "queued after the interval: dry run first",
    given: queuedSeen(item(2, 110, "queued"), undefined, false, NOW - 10_000),
    expect: { action: "simulate" },
  },
  {
    name: "queued with a reserved nonce: not paced",
    given: queuedSeen(item(2, 110, "queued", { nonce: 5 }), undefined, false, NOW),
    expect: { action: "simulate" },
  },
  {
    name: "queued newer than the pending one: replace it at its nonce",
    given: queuedSeen(item(2, 110, "queued"), sent, false, null),
    expect: { action: "sign 2 nonce=5 replacing 1" },
  },
  {
    name: "queued not newer than the pending one: wait",
    given: queuedSeen(item(2, 100, "queued"), sent, false, null),
    expect: { action: "none" },
  },
  {
    name: "queued while one is mined or reorged: wait",
    given: queuedSeen(item(2, 110, "queued"), undefined, true, null),
    expect: { action: "none" },
  },
  {
    name: "dry run refused for good: rejected",
    given: { kind: "simulated", item: item(2, 110, "queued"), refusal: "not_growing", nowMs: NOW },
    expect: { writes: ["2 → rejected"], changes: ["110 rejected"], errors: ["not_growing"], action: "none" },
  },
  {
    name: "dry run passed: sign at the next free nonce",
    given: { kind: "simulated", item: item(2, 110, "queued"), refusal: undefined, nowMs: NOW },
    expect: { action: "sign 2 nonce=null" },
  },
  // a signed transaction is persisted before it is broadcast
  {
    name: "signed: persisted as sent, then broadcast",
    given: {
      kind: "signed",
      item: item(2, 110, "queued"),
      tx: tx(2, 6, 0),
      supersedes: undefined,
      nowMs: NOW,
    },
    expect: { writes: ["2 → sent nonce=6 tx=0xt2"], changes: ["110 sent"], action: "broadcast 0xraw2" },
  },
  {
    name: "signed replacement: the replaced one is superseded in the same write",
    given: { kind: "signed", item: item(2, 110, "queued"), tx: tx(2, 5, 0), supersedes: sent, nowMs: NOW },
    expect: { writes: ["2 → sent nonce=5 tx=0xt2", "1 → superseded"], changes: ["110 sent"] },
  },
  {
    name: "broadcast refused as underpriced: error",
    given: { kind: "broadcast", outcome: "underpriced", isRebroadcast: true },
    expect: { errors: ["underpriced"] },
  },
  {
    name: "broadcast accepted: nothing",
    given: { kind: "broadcast", outcome: "accepted", isRebroadcast: false },
    expect: { errors: [], action: "none" },
  },
  // start-up
  {
    name: "restart, sent without a receipt: rebroadcast",
    given: { kind: "restart", item: sent, latestTx: tx(1, 5, 0), hasReceipt: false, nowMs: NOW },
    expect: { action: "rebroadcast 0xt1" },
  },
  {
    name: "restart, sent and mined meanwhile: nothing here",
    given: { kind: "restart", item: sent, latestTx: tx(1, 5, 0), hasReceipt: true, nowMs: NOW },
    expect: { action: "none" },
  },
];

describe("publisher state machine: next step", () => {
  for (const row of TABLE) {
    it(row.name, () => {
      const got = summary(nextStep(row.given));
      const picked = Object.fromEntries(Object.keys(row.expect).map((k) => [k, got[k as keyof typeof got]]));
      assert.deepEqual(picked, row.expect);
    });
  }

  it("chooses next = max(local next, pending count), or the reserved nonce (§6.3)", () => {
    assert.equal(chooseNonce(null, 4, null), 4);
    assert.equal(chooseNonce(null, 4, 6), 7);
    assert.equal(chooseNonce(null, 9, 6), 9);
    assert.equal(chooseNonce(3, 9, 6), 3);
  });
});
