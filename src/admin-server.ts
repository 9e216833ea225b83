import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, isIP } from "node:net";
import { type Config, isLoopbackHost, readSecretFile } from "./config.js";
import { GatewayError } from "./errors.js";
import { errorText, type Health } from "./health.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";

/** Who may use the admin HTTP. */
export interface AdminAccess {
  /** When set, every request must carry `Authorization: Bearer <token>`, whatever its source address. */
  readonly token?: string;
  /** Names a request may give in `Host` besides loopback ones and the bound host (`admin.allowedHosts`). */
  readonly allowedHosts?: readonly string[];
}

/** The access rules of the `admin` config slice; reads the token file (checked by parseConfig). */
export function adminAccessOf(config: Config["admin"]): AdminAccess {
  return {
    ...(config.tokenFile !== undefined ? { token: readSecretFile(config.tokenFile).trim() } : {}),
    allowedHosts: config.allowedHosts,
  };
}

/** Refusal reasons of the admin HTTP. Wire strings: add, never rename. */
type AdminRefusal = "host_not_allowed" | "token_missing" | "token_invalid";

/**
 * Operator HTTP, read-only; loopback by default.
 *
 * - `GET /healthz`: 200 `ok` while every health check passes, else 503 with one `check: problem` line per
 *   failing check (JSON `{ status, problems }` when the request accepts `application/json`).
 * - `GET /metrics`: the Prometheus text exposition; 500 with the reason when collecting fails.
 * - `GET /status`: JSON from the gateway's status function (`vitalog status`); the function MUST NOT throw
 *   (each part guards its own), and a throw anyway answers 500 instead of breaking the server.
 *
 * Before any of these, whatever the bound address:
 * - `Host` must name loopback (`localhost`, 127.0.0.0/8, ::1), the bound host, or one of `allowedHosts`,
 *   else 421 (`host_not_allowed`): a web page that re-binds its own DNS name to this gateway's address
 *   (DNS rebinding) still sends its own name, so a browser on the ward cannot be made to read it.
 * - With a token, `Authorization: Bearer <token>` must match it (compared in constant time), else 401
 *   (`token_missing`, `token_invalid`). `start` refuses a non-loopback address without a token.
 * Each refusal is counted in `vitalog_admin_refusals_total{reason}`.
 */
export class AdminServer {
  readonly #server: Server;
  readonly #log: Logger;
  readonly #tokenDigest: Buffer | undefined;
  /** Normalised names `Host` may give besides loopback ones. */
  readonly #allowedHosts: Set<string>;
  readonly #refusals: (labels: { reason: AdminRefusal }) => void;

  constructor(deps: {
    metrics: Metrics;
    health: Health;
    status: () => unknown;
    log: Logger;
    /** Omitted: loopback `Host` names only, no token (and so loopback addresses only). */
    access?: AdminAccess;
  }) {
    this.#log = deps.log;
    const token = deps.access?.token;
    if (token !== undefined && token.length === 0) throw new RangeError("admin token is empty");
    this.#tokenDigest = token === undefined ? undefined : digest(token);
    this.#allowedHosts = new Set((deps.access?.allowedHosts ?? []).map(normaliseHost));
    this.#refusals = deps.metrics.counter(
      "vitalog_admin_refusals_total",
      "Admin HTTP requests refused before any handler, per reason",
    );
    this.#server = createServer((req, res) => {
      const refusal = this.#refusal(req);
      if (refusal !== undefined) {
        this.#refuse(req, res, refusal);
        return;
      }
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

  /** Why a request is refused before any handler sees it, or undefined when it may go on. */
  #refusal(req: IncomingMessage): AdminRefusal | undefined {
    const name = hostOf(req.headers.host);
    if (name === undefined || !(isLoopbackHost(name) || this.#allowedHosts.has(name)))
      return "host_not_allowed";
    if (this.#tokenDigest === undefined) return undefined;
    const presented = bearerToken(req.headers.authorization);
    if (presented === undefined) return "token_missing";
    // equal-length digests compared in constant time: neither the token nor its length leaks by timing
    return timingSafeEqual(digest(presented), this.#tokenDigest) ? undefined : "token_invalid";
  }

  #refuse(req: IncomingMessage, res: ServerResponse, reason: AdminRefusal): void {
    this.#refusals({ reason });
    this.#log.warn({ reason, remote: req.socket.remoteAddress }, "admin request refused");
    if (reason === "host_not_allowed") {
      // [RFC 9110 §15.5.20] 421: this server does not answer for the authority the request names
      text(res, 421, "host not allowed\n");
      return;
    }
    // [RFC 6750 §3] a missing token gets the bare challenge; a wrong one says invalid_token
    const challenge =
      reason === "token_invalid" ? 'Bearer realm="vitalog", error="invalid_token"' : 'Bearer realm="vitalog"';
    res.writeHead(401, { "www-authenticate": challenge, "content-type": "text/plain; charset=utf-8" });
    res.end("unauthorized\n");
  }

  /**
   * Listens on `host`; a host that is not loopback is refused without a token (the config check says so
   * first, with exit 78). The bound host is a name `Host` may give, unless it is a wildcard address.
   */
  async start(port: number, host: string): Promise<number> {
    if (!isLoopbackHost(host) && this.#tokenDigest === undefined) {
      throw new GatewayError(
        "CONFIG_INVALID",
        `admin.host ${host} is not loopback: the admin HTTP requires admin.tokenFile there`,
      );
    }
    const name = normaliseHost(host);
    if (!isWildcardAddress(name)) this.#allowedHosts.add(name);
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

function digest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** [RFC 6750 §2.1] `Authorization: Bearer <b64token>`; the scheme is case-insensitive [RFC 9110 §11.1]. */
function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  return m?.[1];
}

/** The host of a `Host` header without its port, normalised; undefined when absent or malformed. */
function hostOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  // [RFC 9110 §7.2] Host = uri-host [ ":" port ]; an IPv6 literal is bracketed [RFC 3986 §3.2.2]
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+)(?::\d{0,5})?$/.exec(header.trim());
  return m ? normaliseHost(m[1]!) : undefined;
}

/** Lower case, without IPv6 brackets or a trailing dot (`localhost.` names the same host). */
function normaliseHost(host: string): string {
  return host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/\.$/, "");
}

/** 0.0.0.0 or :: (in any spelling): every address, which no request names. */
function isWildcardAddress(host: string): boolean {
  const family = isIP(host);
  return (family === 4 && host === "0.0.0.0") || (family === 6 && /^[0:]+$/.test(host));
}
