/**
 * Builds the offline evidence of an EVM anchor at FINAL (reference §6.5): the raw header, the raw
 * receipt and its receipts-trie proof rebuilt from every receipt of the block. RPC nodes may drop old
 * receipts (EIP-4444), so this is fetched once and archived.
 */
import { bytesToHex, type Hex, hexToBytes, type PublicClient } from "viem";
import type { AnchorFields } from "./anchor.js";
import { headerHashing } from "./bft-header.js";
import { encodeHeader, encodeReceipt, keccak, type RpcHeader, type RpcReceipt } from "./eth-encoding.js";
import { buildTrie, equalBytes, indexKey } from "./mpt.js";

/** Wire format version; fields are only ever added. */
export const EVIDENCE_VERSION = "vitalog-evm-anchor-evidence/v1";

/** topic0 of `Anchored(bytes32 indexed logId, uint64 treeSize, bytes32 rootHash, bytes32 checkpointHash)`. */
export const ANCHORED_TOPIC: Hex = bytesToHex(
  keccak(new TextEncoder().encode("Anchored(bytes32,uint64,bytes32,bytes32)")),
);

/** Everything an auditor needs to check one anchor offline; JSON-serialisable (hex strings, decimals). */
export interface EvmAnchorEvidence {
  version: typeof EVIDENCE_VERSION;
  chainId: number;
  /** Registry contract address (lower-case 0x-hex). */
  contract: Hex;
  txHash: Hex;
  txIndex: number;
  blockNumber: string;
  blockHash: Hex;
  /** Block timestamp, Unix seconds. */
  blockTimestamp: number;
  /** Block-wide log index as reported by JSON-RPC. */
  logIndex: number;
  /** Index of the Anchored log inside the receipt's log list. */
  logIndexInReceipt: number;
  headerRlp: Hex;
  /** EIP-2718 receipt encoding (type byte first for typed receipts). */
  receiptRlp: Hex;
  /** Receipts-trie nodes from root to leaf, key RLP(txIndex). */
  receiptProof: Hex[];
  /** What was anchored, as on chain. */
  logId: Hex;
  treeSize: string;
  rootHash: Hex;
  checkpointHash: Hex;
}

type RpcBlock = RpcHeader & { transactions: Hex[] };

async function blockReceipts(client: PublicClient, block: RpcBlock): Promise<RpcReceipt[]> {
  try {
    const all = (await client.request({
      method: "eth_getBlockReceipts",
      params: [block.number],
    } as never)) as RpcReceipt[] | null;
    if (all !== null && all.length === block.transactions.length) return all;
  } catch {
    // Not every node serves eth_getBlockReceipts: fall back to one receipt per transaction.
  }
  return Promise.all(
    block.transactions.map(
      async (h) =>
        (await client.request({ method: "eth_getTransactionReceipt", params: [h] } as never)) as RpcReceipt,
    ),
  );
}

/**
 * Fetches and cross-checks the evidence for the Anchored event of `fields` in transaction `txHash`.
 * Throws Error when the node's data is inconsistent (header hash or receipts root mismatch) — the
 * caller retries later or alerts; it never archives unverifiable evidence.
 */
export async function buildEvidence(
  client: PublicClient,
  args: { chainId: number; contract: Hex; txHash: Hex; fields: AnchorFields },
): Promise<EvmAnchorEvidence> {
  const receipt = (await client.request({
    method: "eth_getTransactionReceipt",
    params: [args.txHash],
  } as never)) as RpcReceipt | null;
  if (receipt === null) throw new Error("receipt not found");
  const block = (await client.request({
    method: "eth_getBlockByHash",
    params: [receipt.blockHash, false],
  } as never)) as RpcBlock | null;
  if (block === null) throw new Error("block not found");
  const headerRlp = encodeHeader(block);
  // Ethereum-style keccak(RLP(header)), or Besu QBFT/IBFT 2.0 (extraData without seals, round 0)
  if (headerHashing(headerRlp, block.hash) === undefined) {
    throw new Error("header RLP does not hash to the block hash (neither Ethereum nor Besu BFT rules)");
  }
  const receipts = (await blockReceipts(client, block)).sort(
    (a, b) => Number(BigInt(a.transactionIndex)) - Number(BigInt(b.transactionIndex)),
  );
  const txIndex = Number(BigInt(receipt.transactionIndex));
  const pairs = receipts.map((r, i) => [indexKey(i), encodeReceipt(r)] as const);
  const { root, proof } = buildTrie(pairs, indexKey(txIndex));
  if (!equalBytes(root, hexToBytes(block.receiptsRoot)))
    throw new Error("rebuilt receipts root differs from header");
  const contract = args.contract.toLowerCase() as Hex;
  const logIdHex = bytesToHex(args.fields.logId);
  const logIndexInReceipt = receipt.logs.findIndex(
    (l) => l.address.toLowerCase() === contract && l.topics[0] === ANCHORED_TOPIC && l.topics[1] === logIdHex,
  );
  if (logIndexInReceipt < 0) throw new Error("Anchored event not in receipt");
  const log = receipt.logs[logIndexInReceipt]!;
  return {
    version: EVIDENCE_VERSION,
    chainId: args.chainId,
    contract,
    txHash: args.txHash,
    txIndex,
    blockNumber: BigInt(block.number).toString(),
    blockHash: block.hash,
    blockTimestamp: Number(BigInt(block.timestamp)),
    logIndex: log.logIndex === undefined ? -1 : Number(BigInt(log.logIndex)),
    logIndexInReceipt,
    headerRlp: bytesToHex(headerRlp),
    receiptRlp: bytesToHex(pairs[txIndex]![1]),
    receiptProof: proof.map((p) => bytesToHex(p)),
    logId: logIdHex,
    treeSize: args.fields.treeSize.toString(),
    rootHash: bytesToHex(args.fields.rootHash),
    checkpointHash: bytesToHex(args.fields.checkpointHash),
  };
}
