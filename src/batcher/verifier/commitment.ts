/**
 * Salted commitments: the 32-byte log entries. Browser-safe (@noble/hashes); the gateway's hot path
 * computes the same bytes with node:crypto (record-crypto.ts), pinned equal by the tests.
 *
 *   entry    = SHA-256(ENTRY_DOMAIN || 0x00 || salt[32] || record)      (reference §7, §10.2)
 *   leafHash = SHA-256(0x00 || entry)                                   [RFC 9162 §2.1.1]
 *
 * The salt is 256 random bits per entry and is never published: without the opening (record, salt)
 * an entry hides a low-entropy vital sign; with it, the entry binds the exact record bytes.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { assertBytes } from "./assert.js";

/** Domain-separation string of entry commitments (followed by one 0x00 byte). */
export const ENTRY_DOMAIN = "vitalog/tlog-entry/v1";

/** Salt length in bytes (256 bits). */
export const SALT_BYTES = 32;

/** `ENTRY_DOMAIN || 0x00`, the fixed prefix of every commitment pre-image. */
export const ENTRY_PREFIX: Uint8Array = (() => {
  const d = new TextEncoder().encode(ENTRY_DOMAIN);
  const out = new Uint8Array(d.length + 1);
  out.set(d, 0);
  return out;
})();

/** The commitment pre-image `ENTRY_PREFIX || salt || record`. */
export function commitmentPreimage(salt: Uint8Array, record: Uint8Array): Uint8Array {
  assertBytes(salt, "salt", SALT_BYTES);
  assertBytes(record, "record");
  const out = new Uint8Array(ENTRY_PREFIX.length + SALT_BYTES + record.length);
  out.set(ENTRY_PREFIX, 0);
  out.set(salt, ENTRY_PREFIX.length);
  out.set(record, ENTRY_PREFIX.length + SALT_BYTES);
  return out;
}

/** The log entry (32 bytes) committing to `record` under `salt`. */
export function commitEntry(salt: Uint8Array, record: Uint8Array): Uint8Array {
  return sha256(commitmentPreimage(salt, record));
}
