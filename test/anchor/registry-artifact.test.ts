import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { anchorFields } from "../../src/anchor/anchor.js";
import { REGISTRY_ABI, REGISTRY_ARTIFACT } from "../../src/anchor/registry.js";
import { compileRegistry } from "./compile-registry.js";
import { checkpoint, ledgerEnv } from "./helpers.js";

describe("AnchorRegistry artifact", () => {
  it("matches a fresh solc-js compilation of the committed source", () => {
    const fresh = compileRegistry();
    assert.equal(fresh.compiler.version, REGISTRY_ARTIFACT.compiler.version);
    assert.deepEqual(fresh.compiler.settings, REGISTRY_ARTIFACT.compiler.settings);
    assert.deepEqual(fresh.abi, REGISTRY_ARTIFACT.abi);
    assert.equal(fresh.bytecode, REGISTRY_ARTIFACT.bytecode);
    assert.equal(fresh.deployedBytecode, REGISTRY_ARTIFACT.deployedBytecode);
  });

  it("exposes a typed ABI equal to the artifact's", () => {
    const norm = (abi: readonly unknown[]) =>
      JSON.stringify([...abi].map((x) => JSON.stringify(x, Object.keys(x as object).sort())).sort());
    assert.equal(norm(REGISTRY_ABI), norm(REGISTRY_ARTIFACT.abi));
  });

  it("anchors within 50k gas, storage included, and only lets tree sizes grow", async () => {
    const env = await ledgerEnv();
    try {
      const { ledger } = env;
      const gas: bigint[] = [];
      for (const n of [10, 20, 30]) {
        const f = anchorFields(checkpoint(n, "gas"));
        const { nonce } = { nonce: (await ledger.nonces()).pending };
        const signed = await ledger.sign(f, nonce, await ledger.suggestFees());
        assert.equal(await ledger.broadcast(signed.raw), "accepted");
        const r = await ledger.client.getTransactionReceipt({ hash: signed.hash });
        assert.equal(r.status, "success");
        gas.push(r.gasUsed);
        assert.equal((await ledger.latestOnChain(f.logId)).treeSize, BigInt(n));
      }
      assert.ok(gas[0]! <= 50_000n, `first anchor used ${gas[0]} gas`);
      assert.ok(gas[1]! <= 35_000n, `later anchor used ${gas[1]} gas`);
      await assert.rejects(ledger.simulate(anchorFields(checkpoint(30, "gas-again"))), {
        reason: "not_growing",
      });
    } finally {
      await env.close();
    }
  });
});
