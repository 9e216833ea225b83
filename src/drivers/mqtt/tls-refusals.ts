/**
 * Why a TLS handshake on the MQTT listener ended without a connection, as a bounded refusal reason (counted
 * in `vitalog_mqtt_refusals_total`, like every refusal before authentication).
 *
 * Node reports each such end once, on the server's `tlsClientError` event, in one of these shapes (Node 20,
 * OpenSSL 3; a test makes each happen against the real listener):
 * - with `rejectUnauthorized`, a client certificate that does not chain to the CA: the server closes the
 *   socket itself, so the event carries a plain ECONNRESET, and the socket its `authorizationError`
 *   (e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE);
 * - no client certificate while one is required: OpenSSL's "peer did not return a certificate"
 *   ([RFC 8446 §4.4.2.4] the server aborts with certificate_required; TLS 1.2 with handshake_failure);
 * - the handshake not done within `handshakeTimeout`: ERR_TLS_HANDSHAKE_TIMEOUT;
 * - the client leaving mid-handshake (a port scan, or a client refusing the gateway's certificate): ECONNRESET;
 * - anything else OpenSSL refuses (not TLS at all, no common version or cipher): an ERR_SSL_* code.
 */
import type { TLSSocket } from "node:tls";

/** Refusal reasons of a TLS handshake. Wire strings: add, never rename. */
export type TlsRefusal =
  | "certificate_untrusted"
  | "certificate_missing"
  | "tls_handshake_timeout"
  | "tls_handshake_aborted"
  | "tls_handshake_failed";

/** The reason for a `tlsClientError` of the TLS server (`err`) on its socket. */
export function tlsHandshakeRefusal(err: Error, socket: TLSSocket): TlsRefusal {
  const code = (err as NodeJS.ErrnoException).code;
  // set only when a certificate was presented and did not verify (never for a missing one)
  if (socket.authorizationError) return "certificate_untrusted";
  if (code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE") return "certificate_missing";
  if (code === "ERR_TLS_HANDSHAKE_TIMEOUT") return "tls_handshake_timeout";
  if (code === "ECONNRESET") return "tls_handshake_aborted";
  return "tls_handshake_failed";
}
