/**
 * anvil brought back on its own port after a simulated ledger outage, while another process holds that port
 * (a test file running at the same time may bind it during the outage): the restart waits a bounded time
 * for the port and then fails saying so.
 */
import assert from "node:assert/strict";
import { type AddressInfo, createServer, type Server } from "node:net";
import { describe, it } from "node:test";
import type { Hex } from "viem";
import { startAnvil } from "../../src/anchor/anvil.js";

/** Holds a loopback port as another process would (the port the ledger had before its outage). */
async function hold(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { server, port: (server.address() as AddressInfo).port };
}

const close = (server: Server) => new Promise<void>((r) => server.close(() => r()));

describe("anvil restarted on its port after an outage", () => {
  it("waits while another process holds the port, then comes back there", async () => {
    const holder = await hold();
    const released = new Promise<void>((r) => setTimeout(() => r(close(holder.server)), 600));
    const node = await startAnvil({ port: holder.port, portWaitMs: 10_000 });
    try {
      await released;
      assert.equal(node.port, holder.port);
      const code = await node.rpc<Hex>("eth_getCode", [node.registry, "latest"]);
      assert.ok(code.length > 2, "and answers there: the registry is deployed");
    } finally {
      await node.stop();
    }
  });

  it("fails, naming the port, when it stays taken past the wait", async () => {
    const holder = await hold();
    try {
      await assert.rejects(
        startAnvil({ port: holder.port, isRegistryDeployed: false, portWaitMs: 500 }),
        (err: unknown) =>
          err instanceof Error &&
          err.message ===
            `anvil cannot listen on 127.0.0.1:${holder.port} again: another process still held the port after 500 ms`,
      );
    } finally {
      await close(holder.server);
    }
  });
});
