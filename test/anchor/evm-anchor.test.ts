import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { decodeEventLog, type Hex } from "viem";
import { AnchorError, anchorFields } from "../../src/anchor/anchor.js";
import { ANVIL_KEYS, startAnvil, writeKeyFile } from "../../src/anchor/anvil.js";
import type { EvmAnchorEvidence } from "../../src/anchor/evidence.js";
import { EvmAnchor, type EvmAnchorConfig } from "../../src/anchor/evm-anchor.js";
import { REGISTRY_ABI } from "../../src/anchor/registry.js";
import { verifyEvidence } from "../../src/anchor/verify-evidence.js";
import { GatewayError } from "../../src/errors.js";
import { anchorConformance } from "./anchor-conformance.js";
import { checkpoint, sentCount, tempDir } from "./helpers.js";

async function evmHarness() {
  const node = await startAnvil();
  const t = tempDir();
  const keyFile = writeKeyFile(t.dir, ANVIL_KEYS[1]!);
  const config: EvmAnchorConfig = {
    rpcUrl: node.rpcUrl,
    chainId: node.chainId,
    contract: node.registry!,
    keyFile,
    finality: { kind: "finalized" },
    fromBlock: node.registryBlock,
    pollIntervalMs: 20,
    rpcTimeoutMs: 2000,
  };
  // anvil with --slots-in-an-epoch 1: finalized = latest − 2, so keep mining in the background.
  const miner = setInterval(() => void node.rpc("anvil_mine", ["0x1"]).catch(() => undefined), 30);
  const anchor = await EvmAnchor.connect(config);
  return { node, t, config, anchor, miner };
}

anchorConformance("EvmAnchor on anvil", async () => {
  const { node, t, anchor, miner } = await evmHarness();
  return {
    anchor,
    writes: () => sentCount(node, anchor.evm.address),
    unavailable: async () => {
      const other = await startAnvil({ isRegistryDeployed: false });
      const down = await EvmAnchor.connect({
        rpcUrl: other.rpcUrl,
        chainId: other.chainId,
        contract: node.registry!,
        keyFile: join(t.dir, "ledger.key"),
        finality: { kind: "finalized" },
        rpcTimeoutMs: 500,
      });
      await other.stop();
      return down;
    },
    verify: (rec, cp) => {
      const result = verifyEvidence(rec.evidence, cp, { chainId: node.chainId, contract: node.registry! });
      assert.equal(
        result.ok,
        true,
        JSON.stringify(result, (_k, v) => (typeof v === "bigint" ? v.toString() : v)),
      );
    },
    cleanup: async () => {
      clearInterval(miner);
      await node.stop();
      t.cleanup();
    },
  };
});

describe("EvmAnchor", () => {
  let env: Awaited<ReturnType<typeof evmHarness>>;
  before(async () => {
    env = await evmHarness();
  });
  after(async () => {
    clearInterval(env.miner);
    await env.anchor.close();
    await env.node.stop();
    env.t.cleanup();
  });

  it("emits an Anchored event that decodes to the checkpoint", async () => {
    const cp = checkpoint(7, "decode");
    const rec = await env.anchor.publish(cp);
    const receipt = await env.anchor.evm.client.getTransactionReceipt({ hash: rec.txId as Hex });
    const log = receipt.logs.find((l) => l.address.toLowerCase() === env.node.registry!.toLowerCase())!;
    const ev = decodeEventLog({ abi: REGISTRY_ABI, data: log.data, topics: log.topics });
    const f = anchorFields(cp);
    assert.equal(ev.eventName, "Anchored");
    assert.deepEqual(ev.args, {
      logId: `0x${Buffer.from(f.logId).toString("hex")}`,
      treeSize: 7n,
      rootHash: `0x${Buffer.from(f.rootHash).toString("hex")}`,
      checkpointHash: `0x${Buffer.from(f.checkpointHash).toString("hex")}`,
    });
    const latest = await env.anchor.evm.latestOnChain(f.logId);
    assert.equal(latest.treeSize, 7n);
    assert.equal(
      latest.checkpointHashPrefix,
      `0x${Buffer.from(f.checkpointHash.subarray(0, 24)).toString("hex")}`,
    );
    assert.equal((rec.evidence as EvmAnchorEvidence).blockHash, receipt.blockHash);
  });

  it("finds an earlier anchor after a restart instead of writing again", async () => {
    const cp = checkpoint(8, "restart");
    const first = await env.anchor.publish(cp);
    const fresh = await EvmAnchor.connect(env.config);
    const before = await sentCount(env.node, fresh.evm.address);
    const again = await fresh.publish(cp);
    assert.equal(again.txId, first.txId);
    assert.equal(await sentCount(env.node, fresh.evm.address), before);
    await fresh.close();
  });

  it("refuses to start on a chain id other than configured", async () => {
    await assert.rejects(EvmAnchor.connect({ ...env.config, chainId: 1 }), (err: unknown) => {
      assert.ok(err instanceof AnchorError);
      assert.equal(err.reason, "chain_id_mismatch");
      assert.equal(err.retryable, false);
      return true;
    });
  });

  it("refuses a world- or group-readable key file and a missing one", async () => {
    const loose = join(env.t.dir, "loose.key");
    writeFileSync(loose, `${ANVIL_KEYS[1]}\n`);
    chmodSync(loose, 0o644);
    await assert.rejects(EvmAnchor.connect({ ...env.config, keyFile: loose }), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, "KEY_FILE_INSECURE");
      return true;
    });
    await assert.rejects(
      EvmAnchor.connect({ ...env.config, keyFile: join(env.t.dir, "nope.key") }),
      (err: unknown) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.code, "KEY_FILE_MISSING");
        return true;
      },
    );
  });
});
