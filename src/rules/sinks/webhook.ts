/**
 * Webhook transport: POSTs each AlertMessage as JSON, signed with HMAC-SHA256.
 *
 * Signature scheme (Stripe-style, documented in docs/alerting.md):
 *   X-Vitalog-Timestamp: <unix seconds>
 *   X-Vitalog-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *   X-Vitalog-Event-Id:  <event_id> (idempotency key; retries carry the same id and body)
 * A receiver recomputes the HMAC over the exact bytes received, compares in constant time, and rejects
 * timestamps more than 5 minutes from its clock (replay window). Every retry is re-signed with a fresh
 * timestamp.
 *
 * 2xx = delivered. 408, 425, 429, 5xx, timeouts and network errors are retried; any other status is a
 * permanent refusal (the message is dead-lettered, the next one proceeds).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { AlertMessage } from "./alert-message.js";
import { DeliveryError } from "./backoff.js";
import type { DeliveryTransport } from "./delivery-queue.js";

export const SIGNATURE_HEADER = "x-vitalog-signature";
export const TIMESTAMP_HEADER = "x-vitalog-timestamp";
export const EVENT_ID_HEADER = "x-vitalog-event-id";

/** `v1=<hex>` over `${timestampSec}.${body}`. */
export function signWebhook(secret: string | Uint8Array, timestampSec: number, body: string): string {
  return `v1=${createHmac("sha256", secret).update(`${timestampSec}.${body}`).digest("hex")}`;
}

/** Receiver-side check (used by tests; copy it into receivers). */
export function verifyWebhook(
  secret: string | Uint8Array,
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: string,
  nowSec: number,
  toleranceSec = 300,
): boolean {
  const ts = Number(headers.timestamp);
  if (!Number.isInteger(ts) || Math.abs(nowSec - ts) > toleranceSec || !headers.signature) return false;
  const expected = Buffer.from(signWebhook(secret, ts, body));
  const got = Buffer.from(headers.signature);
  return expected.length === got.length && timingSafeEqual(expected, got);
}

const RETRYABLE_STATUS = new Set([408, 425, 429]);

export class WebhookTransport implements DeliveryTransport {
  readonly #url: string;
  readonly #secret: string;
  readonly #timeoutMs: number;
  readonly #now: () => number;

  constructor(opts: { url: string; secret: string; timeoutMs: number; now: () => number }) {
    this.#url = opts.url;
    this.#secret = opts.secret;
    this.#timeoutMs = opts.timeoutMs;
    this.#now = opts.now;
  }

  async send(message: AlertMessage, signal: AbortSignal): Promise<void> {
    const body = JSON.stringify(message);
    const ts = Math.floor(this.#now() / 1000);
    let res: Response;
    try {
      res = await fetch(this.#url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "vitalog-alerts/1",
          [TIMESTAMP_HEADER]: String(ts),
          [SIGNATURE_HEADER]: signWebhook(this.#secret, ts, body),
          [EVENT_ID_HEADER]: message.event_id,
        },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]),
        redirect: "error",
      });
    } catch (cause) {
      const reason =
        (cause as Error).name === "TimeoutError" ? "timeout" : String((cause as Error).cause ?? cause);
      throw new DeliveryError(`webhook unreachable: ${reason}`, { cause });
    }
    await res.body?.cancel().catch(() => {});
    if (res.ok) return;
    const permanent = res.status < 500 && !RETRYABLE_STATUS.has(res.status);
    throw new DeliveryError(`webhook answered HTTP ${res.status}`, { permanent });
  }

  async close(): Promise<void> {}

  status(): Record<string, unknown> {
    return { url: redactUrl(this.#url) };
  }
}

function redactUrl(url: string): string {
  const u = new URL(url);
  u.username = "";
  u.password = "";
  u.search = u.search ? "?…" : "";
  return u.toString();
}
