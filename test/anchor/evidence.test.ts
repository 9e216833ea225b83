import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { bytesToHex, fromRlp, type Hex, hexToBytes, toRlp } from "viem";
import { anchorFields } from "../../src/anchor/anchor.js";
import { encodeHeader, keccak, type RpcHeader } from "../../src/anchor/eth-encoding.js";
import type { EvmAnchorEvidence } from "../../src/anchor/evidence.js";
import { verifyEvidence } from "../../src/anchor/verify-evidence.js";
import { checkpoint, type LedgerEnv, ledgerEnv } from "./helpers.js";

const OTHER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"; // anvil dev account 2 (unlocked)

describe("anchor evidence", () => {
  let env: LedgerEnv;
  let evidence: EvmAnchorEvidence;
  const cp = checkpoint(500, "evidence");

  before(async () => {
    env = await ledgerEnv();
    const { node, ledger } = env;
    // One block with a legacy (type 0), an EIP-2930 (type 1) and an EIP-1559 (type 2) transaction.
    await node.rpc("evm_setAutomine", [false]);
    await node.rpc("eth_sendTransaction", [
      { from: OTHER, to: OTHER, value: "0x1", type: "0x0", gasPrice: "0x174876e800" },
    ]);
    await node.rpc("eth_sendTransaction", [
      { from: OTHER, to: OTHER, value: "0x2", type: "0x1", gasPrice: "0x174876e800", accessList: [] },
    ]);
    const f = anchorFields(cp);
    const signed = await ledger.sign(f, (await ledger.nonces()).pending, await ledger.suggestFees());
    await ledger.broadcast(signed.raw);
    await node.rpc("evm_mine");
    await node.rpc("evm_setAutomine", [true]);
    evidence = await ledger.evidence(signed.hash, f);
  });
  after(() => env.close());

  it("encodes post-Prague headers so that they hash to the block hash", async () => {
    const block = await env.node.rpc<RpcHeader>("eth_getBlockByNumber", ["latest", false]);
    for (const k of [
      "baseFeePerGas",
      "withdrawalsRoot",
      "blobGasUsed",
      "excessBlobGas",
      "parentBeaconBlockRoot",
      "requestsHash",
    ]) {
      assert.ok(k in block, `anvil header has ${k}`);
    }
    assert.equal(bytesToHex(keccak(encodeHeader(block))), block.hash);
  });

  it("proves a typed receipt in a block with mixed transaction types", async () => {
    const block = await env.node.rpc<{ transactions: { type: Hex }[] }>("eth_getBlockByHash", [
      evidence.blockHash,
      true,
    ]);
    assert.deepEqual(block.transactions.map((t) => t.type).sort(), ["0x0", "0x1", "0x2"]);
    assert.ok(evidence.txIndex > 0, "the anchor is not the first receipt of the block");
    assert.equal(hexToBytes(evidence.receiptRlp)[0], 2, "EIP-2718 type prefix kept");
    const r = verifyEvidence(evidence, cp, { chainId: env.node.chainId, contract: env.node.registry! });
    assert.equal(r.ok, true);
  });

  it("verifies offline after the node is gone", async () => {
    const copy = JSON.parse(JSON.stringify(evidence)) as EvmAnchorEvidence;
    await env.node.stop();
    const r = verifyEvidence(copy, cp, { chainId: 31337, contract: env.node.registry! });
    assert.ok(r.ok);
    assert.equal(r.existedNoLaterThanSec, copy.blockTimestamp);
    assert.equal(r.statement, `existed no later than ${new Date(copy.blockTimestamp * 1000).toISOString()}`);
  });

  const flip = (hex: Hex, byteIndex: number): Hex => {
    const b = hexToBytes(hex);
    b[byteIndex]! ^= 0x01;
    return bytesToHex(b);
  };
  const tampered: { name: string; step: string; mutate(e: EvmAnchorEvidence): EvmAnchorEvidence }[] = [
    {
      name: "a changed receipt byte",
      step: "receipt_proof",
      mutate: (e) => ({ ...e, receiptRlp: flip(e.receiptRlp, 40) }),
    },
    {
      name: "a wrong block hash",
      step: "header_hash",
      mutate: (e) => ({ ...e, blockHash: flip(e.blockHash, 31) }),
    },
    {
      name: "a changed header byte",
      step: "header_hash",
      mutate: (e) => ({ ...e, headerRlp: flip(e.headerRlp, 100) }),
    },
    {
      name: "a missing proof node",
      step: "receipt_proof",
      mutate: (e) => ({ ...e, receiptProof: e.receiptProof.slice(0, -1) }),
    },
    { name: "a wrong tx index", step: "receipt_proof", mutate: (e) => ({ ...e, txIndex: 1 }) },
    {
      name: "a wrong block timestamp",
      step: "header_fields",
      mutate: (e) => ({ ...e, blockTimestamp: e.blockTimestamp - 60 }),
    },
    {
      name: "an unknown format",
      step: "format",
      mutate: (e) => ({ ...e, version: "v0" }) as unknown as EvmAnchorEvidence,
    },
  ];
  for (const t of tampered) {
    it(`rejects evidence with ${t.name} at step ${t.step}`, () => {
      const r = verifyEvidence(t.mutate(structuredClone(evidence)), cp);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.step, t.step, r.reason);
    });
  }

  it("rejects the event when it anchors another checkpoint, naming the mismatching field", () => {
    const cases = [
      { cp: checkpoint(500, "evidence", "other.example.org/vitalog/gw-09"), step: "event_log_id" },
      { cp: checkpoint(501, "evidence"), step: "event_tree_size" },
      { cp: { ...cp, rootHash: new Uint8Array(32).fill(9) }, step: "event_root_hash" },
      { cp: { ...cp, noteText: `${cp.noteText}— witness extra\n` }, step: "event_checkpoint_hash" },
    ];
    for (const c of cases) {
      const r = verifyEvidence(evidence, c.cp);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.step, c.step);
    }
  });

  it("rejects evidence from another chain or registry than the auditor trusts", () => {
    const wrongChain = verifyEvidence(evidence, cp, { chainId: 1 });
    assert.equal(wrongChain.ok ? "" : wrongChain.step, "chain_id");
    const wrongContract = verifyEvidence(evidence, cp, {
      contract: "0x0000000000000000000000000000000000000001",
    });
    assert.equal(wrongContract.ok ? "" : wrongContract.step, "contract");
    const untrustedBlock = verifyEvidence(evidence, cp, { blockHash: flip(evidence.blockHash, 0) });
    assert.equal(untrustedBlock.ok ? "" : untrustedBlock.step, "block_hash");
  });

  it("verifies evidence from a Besu QBFT block (extraData hashed without seals, round 0)", () => {
    // the anvil block, re-dressed as a QBFT block: BFT extraData, block hash by Besu's on-chain rule
    const fields = fromRlp(hexToBytes(evidence.headerRlp), "bytes") as Uint8Array[];
    const vanity = new Uint8Array(32);
    const validators = [new Uint8Array(20).fill(1), new Uint8Array(20).fill(2)];
    const extraWith = (round: Uint8Array, seals: Uint8Array[]) =>
      toRlp([vanity, validators, [], round, seals] as never, "bytes");
    fields[12] = extraWith(Uint8Array.of(2), [new Uint8Array(65).fill(7)]);
    const headerRlp = toRlp(fields as never, "bytes");
    const onChain = [...fields];
    onChain[12] = extraWith(new Uint8Array(0), []);
    const blockHash = bytesToHex(keccak(toRlp(onChain as never, "bytes")));
    const qbft = { ...evidence, headerRlp: bytesToHex(headerRlp), blockHash } as EvmAnchorEvidence;
    const r = verifyEvidence(qbft, cp, { chainId: 31337, contract: env.node.registry! });
    assert.ok(r.ok, r.ok ? "" : `${r.step}: ${r.reason}`);
    // the committed-seal signing hash keeps the round: it is not the block hash, so it must not verify
    const sealHash = [...fields];
    sealHash[12] = extraWith(Uint8Array.of(2), []);
    const wrongRound = { ...qbft, blockHash: bytesToHex(keccak(toRlp(sealHash as never, "bytes"))) };
    const bad = verifyEvidence(wrongRound, cp, { chainId: 31337, contract: env.node.registry! });
    assert.ok(!bad.ok && bad.step === "header_hash");
  });
});
