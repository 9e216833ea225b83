import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";

/**
 * Loopback HTTP for operators: GET /healthz, /metrics (Prometheus text), /status (JSON from the
 * gateway's status function). Read-only; bind it to loopback only.
 */
export class AdminServer {
  readonly #server: Server;
  readonly #log: Logger;

  constructor(deps: { metrics: Metrics; status: () => unknown; log: Logger }) {
    this.#log = deps.log;
    this.#server = createServer((req, res) => {
      if (req.method !== "GET") {
        res.writeHead(405).end();
        return;
      }
      if (req.url === "/healthz") {
        res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      } else if (req.url === "/metrics") {
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(deps.metrics.toPrometheus());
      } else if (req.url === "/status") {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(`${JSON.stringify(deps.status(), null, 2)}\n`);
      } else {
        res.writeHead(404).end();
      }
    });
  }

  async start(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, host, () => resolve());
    });
    const bound = (this.#server.address() as AddressInfo).port;
    this.#log.info({ host, port: bound }, "admin http listening");
    return bound;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections?.();
      this.#server.close(() => resolve());
    });
  }
}
