import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { Hex } from "viem";
import { ANVIL_KEYS, type AnvilNode, startAnvil, writeKeyFile } from "../../src/anchor/anvil.js";
import { waitExit } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";
import {
  anchoredEvents,
  eventually,
  type GatewayStatus,
  gatewayStatus,
  publishReadings,
  query,
  startAnchorGateway,
  storedCheckpoints,
} from "./gateway-helpers.js";

/**
 * SIGKILL of a `vitalog run` child while its anchor is QUEUED, SENT, MINED and FINAL. anvil runs with
 * mining off, so each state holds until the test mines a block (or restarts the ledger).
 */
describe("anchoring survives SIGKILL of the gateway in every state", () => {
  const dir = tempDir("vitalog-anchor-crash-");
  const statePath = join(dir, "anvil-state.json");
  let node: AnvilNode | undefined;
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("neither anchors a checkpoint twice nor loses one, and the newest checkpoint ends FINAL", async () => {
    node = await startAnvil({ isNoMining: true, statePath });
    const { port, registry } = node;
    await node.stop(); // the gateway's first life sees no ledger: its anchor stays QUEUED
    const args = {
      rpcUrl: `http://127.0.0.1:${port}`,
      contract: registry!,
      keyFile: writeKeyFile(dir, ANVIL_KEYS[1]!),
    };
    // each life binds MQTT on port 0 and a fresh admin port, read back from its "ready" line
    let adminPort = 0;
    const status = () => gatewayStatus(adminPort);
    const isTreeCheckpointed = (s: GatewayStatus) =>
      s.tlog.checkpoint_size > 0 && s.tlog.checkpoint_size === s.tlog.tree_size;
    const inState = (state: string) => (s: GatewayStatus) =>
      isTreeCheckpointed(s) && s.anchor.pending?.state === state;
    const mine = (n = 1) => node!.rpc("anvil_mine", [`0x${n.toString(16)}`]);
    /** Runs one gateway life until `until` holds, then SIGKILLs it. */
    const life = async (
      what: string,
      until: (s: GatewayStatus) => boolean,
      act = async (_mqttPort: number) => {},
    ) => {
      const { child, mqttPort, adminPort: bound } = await startAnchorGateway(dir, args);
      adminPort = bound;
      try {
        await act(mqttPort);
        return await eventually(status, until, what);
      } finally {
        child.kill("SIGKILL");
        assert.equal((await waitExit(child)).signal, "SIGKILL");
      }
    };

    // 1. QUEUED: ledger unreachable; readings and checkpoints go on
    const queued = await life("QUEUED", inState("queued"), (mqttPort) => publishReadings(mqttPort, 0, 10));
    const firstSize = Number(queued.anchor.pending!.tree_size);
    assert.equal(queued.readings_accepted, 10);

    // 2. SENT: ledger back with mining off; the transaction waits in the pool
    node = await startAnvil({ port, statePath, isNoMining: true, isRegistryDeployed: false });
    const sent = await life("SENT", inState("sent"));
    assert.equal(
      sent.anchor.pending!.tree_size,
      String(firstSize),
      "the queued checkpoint survived the kill",
    );
    const account = (sent.anchor as unknown as { account: Hex }).account;
    const pendingNonce = () => node!.rpc<Hex>("eth_getTransactionCount", [account, "pending"]);
    await eventually(pendingNonce, (n) => BigInt(n) === 1n, "the anchor transaction in the pool");

    // 3. MINED: mined while the gateway was down; found again after the restart
    await mine();
    const mined = await life("MINED", inState("mined"));
    assert.equal(mined.anchor.pending!.tree_size, String(firstSize));

    // 4. FINAL: one confirmation later
    await mine();
    const final = await life(
      "FINAL",
      (s) => isTreeCheckpointed(s) && s.anchor.pending === null && s.anchor.last_final !== null,
    );
    assert.equal(final.anchor.last_final!.tree_size, String(firstSize));

    // 5. after the kill in FINAL: new readings are anchored as usual
    const { child, mqttPort, adminPort: bound, files } = await startAnchorGateway(dir, args);
    adminPort = bound;
    await publishReadings(mqttPort, 10, 5);
    const settled = await eventually(
      async () => {
        await mine();
        return status();
      },
      (s) =>
        isTreeCheckpointed(s) &&
        s.readings_accepted === 5 &&
        s.anchor.pending === null &&
        s.anchor.last_final?.tree_size === String(s.tlog.checkpoint_size),
      "the newest checkpoint FINAL",
    );
    child.kill("SIGTERM");
    assert.equal((await waitExit(child)).code, 0);

    const events = await anchoredEvents(node);
    const hashes = events.map((e) => e.checkpointHash);
    assert.equal(new Set(hashes).size, hashes.length, "no checkpoint anchored twice");
    assert.equal(
      Number(BigInt(await node.rpc<Hex>("eth_getTransactionCount", [account, "latest"]))),
      events.length,
      "every transaction of the gateway anchored a distinct checkpoint",
    );
    const cps = storedCheckpoints(files.dbPath);
    const first = cps.find((c) => c.size === firstSize)!;
    const newest = cps.at(-1)!;
    assert.equal(newest.size, settled.tlog.checkpoint_size);
    assert.deepEqual(
      events.filter((e) => e.checkpointHash === first.hash).map((e) => e.treeSize),
      [BigInt(firstSize)],
    );
    assert.deepEqual(
      events.filter((e) => e.checkpointHash === newest.hash).map((e) => e.treeSize),
      [BigInt(newest.size)],
    );
    const states = query<{ tree_size: number; state: string }>(
      files.dbPath,
      "SELECT tree_size, state FROM anchor_items WHERE tree_size IN (?, ?) ORDER BY tree_size",
      firstSize,
      newest.size,
    );
    assert.deepEqual(
      states.map((r) => r.state),
      ["final", "final"],
    );
  });
});
