import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AnchorError } from "../../src/anchor/anchor.js";
import { ANVIL_KEYS, type AnvilNode, startAnvil, writeKeyFile } from "../../src/anchor/anvil.js";
import { EvmLedger, type EvmLedgerConfig } from "../../src/anchor/evm-ledger.js";
import { GatewayError } from "../../src/errors.js";
import { tempDir } from "./helpers.js";

describe("EvmLedger.connect", () => {
  let node: AnvilNode;
  let t: ReturnType<typeof tempDir>;
  let config: EvmLedgerConfig;
  before(async () => {
    node = await startAnvil();
    t = tempDir();
    config = {
      rpcUrl: node.rpcUrl,
      chainId: node.chainId,
      contract: node.registry!,
      keyFile: writeKeyFile(t.dir, ANVIL_KEYS[1]!),
      finality: { kind: "confirmations", confirmations: 2 },
      rpcTimeoutMs: 2000,
    };
  });
  after(async () => {
    await node.stop();
    t.cleanup();
  });

  it("connects to the configured chain", async () => {
    const ledger = await EvmLedger.connect(config);
    assert.match(ledger.name, new RegExp(`^evm:${node.chainId}:`));
  });

  it("refuses a chain id other than configured, for good", async () => {
    await assert.rejects(EvmLedger.connect({ ...config, chainId: 1 }), (err: unknown) => {
      assert.ok(err instanceof AnchorError);
      assert.equal(err.reason, "chain_id_mismatch");
      assert.equal(err.retryable, false);
      return true;
    });
  });

  it("refuses a world- or group-readable key file and a missing one", async () => {
    const loose = join(t.dir, "loose.key");
    writeFileSync(loose, `${ANVIL_KEYS[1]}\n`);
    chmodSync(loose, 0o644);
    await assert.rejects(EvmLedger.connect({ ...config, keyFile: loose }), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, "KEY_FILE_INSECURE");
      return true;
    });
    await assert.rejects(
      EvmLedger.connect({ ...config, keyFile: join(t.dir, "nope.key") }),
      (err: unknown) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.code, "KEY_FILE_MISSING");
        return true;
      },
    );
  });
});
