import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { errorText, type Health } from "./health.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";

/**
 * Loopback HTTP for operators, read-only; bind it to loopback only.
 *
 * - `GET /healthz`: 200 `ok` while every health check passes, else 503 with one `check: problem` line per
 *   failing check (JSON `{ status, problems }` when the request accepts `application/json`).
 * - `GET /metrics`: the Prometheus text exposition; 500 with the reason when collecting fails.
 * - `GET /status`: JSON from the gateway's status function (`vitalog status`); the function MUST NOT throw
 *   (each part guards its own), and a throw anyway answers 500 instead of breaking the server.
 */
export class AdminServer {
  readonly #server: Server;
  readonly #log: Logger;

  constructor(deps: { metrics: Metrics; health: Health; status: () => unknown; log: Logger }) {
    this.#log = deps.log;
    this.#server = createServer((req, res) => {
      this.#handle(req, res, deps).catch((err) => {
        this.#log.error({ err, url: req.url }, "admin request failed");
        if (!res.headersSent) text(res, 500, `${errorText(err)}\n`);
        else res.destroy();
      });
    });
  }

  async #handle(
    req: IncomingMessage,
    res: ServerResponse,
    deps: { metrics: Metrics; health: Health; status: () => unknown },
  ): Promise<void> {
    if (req.method !== "GET") {
      res.writeHead(405, { allow: "GET" }).end();
      return;
    }
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      const report = deps.health.report();
      const code = report.status === "ok" ? 200 : 503;
      if (req.headers.accept?.includes("application/json")) json(res, code, report);
      else if (report.status === "ok") text(res, code, "ok\n");
      else text(res, code, report.problems.map((p) => `${p.check}: ${p.problem}\n`).join(""));
    } else if (path === "/metrics") {
      let body: string;
      try {
        body = await deps.metrics.exposition();
      } catch (err) {
        this.#log.error({ err }, "metrics collection failed");
        text(res, 500, `metrics collection failed: ${errorText(err)}\n`);
        return;
      }
      res.writeHead(200, { "content-type": deps.metrics.contentType }).end(body);
    } else if (path === "/status") {
      json(res, 200, deps.status());
    } else {
      res.writeHead(404).end();
    }
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

function text(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { "content-type": "text/plain; charset=utf-8" }).end(body);
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "content-type": "application/json" }).end(`${JSON.stringify(body, null, 2)}\n`);
}
