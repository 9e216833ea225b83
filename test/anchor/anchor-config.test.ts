import assert from "node:assert/strict";
import { chmodSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { privateKeyToAccount } from "viem/accounts";
import { evmLedgerConfig, publisherConfig } from "../../src/anchor/anchor-config.js";
import { ANVIL_KEYS, startAnvil, writeKeyFile } from "../../src/anchor/anvil.js";
import { parseConfig } from "../../src/config.js";
import { GatewayError } from "../../src/errors.js";
import { startTestGateway, tempDir, waitFor } from "../helpers/gateway.js";

const base = (dir: string, anchor: unknown, extra: Record<string, unknown> = {}) => ({
  gateway: { id: "gw", stateDir: dir },
  anchor,
  ...extra,
});

describe("anchor config slice", () => {
  const dir = tempDir("vitalog-anchor-config-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("is off by default for `vitalog run`", () => {
    const c = parseConfig({ gateway: { id: "gw", stateDir: dir } }, dir);
    assert.equal(c.anchor.enabled, false);
    assert.equal(c.anchor.finality, "finalized");
    assert.equal(c.anchor.anchorIntervalSec, 300);
  });

  it("lists every missing ledger setting at once when enabled (exit 78)", () => {
    try {
      parseConfig(base(dir, { enabled: true }), dir);
      assert.fail("expected CONFIG_INVALID");
    } catch (err) {
      assert.ok(err instanceof GatewayError && err.code === "CONFIG_INVALID");
      assert.equal(err.exitCode, 78);
      const paths = (err.details as { path: string }[]).map((p) => p.path).sort();
      assert.deepEqual(paths, ["anchor.chainId", "anchor.contract", "anchor.keyFile", "anchor.rpcUrl"]);
    }
  });

  it("rejects a bad address, an inline-looking key and unknown keys", () => {
    assert.throws(
      () =>
        parseConfig(
          base(dir, { enabled: false, contract: "0x1234", privateKey: "0xabc", finality: "safe" }),
          dir,
        ),
      (err) => err instanceof GatewayError && (err.details as unknown[]).length === 3,
    );
  });

  it("maps Besu QBFT and Ethereum settings onto the ledger and publisher", () => {
    const c = parseConfig(
      base(dir, {
        enabled: true,
        rpcUrl: "http://besu.local:8545",
        chainId: 1337,
        contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        keyFile: "keys/ledger.key",
        finality: "confirmations",
        confirmations: 0,
        minPriorityFeePerGasGwei: 0,
        maxFeePerGasGwei: 1.5,
        anchorIntervalSec: 60,
      }),
      dir,
    );
    const l = evmLedgerConfig(c.anchor, c.gateway.stateDir);
    assert.deepEqual(l.finality, { kind: "confirmations", confirmations: 0 });
    assert.equal(l.keyFile, join(dir, "keys/ledger.key"));
    assert.equal(l.contract, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
    assert.equal(l.maxFeePerGasCap, 1_500_000_000n);
    assert.equal(l.minPriorityFeePerGas, 0n);
    assert.equal(publisherConfig(c.anchor).anchorIntervalMs, 60_000);
    const eth = parseConfig(
      base(dir, { ...c.anchor, finality: "finalized", keyFile: "/etc/vitalog/ledger.key" }),
      dir,
    );
    assert.deepEqual(evmLedgerConfig(eth.anchor, dir).finality, { kind: "finalized" });
  });
});

describe("createAnchor in the gateway", () => {
  const dir = tempDir("vitalog-anchor-attach-");
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ledger = (keyFile: string, chainId = 31337) => ({
    enabled: true,
    rpcUrl: "http://127.0.0.1:9",
    chainId,
    contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    keyFile,
    outageRetrySec: 0.1,
    rpcTimeoutMs: 500,
  });

  it("refuses anchoring without the tamper-evident log", async () => {
    const keyFile = writeKeyFile(dir, ANVIL_KEYS[1]!);
    await assert.rejects(
      startTestGateway({ tlog: { enabled: false }, anchor: ledger(keyFile) }),
      (err) => err instanceof GatewayError && err.code === "CONFIG_INVALID",
    );
  });

  it("refuses a group-readable ledger key file", async () => {
    const keyFile = writeKeyFile(dir, ANVIL_KEYS[1]!, "loose.key");
    chmodSync(keyFile, 0o640);
    await assert.rejects(
      startTestGateway({ anchor: ledger(keyFile) }),
      (err) => err instanceof GatewayError && err.code === "KEY_FILE_INSECURE",
    );
  });

  it("halts anchoring on a chain id mismatch and keeps ingesting", async () => {
    const node = await startAnvil();
    try {
      const keyFile = writeKeyFile(dir, ANVIL_KEYS[1]!, "mismatch.key");
      const t = await startTestGateway({
        anchor: { ...ledger(keyFile, 1), rpcUrl: node.rpcUrl, contract: node.registry! },
        tlog: { checkpointIntervalSec: 0.1 },
      });
      try {
        const status = () => t.gw.status().anchor as { halted: string | null; connected: boolean };
        await waitFor(() => status().halted !== null, 5000, "halted");
        assert.match(status().halted!, /chain_id_mismatch/);
        assert.equal(status().connected, false);
        assert.equal(t.gw.metrics.value("vitalog_anchor_errors_total", { reason: "chain_id_mismatch" }), 1);
        const pw = await t.provision("dev-1");
        const c = await t.connect("dev-1", pw);
        await c.publishAsync(
          "vitalog/dev/dev-1/senml",
          JSON.stringify([{ bn: "urn:dev:x:dev-1:", bt: 1_763_700_000, n: "hr", u: "beat/min", v: 70 }]),
          { qos: 1 },
        );
        assert.equal(t.gw.store.count(), 1);
        const account = privateKeyToAccount(ANVIL_KEYS[1]!).address;
        assert.equal(await node.rpc("eth_getTransactionCount", [account, "pending"]), "0x0", "nothing sent");
      } finally {
        await t.close();
      }
    } finally {
      await node.stop();
    }
  });
});
