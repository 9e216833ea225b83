/**
 * Canonical encodings of JSON-RPC blocks and receipts: the header RLP whose keccak is the block hash,
 * and the EIP-2718 receipt encoding stored in the receipts trie. Pure (no Node-only APIs).
 */
import { keccak_256 } from "@noble/hashes/sha3.js";
import { type Hex, hexToBytes, toRlp } from "viem";

type RecursiveArray<T> = T | readonly RecursiveArray<T>[];

/** JSON-RPC block header fields as returned by `eth_getBlockByNumber` (quantities as 0x-hex). */
export interface RpcHeader {
  hash: Hex;
  parentHash: Hex;
  sha3Uncles: Hex;
  miner: Hex;
  stateRoot: Hex;
  transactionsRoot: Hex;
  receiptsRoot: Hex;
  logsBloom: Hex;
  difficulty: Hex;
  number: Hex;
  gasLimit: Hex;
  gasUsed: Hex;
  timestamp: Hex;
  extraData: Hex;
  mixHash: Hex;
  nonce: Hex;
  baseFeePerGas?: Hex;
  withdrawalsRoot?: Hex;
  blobGasUsed?: Hex;
  excessBlobGas?: Hex;
  parentBeaconBlockRoot?: Hex;
  requestsHash?: Hex;
}

/** JSON-RPC receipt fields needed for the consensus encoding. */
export interface RpcReceipt {
  type?: Hex;
  status?: Hex;
  cumulativeGasUsed: Hex;
  logsBloom: Hex;
  transactionIndex: Hex;
  transactionHash: Hex;
  blockHash: Hex;
  blockNumber: Hex;
  logs: { address: Hex; topics: Hex[]; data: Hex; logIndex?: Hex }[];
}

/** A quantity as RLP wants it: minimal big-endian, zero as the empty string. */
export function quantity(q: Hex | bigint | number): Uint8Array {
  let v = typeof q === "string" ? BigInt(q) : BigInt(q);
  if (v < 0n) throw new RangeError("quantity must be non-negative");
  const out: number[] = [];
  while (v > 0n) {
    out.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return Uint8Array.from(out);
}

const data = (h: Hex): Uint8Array => hexToBytes(h);

/**
 * Header fields in consensus order. Fork-added fields (London baseFee, Shanghai withdrawalsRoot,
 * Cancun blob gas + parentBeaconBlockRoot, Prague requestsHash) are appended only when present, and
 * a later one present implies every earlier one is present ([EIP-1559, 4895, 4844, 4788, 7685]).
 */
export function headerFields(h: RpcHeader): Uint8Array[] {
  const fields: Uint8Array[] = [
    data(h.parentHash),
    data(h.sha3Uncles),
    data(h.miner),
    data(h.stateRoot),
    data(h.transactionsRoot),
    data(h.receiptsRoot),
    data(h.logsBloom),
    quantity(h.difficulty),
    quantity(h.number),
    quantity(h.gasLimit),
    quantity(h.gasUsed),
    quantity(h.timestamp),
    data(h.extraData),
    data(h.mixHash),
    data(h.nonce),
  ];
  const optional: [Hex | undefined, boolean][] = [
    [h.baseFeePerGas, true],
    [h.withdrawalsRoot, false],
    [h.blobGasUsed, true],
    [h.excessBlobGas, true],
    [h.parentBeaconBlockRoot, false],
    [h.requestsHash, false],
  ];
  let missing = false;
  for (const [value, isQuantity] of optional) {
    if (value === undefined || value === null) {
      missing = true;
      continue;
    }
    if (missing) throw new Error("header has a fork field after a missing earlier one");
    fields.push(isQuantity ? quantity(value) : data(value));
  }
  return fields;
}

/** RLP of the header; keccak of it is the block hash on Ethereum-style chains. */
export function encodeHeader(h: RpcHeader): Uint8Array {
  return toRlp(headerFields(h), "bytes");
}

/** keccak256 helper returning bytes. */
export function keccak(bytes: Uint8Array): Uint8Array {
  return keccak_256(bytes);
}

/**
 * [EIP-2718] receipt encoding: legacy receipts are RLP([status, cumulativeGas, bloom, logs]);
 * typed receipts are `type || RLP([...])`. Pre-Byzantium state-root receipts are not supported.
 */
export function encodeReceipt(r: RpcReceipt): Uint8Array {
  if (r.status === undefined) throw new Error("pre-Byzantium receipt (no status) not supported");
  const logs: RecursiveArray<Uint8Array> = r.logs.map((l) => [
    data(l.address),
    l.topics.map(data),
    data(l.data),
  ]);
  const body = toRlp([quantity(r.status), quantity(r.cumulativeGasUsed), data(r.logsBloom), logs], "bytes");
  const type = r.type === undefined ? 0 : Number(BigInt(r.type));
  if (type === 0) return body;
  const out = new Uint8Array(body.length + 1);
  out[0] = type;
  out.set(body, 1);
  return out;
}
