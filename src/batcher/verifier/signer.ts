/**
 * Note signers and verifiers: the `Signer` contract and its Ed25519 implementation (C2SP signed-note
 * signature type 0x01), with the vkey / skey string forms. Verification is browser-safe (@noble only).
 */
import * as ed from "@noble/ed25519";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { assertBytes, assertString } from "./assert.js";
import { base64Decode, base64Encode } from "./base64.js";

// @noble/ed25519 v3 needs a synchronous SHA-512 for sign/verify/getPublicKey.
ed.hashes.sha512 = sha512;

/** [C2SP signed-note §Signature types] Ed25519 over the note text. */
export const SIG_TYPE_ED25519 = 0x01;

/**
 * Signs note texts under one key name.
 *
 * Contract:
 * - `name` MUST be a valid key name (non-empty, no Unicode spaces, no `+`) and `keyId` MUST be the
 *   C2SP key ID of this key: SHA-256(name || 0x0A || type || public key)[:4] as a uint32.
 * - `sign(message)` MUST return the raw signature over exactly `message` (the note text including its final
 *   newline), without the 4-byte key ID; it MUST be synchronous and MUST NOT mutate `message`.
 * - `sign` MUST either return a valid signature or throw; it MUST NOT return an empty or partial value.
 *   A throw is an integrity failure: the caller stops signing checkpoints and reports it loudly.
 * - Implementations MUST NOT log or expose private key material.
 */
export interface Signer {
  readonly name: string;
  readonly keyId: number;
  sign(message: Uint8Array): Uint8Array;
}

/**
 * Verifies signatures of one (name, key ID) pair.
 *
 * Contract: `verify` MUST be a pure function of its inputs, MUST return false (never throw) for a
 * malformed or wrong signature, and MUST NOT depend on Node-only APIs (it runs in browsers).
 */
export interface Verifier {
  readonly name: string;
  readonly keyId: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

// Unicode White_Space (as Go's unicode.IsSpace), plus "+".
const FORBIDDEN_IN_NAME = /[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000+]/;

/** [C2SP signed-note] Key names are non-empty and contain no Unicode spaces and no `+`. */
export function isValidKeyName(name: string): boolean {
  return (
    typeof name === "string" && name.length > 0 && !FORBIDDEN_IN_NAME.test(name) && !hasLoneSurrogate(name)
  );
}

/** True when `text` is not well-formed UTF-16 (so it has no UTF-8 encoding). */
export function hasLoneSurrogate(text: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

/** [C2SP signed-note] key ID = SHA-256(key name || 0x0A || signature type || public key)[:4], big-endian. */
export function computeKeyId(name: string, typeAndKey: Uint8Array): number {
  assertString(name, "name");
  assertBytes(typeAndKey, "typeAndKey");
  const nameBytes = new TextEncoder().encode(name);
  const buf = new Uint8Array(nameBytes.length + 1 + typeAndKey.length);
  buf.set(nameBytes, 0);
  buf[nameBytes.length] = 0x0a;
  buf.set(typeAndKey, nameBytes.length + 1);
  const h = sha256(buf);
  return ((h[0]! << 24) >>> 0) + (h[1]! << 16) + (h[2]! << 8) + h[3]!;
}

/** Key ID as the 8 lowercase hex digits used in vkeys. */
export function keyIdHex(keyId: number): string {
  return keyId.toString(16).padStart(8, "0");
}

function typeAndKey(publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(33);
  out[0] = SIG_TYPE_ED25519;
  out.set(publicKey, 1);
  return out;
}

/** Ed25519 verifier (RFC 8032) for one key name. Pure @noble code: safe in browsers. */
export class Ed25519Verifier implements Verifier {
  readonly name: string;
  readonly keyId: number;
  readonly publicKey: Uint8Array;

  constructor(name: string, publicKey: Uint8Array) {
    if (!isValidKeyName(name)) throw new RangeError(`invalid key name: ${JSON.stringify(name)}`);
    assertBytes(publicKey, "publicKey", 32);
    this.name = name;
    this.publicKey = publicKey.slice();
    this.keyId = computeKeyId(name, typeAndKey(publicKey));
  }

  verify(message: Uint8Array, signature: Uint8Array): boolean {
    if (!(message instanceof Uint8Array) || !(signature instanceof Uint8Array) || signature.length !== 64) {
      return false;
    }
    try {
      // zip215: false = the library's strict RFC 8032 branch, not the more permissive ZIP-215 rules.
      return ed.verify(signature, message, this.publicKey, { zip215: false });
    } catch {
      return false;
    }
  }

  /** The vkey string `<name>+<hex key ID>+<base64(0x01 || public key)>`. */
  toVkey(): string {
    return `${this.name}+${keyIdHex(this.keyId)}+${base64Encode(typeAndKey(this.publicKey))}`;
  }
}

/** Ed25519 signer (RFC 8032, deterministic): identical bytes in Node and browsers. */
export class Ed25519Signer implements Signer {
  readonly name: string;
  readonly keyId: number;
  readonly publicKey: Uint8Array;
  readonly #seed: Uint8Array;

  /** @param seed the 32-byte RFC 8032 private key (seed). */
  constructor(name: string, seed: Uint8Array) {
    assertBytes(seed, "seed", 32);
    this.#seed = seed.slice();
    this.publicKey = ed.getPublicKey(this.#seed);
    const verifier = new Ed25519Verifier(name, this.publicKey);
    this.name = verifier.name;
    this.keyId = verifier.keyId;
  }

  /** A signer with a fresh random key (crypto.getRandomValues). */
  static generate(name: string): Ed25519Signer {
    return new Ed25519Signer(name, ed.utils.randomSecretKey());
  }

  sign(message: Uint8Array): Uint8Array {
    assertBytes(message, "message");
    return ed.sign(message, this.#seed);
  }

  verifier(): Ed25519Verifier {
    return new Ed25519Verifier(this.name, this.publicKey);
  }

  /** Go `golang.org/x/mod/sumdb/note` private key string: `PRIVATE+KEY+<name>+<hex id>+<base64(0x01||seed)>`. */
  toSkey(): string {
    const body = new Uint8Array(33);
    body[0] = SIG_TYPE_ED25519;
    body.set(this.#seed, 1);
    return `PRIVATE+KEY+${this.name}+${keyIdHex(this.keyId)}+${base64Encode(body)}`;
  }

  toJSON(): { name: string; keyId: string } {
    return { name: this.name, keyId: keyIdHex(this.keyId) }; // never the seed
  }
}

function splitKey(text: string, what: string): [name: string, idHex: string, body: Uint8Array] {
  // <name>+<id>+<base64>: names contain no "+", but standard base64 may.
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new SyntaxError(`malformed ${what}`);
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  const b64 = text.slice(second + 1);
  if (!isValidKeyName(name)) throw new SyntaxError(`malformed ${what}: invalid key name`);
  if (!/^[0-9a-f]{8}$/.test(idHex))
    throw new SyntaxError(`malformed ${what}: key ID must be 8 lowercase hex digits`);
  const body = base64Decode(b64);
  if (body.length !== 33 || body[0] !== SIG_TYPE_ED25519) {
    throw new SyntaxError(`malformed ${what}: expected an Ed25519 (0x01) key`);
  }
  return [name, idHex, body];
}

/**
 * Parses a vkey `<name>+<hex key ID>+<base64(0x01 || 32-byte public key)>`.
 * @throws SyntaxError when malformed, not Ed25519, or the key ID does not match name and key.
 */
export function parseVkey(vkey: string): Ed25519Verifier {
  assertString(vkey, "vkey");
  const [name, idHex, body] = splitKey(vkey, "vkey");
  const verifier = new Ed25519Verifier(name, body.subarray(1));
  if (keyIdHex(verifier.keyId) !== idHex) throw new SyntaxError("vkey key ID does not match name and key");
  return verifier;
}

/**
 * Parses a Go-style skey `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>`.
 * @throws SyntaxError when malformed or the key ID does not match.
 */
export function parseSkey(skey: string): Ed25519Signer {
  assertString(skey, "skey");
  if (!skey.startsWith("PRIVATE+KEY+")) throw new SyntaxError("malformed skey");
  const [name, idHex, body] = splitKey(skey.slice("PRIVATE+KEY+".length), "skey");
  const signer = new Ed25519Signer(name, body.slice(1));
  if (keyIdHex(signer.keyId) !== idHex) throw new SyntaxError("skey key ID does not match name and key");
  return signer;
}
