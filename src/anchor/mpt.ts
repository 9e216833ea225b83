/**
 * Ethereum Merkle-Patricia trie (Yellow Paper appendix D), only what anchor evidence needs: the root
 * and inclusion proof of an ordered list trie (key = RLP(index)), and proof verification.
 * Pure: Uint8Array in, Uint8Array out; no Node-only APIs, so the offline verifier can use it anywhere.
 */
import { keccak_256 } from "@noble/hashes/sha3.js";
import { fromRlp, toRlp } from "viem";

type RecursiveArray<T> = T | readonly RecursiveArray<T>[];

type Node = RecursiveArray<Uint8Array>;

/** Splits bytes into nibbles (high first). */
export function toNibbles(key: Uint8Array): number[] {
  const out: number[] = [];
  for (const b of key) out.push(b >> 4, b & 0x0f);
  return out;
}

/** [Yellow Paper D, HP] hex-prefix encoding of a nibble path; flag 2 marks a leaf. */
function hexPrefix(nibbles: readonly number[], isLeaf: boolean): Uint8Array {
  const odd = nibbles.length % 2;
  const flag = (isLeaf ? 2 : 0) + odd;
  const out = new Uint8Array(1 + Math.floor(nibbles.length / 2));
  out[0] = odd ? (flag << 4) | nibbles[0]! : flag << 4;
  for (let i = odd, j = 1; i < nibbles.length; i += 2, j++) out[j] = (nibbles[i]! << 4) | nibbles[i + 1]!;
  return out;
}

function decodeHexPrefix(bytes: Uint8Array): { nibbles: number[]; isLeaf: boolean } {
  if (bytes.length === 0) throw new Error("empty hex-prefix path");
  const all = toNibbles(bytes);
  const flag = all[0]!;
  if (flag > 3) throw new Error("bad hex-prefix flag");
  return { nibbles: all.slice(flag & 1 ? 1 : 2), isLeaf: (flag & 2) !== 0 };
}

const rlpBytes = (n: Node): Uint8Array => toRlp(n as RecursiveArray<Uint8Array>, "bytes");

/** [YP D] a child is referenced by hash when its RLP is ≥ 32 bytes, else embedded. */
function ref(n: Node): Node {
  const enc = rlpBytes(n);
  return enc.length < 32 ? n : keccak_256(enc);
}

interface Entry {
  key: number[];
  value: Uint8Array;
}

function commonPrefixLength(entries: readonly Entry[], depth: number): number {
  const first = entries[0]!.key;
  let n = 0;
  for (;;) {
    const d = depth + n;
    if (d >= first.length) return n;
    const nib = first[d];
    if (!entries.every((e) => e.key.length > d && e.key[d] === nib)) return n;
    n++;
  }
}

/** Builds the node for entries sharing the first `depth` nibbles; records every node on `path`. */
function build(
  entries: readonly Entry[],
  depth: number,
  path: readonly number[] | undefined,
  trail: Node[],
): Node {
  let node: Node;
  if (entries.length === 1) {
    const e = entries[0]!;
    node = [hexPrefix(e.key.slice(depth), true), e.value];
    trail.push(node);
    return node;
  }
  const shared = commonPrefixLength(entries, depth);
  if (shared > 0) {
    const onPath =
      path !== undefined &&
      path.slice(depth, depth + shared).join() === entries[0]!.key.slice(depth, depth + shared).join();
    const childTrail: Node[] = [];
    const child = build(entries, depth + shared, onPath ? path : undefined, childTrail);
    node = [hexPrefix(entries[0]!.key.slice(depth, depth + shared), false), ref(child)];
    if (path !== undefined) trail.push(node, ...(onPath ? childTrail : []));
    return node;
  }
  const slots: Node[] = Array.from({ length: 17 }, () => new Uint8Array(0));
  let childTrail: Node[] = [];
  for (let nib = 0; nib < 16; nib++) {
    const group = entries.filter((e) => e.key[depth] === nib);
    if (group.length === 0) continue;
    const onPath = path !== undefined && path[depth] === nib;
    const t: Node[] = [];
    slots[nib] = ref(build(group, depth + 1, onPath ? path : undefined, t));
    if (onPath) childTrail = t;
  }
  const terminal = entries.find((e) => e.key.length === depth);
  if (terminal !== undefined) slots[16] = terminal.value;
  node = slots;
  if (path !== undefined) trail.push(node, ...childTrail);
  return node;
}

/** Result of building a trie: its root and, when asked, the proof for one key. */
export interface TrieBuild {
  root: Uint8Array;
  /** RLP of every node from the root to the key's leaf, hashed-referenced or embedded alike. */
  proof: Uint8Array[];
}

/** Builds the trie of (key, value) pairs (keys distinct) and the inclusion proof of `proveKey`. */
export function buildTrie(
  pairs: readonly (readonly [Uint8Array, Uint8Array])[],
  proveKey?: Uint8Array,
): TrieBuild {
  if (pairs.length === 0) return { root: keccak_256(rlpBytes(new Uint8Array(0))), proof: [] };
  const entries = pairs.map(([k, v]) => ({ key: toNibbles(k), value: v }));
  const path = proveKey === undefined ? undefined : toNibbles(proveKey);
  const trail: Node[] = [];
  const root = build(entries, 0, path, trail);
  // Embedded nodes are carried inside their parent, so only the root and hash-referenced ones go in the proof.
  const proof = trail.map(rlpBytes).filter((enc, i) => i === 0 || enc.length >= 32);
  return { root: keccak_256(rlpBytes(root)), proof };
}

/** RLP(index) as used for transaction and receipt trie keys. */
export function indexKey(index: number): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError("index must be a non-negative integer");
  if (index === 0) return toRlp(new Uint8Array(0), "bytes");
  const bytes: number[] = [];
  for (let v = index; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return toRlp(Uint8Array.from(bytes), "bytes");
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Verifies an inclusion proof and returns the value stored under `key`.
 * Throws Error with a reason when the proof does not lead from `root` to a value for `key`.
 */
export function verifyTrieProof(root: Uint8Array, key: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  const path = toNibbles(key);
  const byHash = new Map(proof.map((p) => [Array.from(keccak_256(p)).join(), p]));
  let depth = 0;
  let expected: Node = root;
  for (let guard = 0; guard < 2 * path.length + 2; guard++) {
    let node: Node;
    if (expected instanceof Uint8Array) {
      if (expected.length !== 32) throw new Error("child reference is neither a hash nor a node");
      const enc = byHash.get(Array.from(expected).join());
      if (enc === undefined) throw new Error(`proof node missing for hash at depth ${depth}`);
      node = fromRlp(enc, "bytes");
    } else {
      node = expected;
    }
    if (!Array.isArray(node)) throw new Error("trie node is not a list");
    if (node.length === 17) {
      if (depth === path.length) return asBytes(node[16]);
      const child: Node = node[path[depth]!]!;
      if (child instanceof Uint8Array && child.length === 0)
        throw new Error("key not in trie (empty branch)");
      expected = child;
      depth++;
    } else if (node.length === 2) {
      const { nibbles, isLeaf } = decodeHexPrefix(asBytes(node[0]));
      if (path.slice(depth, depth + nibbles.length).join() !== nibbles.join())
        throw new Error("key not in trie (path diverges)");
      depth += nibbles.length;
      if (isLeaf) {
        if (depth !== path.length) throw new Error("key not in trie (leaf too short)");
        return asBytes(node[1]);
      }
      expected = node[1]!;
    } else {
      throw new Error("trie node has neither 2 nor 17 items");
    }
  }
  throw new Error("proof too deep");
}

function asBytes(n: Node | undefined): Uint8Array {
  if (!(n instanceof Uint8Array)) throw new Error("expected bytes in trie node");
  return n;
}

export { equalBytes };
