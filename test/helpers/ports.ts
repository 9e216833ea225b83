/**
 * Ports in tests, where several test files run at once. Every server a test starts (MQTT, webhook and MLLP
 * receivers, anvil) MUST listen on port 0 and be asked for the port it bound. Two cases cannot:
 *
 * - The admin HTTP, whose `admin.port: 0` means "off" (an operator contract: README, threat model). A
 *   port the kernel just handed out and took back is only likely to be free, so {@link withFreshPort}
 *   retries the start with another one when it fails with EADDRINUSE.
 * - A server restarted on its own port after a simulated outage (its clients were configured with it).
 *   Another process may take the port meanwhile, so {@link listenAgain} waits a bounded time for it and
 *   then fails saying so.
 */
import { createServer, type Server } from "node:net";

/** How long a restart waits for its port to come back before failing. */
export const RELISTEN_WAIT_MS = 10_000;

/** Whether `err` says the address was in use: a listen error, or a child's output carried in the message. */
export function isAddressInUse(err: unknown): boolean {
  if ((err as { code?: unknown } | null)?.code === "EADDRINUSE") return true;
  return err instanceof Error && /EADDRINUSE|address already in use/i.test(err.message);
}

/** A loopback port the kernel chose for an ephemeral bind, released again: a candidate, not a reservation. */
function candidatePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

/**
 * Runs `start(port)` with a fresh candidate port, again with another one while it fails with EADDRINUSE
 * (at most `attempts` times); any other failure is thrown at once.
 */
export async function withFreshPort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await candidatePort();
    try {
      return await start(port);
    } catch (err) {
      if (!isAddressInUse(err) || attempt >= attempts) throw err;
    }
  }
}

/**
 * Listens on 127.0.0.1:`port` again after an outage: while another process holds the port (EADDRINUSE),
 * tries again every 100 ms for at most `waitMs`, then fails naming the port and `what`.
 */
export async function listenAgain(
  server: Server,
  port: number,
  what: string,
  waitMs = RELISTEN_WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await new Promise<void>((res, rej) => {
        server.once("error", rej);
        server.listen(port, "127.0.0.1", () => {
          server.off("error", rej);
          res();
        });
      });
      return;
    } catch (err) {
      if (!isAddressInUse(err)) throw err;
      if (Date.now() >= deadline)
        throw new Error(
          `${what}: 127.0.0.1:${port} was still taken by another process after ${waitMs} ms, so it cannot come back on its port`,
          { cause: err },
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
