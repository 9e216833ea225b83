/**
 * Block-hash rules of Hyperledger Besu's BFT consensus (QBFT and IBFT 2.0), browser-safe.
 *
 * On Ethereum-style chains the block hash is keccak256(RLP(header)). Besu BFT chains hash the header
 * with its extraData re-encoded: `extraData = RLP([vanity, validators, vote, round, committedSeals])`
 * is hashed as `RLP([vanity, validators, vote, 0, []])` — committed seals omitted and the round set
 * to 0, because both differ between the copies of a block circulated at one height.
 * [Besu BftBlockHashing.calculateHashOfBftBlockOnChain, QbftExtraDataCodec
 * EXCLUDE_COMMIT_SEALS_AND_ROUND_NUMBER; transparency-log.md §6.2]
 *
 * Not done here: checking that the committed seals come from a quorum of the validators (chain
 * trust); pin the block hash instead (`vitalog verify --block-hash`).
 */
import { fromRlp, type Hex, hexToBytes, toRlp } from "viem";
import { keccak } from "./eth-encoding.js";

type RlpItem = Uint8Array | RlpItem[];

/** How a header's hash was computed. */
export type HeaderHashing = "ethereum" | "besu_bft";

/** [RLP] the scalar 0 is the empty byte string (0x80). */
const ZERO_SCALAR = new Uint8Array(0);

/**
 * The header RLP a Besu BFT chain hashes for its on-chain block hash, or undefined when the header's
 * extraData is not BFT extra data (not a 5-item list). The genesis block (number 0) keeps its extraData.
 */
export function besuBftHashingRlp(headerRlp: Uint8Array): Uint8Array | undefined {
  let header: RlpItem;
  try {
    header = fromRlp(headerRlp, "bytes") as RlpItem;
  } catch {
    return undefined;
  }
  if (!Array.isArray(header) || header.length < 15) return undefined;
  const number = header[8];
  const extraData = header[12];
  if (!(number instanceof Uint8Array) || !(extraData instanceof Uint8Array)) return undefined;
  if (number.length === 0) return headerRlp; // genesis: hashed as is
  let extra: RlpItem;
  try {
    extra = fromRlp(extraData, "bytes") as RlpItem;
  } catch {
    return undefined;
  }
  if (!Array.isArray(extra) || extra.length !== 5) return undefined;
  const [vanity, validators, vote] = extra;
  if (!(vanity instanceof Uint8Array) || !Array.isArray(validators)) return undefined;
  const onChainExtra = toRlp([vanity, validators, vote!, ZERO_SCALAR, []] as never, "bytes");
  const fields = header.slice();
  fields[12] = onChainExtra;
  return toRlp(fields as never, "bytes");
}

/**
 * Which hashing rule makes `headerRlp` hash to `blockHash`, or undefined when neither does.
 * Ethereum-style hashing is tried first.
 */
export function headerHashing(headerRlp: Uint8Array, blockHash: Hex | Uint8Array): HeaderHashing | undefined {
  const expected = typeof blockHash === "string" ? hexToBytes(blockHash) : blockHash;
  if (equal(keccak(headerRlp), expected)) return "ethereum";
  const bft = besuBftHashingRlp(headerRlp);
  if (bft !== undefined && equal(keccak(bft), expected)) return "besu_bft";
  return undefined;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
