import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import Database from "better-sqlite3";
import { bytesToHex, decodeEventLog, type Hex } from "viem";
import { anchorFields } from "../../src/anchor/anchor.js";
import { Publisher } from "../../src/anchor/publisher.js";
import { REGISTRY_ABI } from "../../src/anchor/registry.js";
import { verifyEvidence } from "../../src/anchor/verify-evidence.js";
import { checkpoint } from "./helpers.js";
import { closeOpenFixtures, driveTo, fixture } from "./publisher-fixture.js";

afterEach(closeOpenFixtures);

describe("Publisher on anvil", () => {
  it("walks QUEUED → SENT → MINED → FINAL and archives evidence that verifies offline", async () => {
    const f = await fixture();
    const seen: string[] = [];
    f.p.on((e) => e.type === "state" && seen.push(e.state));
    const cp = checkpoint(100, "life");
    assert.equal(f.p.offer(cp), true);
    assert.equal(f.p.offer(cp), true, "offering the same checkpoint again is a no-op");
    assert.equal(f.stateOf(cp), "queued");
    await f.p.tick();
    assert.equal(f.stateOf(cp), "sent");
    await f.p.tick();
    assert.equal(f.stateOf(cp), "mined");
    await f.p.tick();
    assert.equal(f.stateOf(cp), "mined", "not final before 2 confirmations");
    await f.env.node.rpc("anvil_mine", ["0x2"]);
    await f.p.tick();
    assert.equal(f.stateOf(cp), "final");
    assert.deepEqual(seen, ["sent", "mined", "final"]);
    const status = f.p.status();
    assert.equal(status.counts.final, 1);
    assert.equal(status.pending, null);
    assert.equal(status.last_final?.tree_size, "100");
    const evidence = f.p.evidenceFor(anchorFields(cp).checkpointHash);
    const registry = f.env.node.registry!;
    const chainId = f.env.node.chainId;
    await f.close(); // anvil is gone: the verifier needs nothing but the evidence
    const result = verifyEvidence(JSON.parse(JSON.stringify(evidence)), cp, { chainId, contract: registry });
    assert.equal(result.ok, true);
    if (result.ok) assert.match(result.statement, /^existed no later than \d{4}-/);
  });

  it("emits an Anchored event that decodes to the checkpoint, and the registry keeps it as the log's latest", async () => {
    const f = await fixture();
    const cp = checkpoint(7, "decode");
    f.p.offer(cp);
    await driveTo(f, cp, "final");
    const item = f.p.store.byHash(anchorFields(cp).checkpointHash)!;
    const receipt = await f.env.ledger.client.getTransactionReceipt({ hash: item.txHash as Hex });
    const log = receipt.logs.find((l) => l.address.toLowerCase() === f.env.node.registry!.toLowerCase())!;
    const ev = decodeEventLog({ abi: REGISTRY_ABI, data: log.data, topics: log.topics });
    const fields = anchorFields(cp);
    assert.equal(ev.eventName, "Anchored");
    assert.deepEqual(ev.args, {
      logId: bytesToHex(fields.logId),
      treeSize: 7n,
      rootHash: bytesToHex(fields.rootHash),
      checkpointHash: bytesToHex(fields.checkpointHash),
    });
    const latest = await f.env.ledger.latestOnChain(fields.logId);
    assert.equal(latest.treeSize, 7n);
    assert.equal(latest.checkpointHashPrefix, bytesToHex(fields.checkpointHash.subarray(0, 24)));
    assert.equal(f.p.evidenceFor(fields.checkpointHash)?.blockHash, receipt.blockHash);
    await f.close();
  });

  it("rejects for good a checkpoint the registry refuses as not growing, and anchors nothing", async () => {
    const f = await fixture();
    // the same log already anchored further on this ledger (e.g. a restored backup of the gateway)
    const ahead = anchorFields(checkpoint(30, "ahead"));
    const signed = await f.env.ledger.sign(
      ahead,
      (await f.env.ledger.nonces()).pending,
      await f.env.ledger.suggestFees(),
    );
    assert.equal(await f.env.ledger.broadcast(signed.raw), "accepted");
    await f.env.ledger.client.waitForTransactionReceipt({ hash: signed.hash, pollingInterval: 20 });
    const errors: string[] = [];
    f.p.on((e) => e.type === "error" && errors.push(e.reason));
    const cp = checkpoint(25, "behind");
    assert.equal(f.p.offer(cp), true, "not stale locally: this store never saw size 30");
    await f.p.tick();
    assert.equal(f.stateOf(cp), "rejected");
    assert.deepEqual(errors, ["not_growing"]);
    assert.deepEqual(await f.anchoredEvents(cp), []);
    await f.p.tick();
    assert.equal(f.stateOf(cp), "rejected", "rejected is terminal");
    await f.close();
  });

  it("detects a reorg that removes the anchor block and re-anchors at the same nonce", async () => {
    const f = await fixture();
    const cp = checkpoint(200, "reorg");
    f.p.offer(cp);
    await driveTo(f, cp, "mined");
    const before = f.p.store.byHash(anchorFields(cp).checkpointHash)!;
    const head = BigInt(await f.env.node.rpc<Hex>("eth_blockNumber"));
    await f.env.node.rpc("anvil_reorg", [Number(head - before.blockNumber! + 1n), []]);
    assert.deepEqual(await f.anchoredEvents(cp), [], "the reorg removed the anchor");
    const states: string[] = [];
    f.p.on((e) => e.type === "state" && states.push(e.state));
    await f.p.tick(); // one tick: MINED → REORGED → back to the queue → re-sent
    assert.deepEqual(states, ["reorged", "queued", "sent"]);
    await driveTo(f, cp, "final");
    const after = f.p.store.byHash(anchorFields(cp).checkpointHash)!;
    assert.equal(after.nonce, before.nonce, "same nonce: the old transaction can never land as well");
    assert.notEqual(after.blockHash, before.blockHash);
    assert.equal((await f.anchoredEvents(cp)).length, 1);
    await f.close();
  });

  it("rebroadcasts a dropped transaction, then bumps fees ≥ 10 % at the same nonce when stuck", async () => {
    const f = await fixture();
    await f.env.node.rpc("evm_setAutomine", [false]);
    const cp = checkpoint(300, "stuck");
    f.p.offer(cp);
    await f.p.tick();
    const item = f.p.store.byHash(anchorFields(cp).checkpointHash)!;
    const [first] = f.p.store.txsOfItem(item.id);
    await f.env.node.rpc("anvil_dropTransaction", [first!.txHash]);
    assert.equal(await f.env.node.rpc("eth_getTransactionByHash", [first!.txHash]), null);
    f.clock.advance(2000);
    await f.p.tick(); // rebroadcast of the identical raw transaction
    assert.notEqual(await f.env.node.rpc("eth_getTransactionByHash", [first!.txHash]), null);
    assert.equal(f.p.store.txsOfItem(item.id).length, 1);
    f.clock.advance(5000);
    await f.p.tick(); // stuck past bumpAfterMs: replacement with bumped fees
    const txs = f.p.store.txsOfItem(item.id);
    assert.equal(txs.length, 2);
    const [bumped, old] = txs as [(typeof txs)[0], (typeof txs)[0]];
    assert.equal(bumped.nonce, old.nonce);
    assert.ok(bumped.maxFeePerGas * 10n >= old.maxFeePerGas * 11n);
    assert.ok(bumped.maxPriorityFeePerGas * 10n >= old.maxPriorityFeePerGas * 11n);
    await f.env.node.rpc("evm_mine");
    await f.p.tick();
    assert.equal(f.stateOf(cp), "mined");
    assert.equal(f.p.store.byHash(anchorFields(cp).checkpointHash)!.txHash, bumped.txHash);
    await f.env.node.rpc("evm_setAutomine", [true]);
    await driveTo(f, cp, "final");
    assert.deepEqual(await f.anchoredEvents(cp), [bumped.txHash]);
    await f.close();
  });

  it("replaces a pending transaction with a newer checkpoint at the same nonce", async () => {
    const f = await fixture();
    await f.env.node.rpc("evm_setAutomine", [false]);
    const older = checkpoint(400, "old");
    const newer = checkpoint(410, "new");
    f.p.offer(older);
    await f.p.tick();
    assert.equal(f.stateOf(older), "sent");
    f.p.offer(newer);
    await f.p.tick();
    assert.equal(f.stateOf(older), "superseded");
    assert.equal(f.stateOf(newer), "sent");
    const a = f.p.store.byHash(anchorFields(older).checkpointHash)!;
    const b = f.p.store.byHash(anchorFields(newer).checkpointHash)!;
    assert.equal(a.nonce, b.nonce);
    await f.env.node.rpc("evm_setAutomine", [true]);
    await f.env.node.rpc("evm_mine");
    await driveTo(f, newer, "final");
    assert.equal(f.stateOf(older), "superseded");
    assert.deepEqual(await f.anchoredEvents(older), []);
    assert.equal((await f.anchoredEvents(newer)).length, 1);
    await f.close();
  });
});

describe("Publisher pacing", () => {
  it("sends one transaction per anchor interval whatever the checkpoint rate", async () => {
    const f = await fixture();
    await f.p.stop();
    f.p = new Publisher(
      f.db,
      f.env.ledger,
      { anchorIntervalMs: 10_000, pollIntervalMs: 500, rebroadcastMs: 60_000, bumpAfterMs: 60_000 },
      f.clock,
    );
    // "pending" counts a transaction broadcast but not mined yet too: one per nonce the publisher used
    const nonces = async () =>
      Number(BigInt(await f.env.node.rpc<Hex>("eth_getTransactionCount", [f.env.ledger.address, "pending"])));
    const before = await nonces();
    let size = 1;
    for (let t = 0; t < 30_000; t += 500) {
      for (let k = 0; k < 5; k++) f.p.offer(checkpoint(size++, "rate")); // 10 checkpoints per second
      await f.p.tick();
      await f.env.node.rpc("anvil_mine", ["0x1"]);
      f.clock.advance(500);
    }
    await f.p.tick();
    const sent = (await nonces()) - before;
    assert.ok(sent >= 3 && sent <= 4, `sent ${sent} transactions in 30 s at a 10 s interval`);
    const { counts } = f.p.status();
    assert.equal(
      counts.final + counts.mined + counts.sent,
      sent,
      "every transaction carries its own checkpoint",
    );
    assert.equal(
      counts.superseded + counts.queued + sent,
      300,
      "all other checkpoints were folded into newer ones",
    );
    await f.close();
  });
});

describe("Publisher beside the gateway's commit thread", () => {
  it("offers again, 50 ms later, a checkpoint whose offer met another connection's write lock", async () => {
    const f = await fixture();
    const other = new Database(f.dbPath);
    try {
      f.db.pragma("busy_timeout = 0");
      f.p.start();
      const cp = checkpoint(300, "locked");
      other.exec("BEGIN IMMEDIATE");
      assert.equal(f.p.offer(cp), false, "not accepted while locked");
      assert.equal(f.stateOf(cp), undefined);
      assert.equal(f.p.status().last_error, null, "a lock is not reported as an invalid checkpoint");
      other.exec("COMMIT");
      f.clock.advance(49);
      assert.equal(f.stateOf(cp), undefined, "not before the retry delay");
      f.clock.advance(1);
      assert.equal(f.stateOf(cp), "queued", "offered again once the lock is gone");
    } finally {
      other.close();
      await f.close();
    }
  });
});
