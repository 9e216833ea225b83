import assert from "node:assert/strict";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { startAnvil } from "../../src/anchor/anvil.js";
import { checkpoint, sentCount, tempDir } from "./helpers.js";
import { closeOpenFixtures, driveTo, type Fixture, fixture } from "./publisher-fixture.js";

afterEach(closeOpenFixtures);

async function txCount(f: Fixture): Promise<number> {
  return sentCount(f.env.node, f.env.ledger.address);
}

describe("Publisher recovery", () => {
  it("keeps one pending item during a ledger outage and catches up with one transaction for the newest", async () => {
    const t = tempDir();
    const statePath = join(t.dir, "anvil-state.json");
    const f = await fixture({ statePath });
    const first = checkpoint(1000, "before-outage");
    f.p.offer(first);
    await driveTo(f, first, "final");
    const port = f.env.node.port;
    await f.env.node.stop(); // ledger down (state dumped for the restart)
    const during = [1010, 1020, 1030, 1040, 1050].map((n) => checkpoint(n, "outage"));
    const t0 = f.clock.now();
    for (const cp of during) {
      assert.equal(f.p.offer(cp), true, "offer never blocks or throws");
      await f.p.tick(); // must not reject
      f.clock.advance(60_000);
    }
    const status = f.p.status();
    assert.equal(status.last_error?.reason, "ledger_unreachable");
    assert.equal(status.counts.queued, 1);
    assert.equal(status.counts.superseded, 4);
    assert.equal(status.pending?.tree_size, "1050");
    assert.ok(status.pending_since_ms !== null && status.pending_since_ms >= t0);
    f.env.node = await startAnvil({ port, statePath, isRegistryDeployed: false });
    const before = await txCount(f);
    const newest = during.at(-1)!;
    await driveTo(f, newest, "final");
    assert.equal(await txCount(f), before + 1, "one transaction carries the newest checkpoint");
    for (const cp of during.slice(0, -1)) assert.equal(f.stateOf(cp), "superseded");
    assert.equal((await f.anchoredEvents(newest)).length, 1);
    assert.equal(f.p.status().last_error, null);
    await f.close();
    t.cleanup();
  });

  const restartCases: {
    name: string;
    to: (f: Fixture, cp: ReturnType<typeof checkpoint>) => Promise<void>;
  }[] = [
    { name: "QUEUED", to: async () => undefined },
    {
      name: "SENT before the broadcast reached the node",
      to: async (f, cp) => {
        await f.env.node.rpc("evm_setAutomine", [false]);
        await f.p.tick();
        assert.equal(f.stateOf(cp), "sent");
        const item = f.p.store.byHash(f.p.store.inState("sent")[0]!.checkpointHash)!;
        await f.env.node.rpc("anvil_dropTransaction", [f.p.store.txsOfItem(item.id)[0]!.txHash]);
        await f.env.node.rpc("evm_setAutomine", [true]);
      },
    },
    {
      name: "SENT and mined while the gateway was down",
      to: async (f, cp) => {
        await f.p.tick();
        assert.equal(f.stateOf(cp), "sent");
      },
    },
    { name: "MINED", to: (f, cp) => driveTo(f, cp, "mined") },
    { name: "FINAL", to: (f, cp) => driveTo(f, cp, "final") },
  ];

  for (const c of restartCases) {
    it(`restarts in ${c.name} without double anchoring or losing the checkpoint`, async () => {
      const f = await fixture();
      const cp = checkpoint(2000, c.name);
      const before = await txCount(f);
      f.p.offer(cp);
      await c.to(f, cp);
      await f.restart();
      f.p.offer(cp); // the batcher re-offers its latest checkpoint after a restart
      await driveTo(f, cp, "final");
      assert.equal(await txCount(f), before + 1);
      assert.equal((await f.anchoredEvents(cp)).length, 1);
      await f.close();
    });
  }
});
