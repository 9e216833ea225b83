/** In-memory Anchor for unit tests of callers; runs the same conformance suite as EvmAnchor. */
import { bytesToHex } from "viem";
import {
  type Anchor,
  AnchorError,
  type AnchorRecord,
  anchorFields,
  type CheckpointInput,
} from "../../src/anchor/anchor.js";

export class MemoryAnchor implements Anchor {
  readonly ledger = "memory:0";
  isAvailable = true;
  readonly writes: AnchorRecord[] = [];
  readonly #byHash = new Map<string, Promise<AnchorRecord>>();
  readonly #latest = new Map<string, bigint>();
  #isClosed = false;

  publish(cp: CheckpointInput): Promise<AnchorRecord> {
    if (this.#isClosed) return Promise.reject(new AnchorError("closed", "anchor closed"));
    const f = anchorFields(cp);
    const key = bytesToHex(f.checkpointHash);
    const known = this.#byHash.get(key);
    if (known !== undefined) return known;
    if (!this.isAvailable) return Promise.reject(new AnchorError("ledger_unreachable", "memory ledger down"));
    const log = bytesToHex(f.logId);
    if (f.treeSize <= (this.#latest.get(log) ?? 0n)) {
      return Promise.reject(new AnchorError("not_growing", "tree size not growing"));
    }
    this.#latest.set(log, f.treeSize);
    const rec: AnchorRecord = {
      ledger: this.ledger,
      checkpointHash: f.checkpointHash,
      treeSize: f.treeSize,
      txId: `mem-${this.writes.length + 1}`,
      blockNumber: BigInt(this.writes.length + 1),
      timestampSec: Math.floor(Date.now() / 1000),
      evidence: { checkpointHash: key },
    };
    this.writes.push(rec);
    const p = Promise.resolve(rec);
    this.#byHash.set(key, p);
    return p;
  }

  async close(): Promise<void> {
    this.#isClosed = true;
  }
}
