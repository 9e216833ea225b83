import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bytesToHex, fromRlp, type Hex, toRlp } from "viem";
import { besuBftHashingRlp, headerHashing } from "../../src/anchor/bft-header.js";
import { keccak } from "../../src/anchor/eth-encoding.js";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const VALIDATORS = [bytes(20, 0x11), bytes(20, 0x22), bytes(20, 0x33), bytes(20, 0x44)];

/** QBFT extraData: RLP([vanity32, validators, vote, round, seals]) [Besu QbftExtraDataCodec]. */
function qbftExtra(round: number, seals: Uint8Array[], vote: unknown[] = []): Uint8Array {
  const roundScalar = round === 0 ? new Uint8Array(0) : Uint8Array.of(round);
  return toRlp([bytes(32, 0), VALIDATORS, vote, roundScalar, seals] as never, "bytes");
}

/** A London-style header (16 fields) with the given extraData and number. */
function header(extraData: Uint8Array, number = 7, timestamp = 1_763_700_000): Uint8Array {
  const fields = [
    bytes(32, 1),
    bytes(32, 2),
    bytes(20, 3),
    bytes(32, 4),
    bytes(32, 5),
    bytes(32, 6),
    bytes(256, 0),
    Uint8Array.of(1),
    number === 0 ? new Uint8Array(0) : Uint8Array.of(number),
    Uint8Array.of(0x1c, 0x9c, 0x38),
    new Uint8Array(0),
    new Uint8Array([0x69, 0x1f, 0x5c, 0xe0 + (timestamp % 16)]),
    extraData,
    bytes(32, 0x63),
    bytes(8, 0),
    Uint8Array.of(7),
  ];
  return toRlp(fields as never, "bytes");
}

describe("Besu QBFT / IBFT 2.0 on-chain block hashing", () => {
  it("hashes extraData with the committed seals removed and the round set to 0", () => {
    const h = header(qbftExtra(3, [bytes(65, 0xaa), bytes(65, 0xbb)]));
    const hashed = besuBftHashingRlp(h)!;
    const extra = (fromRlp(hashed, "bytes") as Uint8Array[])[12]!;
    assert.equal(bytesToHex(extra), bytesToHex(qbftExtra(0, [])));
    // [RLP] round 0 is the empty string 0x80, and the seal list is the empty list 0xc0
    assert.equal(bytesToHex(extra.subarray(-2)), "0x80c0");
  });

  it("gives every circulated copy of a block (other round, other seals) the same hash", () => {
    const a = header(qbftExtra(0, [bytes(65, 1)]));
    const b = header(qbftExtra(5, [bytes(65, 2), bytes(65, 3), bytes(65, 4)]));
    const onChain = keccak(besuBftHashingRlp(a)!);
    assert.deepEqual(keccak(besuBftHashingRlp(b)!), onChain);
    assert.equal(headerHashing(b, onChain), "besu_bft");
    assert.equal(headerHashing(a, onChain), "besu_bft");
  });

  it("keeps a validator vote in the hash and changes the hash for any other field", () => {
    const vote = [bytes(20, 0x55), Uint8Array.of(0xff)];
    const withVote = keccak(besuBftHashingRlp(header(qbftExtra(1, [], vote)))!);
    const without = keccak(besuBftHashingRlp(header(qbftExtra(1, [])))!);
    assert.notDeepEqual(withVote, without);
    const later = header(qbftExtra(1, []), 7, 1_763_700_001);
    assert.equal(headerHashing(later, without), undefined, "another timestamp is another block");
  });

  it("leaves Ethereum-style headers to Ethereum hashing and the genesis block untouched", () => {
    const eth = header(Uint8Array.of(0xd8, 0x83));
    assert.equal(besuBftHashingRlp(eth), undefined, "extraData that is not a 5-item list is not BFT");
    assert.equal(headerHashing(eth, keccak(eth)), "ethereum");
    const genesis = header(qbftExtra(0, [bytes(65, 9)]), 0);
    assert.deepEqual(besuBftHashingRlp(genesis), genesis);
  });

  it("refuses a block hash that matches neither rule", () => {
    const h = header(qbftExtra(2, [bytes(65, 1)]));
    assert.equal(headerHashing(h, `0x${"00".repeat(32)}` as Hex), undefined);
  });
});
