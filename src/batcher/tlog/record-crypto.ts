/**
 * Node-side crypto of the log's hot path: AES-256-GCM sealing of records and wrapping of subject
 * keys, and SHA-256 commitments/leaf hashes with node:crypto (byte-identical to commitment.ts and
 * merkle.ts, which use @noble; tests pin the equality).
 */
import { createCipheriv, createDecipheriv, createHmac, hash, randomBytes } from "node:crypto";
import { type ReadingRecordFields, readingRecordText } from "../verifier/canonical-record.js";
import { ENTRY_PREFIX, SALT_BYTES } from "../verifier/commitment.js";

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const RECORD_AAD = Buffer.from("vitalog/record/v1\0");
const SUBJECT_KEY_AAD = Buffer.from("vitalog/subject-key/v1\0");

/** entry = SHA-256(ENTRY_PREFIX || salt || record), with node:crypto. */
export function commitEntryWithNodeCrypto(salt: Uint8Array, record: Uint8Array): Buffer {
  return hash("sha256", Buffer.concat([ENTRY_PREFIX, salt, record]), "buffer") as unknown as Buffer;
}

/** [RFC 9162 §2.1.1] leaf hash SHA-256(0x00 || entry), with node:crypto. */
export function leafHashWithNodeCrypto(entry: Uint8Array): Buffer {
  if (entry.length !== 32) throw new RangeError("entry must be 32 bytes");
  leafInput.set(entry, 1);
  return hash("sha256", leafInput, "buffer") as unknown as Buffer;
}

// Scratch buffers of the synchronous hot path (never escape a call): no allocation per hash input.
const nodeInput = Buffer.alloc(65, 0x01);
const leafInput = Buffer.alloc(33, 0x00);
const PREIMAGE_SCRATCH_BYTES = 16 * 1024;
const preimage = Buffer.allocUnsafe(PREIMAGE_SCRATCH_BYTES);
preimage.set(ENTRY_PREFIX, 0);
const SALT_AT = ENTRY_PREFIX.length;
const RECORD_AT = SALT_AT + SALT_BYTES;

// A digest as a latin1 string is exact (one char per byte) and avoids allocating a Buffer per hash,
// which costs about as much as the hash itself for 32–64-byte inputs.
const digestInto = (input: Uint8Array, out: Buffer, offset: number): void => {
  out.write(hash("sha256", input, "binary"), offset, "latin1");
};

/** [RFC 9162 §2.1.1] interior node hash SHA-256(0x01 || left || right), with node:crypto. */
export function nodeHashWithNodeCrypto(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== 32 || right.length !== 32) throw new RangeError("node children must be 32 bytes");
  nodeInput.set(left, 1);
  nodeInput.set(right, 33);
  return hash("sha256", nodeInput, "buffer") as unknown as Buffer;
}

/**
 * `nodeHashWithNodeCrypto` of two children stored side by side (`buf[childrenAt, childrenAt + 64)`: left then right),
 * written into `out` at `offset`, with no allocation but the digest (TileStore fills tile interiors so).
 */
nodeHashWithNodeCrypto.pairInto = (buf: Buffer, childrenAt: number, out: Buffer, offset: number): void => {
  if (buf.copy(nodeInput, 1, childrenAt, childrenAt + 64) !== 64)
    throw new RangeError("node children must be 64 bytes");
  digestInto(nodeInput, out, offset);
};

/**
 * The log's per-reading hot path: writes `leafHash(commitEntry(salt, utf8(readingRecordText(r))))` into
 * `out` at `offset`, where the salt is `salts[saltAt, saltAt + 32)`. The pre-image is assembled in a
 * scratch buffer; tests pin the result to the @noble definitions.
 */
export function leafHashOfReadingInto(
  salts: Buffer,
  saltAt: number,
  r: ReadingRecordFields,
  out: Buffer,
  offset: number,
): void {
  const text = readingRecordText(r);
  if (text.length * 3 > PREIMAGE_SCRATCH_BYTES - RECORD_AT) {
    // a record that might not fit the scratch buffer (only with pathological strings)
    const record = Buffer.from(text, "utf8");
    leafHashWithNodeCrypto(
      commitEntryWithNodeCrypto(salts.subarray(saltAt, saltAt + SALT_BYTES), record),
    ).copy(out, offset);
    return;
  }
  salts.copy(preimage, SALT_AT, saltAt, saltAt + SALT_BYTES);
  const end = RECORD_AT + preimage.write(text, RECORD_AT, "utf8");
  digestInto(preimage.subarray(0, end), leafInput, 1);
  digestInto(leafInput, out, offset);
}

/** The plaintext of a sealed record: `salt[32] || record`. */
export interface Opening {
  readonly salt: Uint8Array;
  readonly record: Uint8Array;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function recordAad(leafIndex: number, entry: Uint8Array): Buffer {
  return Buffer.concat([RECORD_AAD, u64(leafIndex), entry]);
}

/**
 * Seals an opening under a subject key: `nonce[12] || AES-256-GCM(salt || record) || tag[16]`, with the
 * leaf index and entry as associated data, so a sealed record moved to another row fails to open.
 */
export function sealRecord(
  key: Uint8Array,
  leafIndex: number,
  entry: Uint8Array,
  opening: Opening,
  nonce: Uint8Array = randomBytes(NONCE_BYTES),
): Buffer {
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(recordAad(leafIndex, entry));
  const body = Buffer.concat([c.update(opening.salt), c.update(opening.record), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]);
}

/** Opens a sealed record; returns undefined when it does not authenticate (wrong key, row or bytes). */
export function openRecord(
  key: Uint8Array,
  leafIndex: number,
  entry: Uint8Array,
  sealed: Uint8Array,
): Opening | undefined {
  if (sealed.length < NONCE_BYTES + SALT_BYTES + TAG_BYTES) return undefined;
  try {
    const d = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, NONCE_BYTES));
    d.setAAD(recordAad(leafIndex, entry));
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const plain = Buffer.concat([
      d.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)),
      d.final(),
    ]);
    return { salt: plain.subarray(0, SALT_BYTES), record: plain.subarray(SALT_BYTES) };
  } catch {
    return undefined;
  }
}

const SALT_KEY_LABEL = "vitalog/reading-salt-key/v1";

/**
 * The salt of a reading at leaf `i` under a subject key (DESIGN: "per-subject keyed derivation"):
 * `salt = AES-256_{ks}(u64be(i) || u64be(0)) || AES-256_{ks}(u64be(i) || u64be(1))` with
 * `ks = HMAC-SHA-256(subject key, "vitalog/reading-salt-key/v1")` — a pseudorandom function of the leaf
 * index, so a salt is never stored, a revealed salt tells nothing about any other, and destroying the
 * subject key (erasure) destroys every salt of the subject. `ks` is a separate key because the subject
 * key also seals event records with AES-GCM (whose hash key is AES_k(0)).
 * The returned function keeps one AES-ECB context (stateless per block: no padding, never finalised).
 */
export function saltDeriver(subjectKey: Uint8Array): SaltDeriver {
  const ks = createHmac("sha256", subjectKey).update(SALT_KEY_LABEL).digest();
  const aes = createCipheriv("aes-256-ecb", ks, null);
  aes.setAutoPadding(false);
  const blocks = Buffer.alloc(SALT_BYTES);
  const counter = (leafIndex: number): Buffer => {
    if (!Number.isSafeInteger(leafIndex) || leafIndex < 0) throw new RangeError("leaf index out of range");
    const hi = Math.floor(leafIndex / 2 ** 32);
    const lo = leafIndex % 2 ** 32;
    blocks.writeUInt32BE(hi, 0);
    blocks.writeUInt32BE(lo, 4);
    blocks.writeUInt32BE(hi, 16);
    blocks.writeUInt32BE(lo, 20);
    blocks[31] = 1;
    return blocks;
  };
  const derive = (leafIndex: number): Buffer => aes.update(counter(leafIndex));
  derive.many = (leafIndexes: readonly number[]): Buffer => {
    const input = Buffer.allocUnsafe(leafIndexes.length * SALT_BYTES);
    for (let k = 0; k < leafIndexes.length; k++) counter(leafIndexes[k]!).copy(input, k * SALT_BYTES);
    return aes.update(input);
  };
  return derive;
}

/**
 * A reading-salt function of one subject key; `many` derives the salts of several leaves in one AES
 * call (concatenated, in order).
 */
export type SaltDeriver = ((leafIndex: number) => Buffer) & {
  many(leafIndexes: readonly number[]): Buffer;
};

/** Wraps a subject key under the storage key (AES-256-GCM, key id as associated data). */
export function wrapKey(storageKey: Uint8Array, keyId: number, subjectKey: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const c = createCipheriv("aes-256-gcm", storageKey, nonce);
  c.setAAD(Buffer.concat([SUBJECT_KEY_AAD, u64(keyId)]));
  return Buffer.concat([nonce, c.update(subjectKey), c.final(), c.getAuthTag()]);
}

/** Unwraps a subject key; undefined when it does not authenticate. */
export function unwrapKey(storageKey: Uint8Array, keyId: number, wrapped: Uint8Array): Buffer | undefined {
  if (wrapped.length !== NONCE_BYTES + 32 + TAG_BYTES) return undefined;
  try {
    const d = createDecipheriv("aes-256-gcm", storageKey, wrapped.subarray(0, NONCE_BYTES));
    d.setAAD(Buffer.concat([SUBJECT_KEY_AAD, u64(keyId)]));
    d.setAuthTag(wrapped.subarray(NONCE_BYTES + 32));
    return Buffer.concat([d.update(wrapped.subarray(NONCE_BYTES, NONCE_BYTES + 32)), d.final()]);
  } catch {
    return undefined;
  }
}

/** HMAC-SHA-256 under the storage key with a domain label (subject tags, key check values). */
export function storageMac(storageKey: Uint8Array, label: string, data: string): Buffer {
  return createHmac("sha256", storageKey).update(`${label}\0${data}`).digest();
}
