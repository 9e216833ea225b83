/**
 * One-shot EVM anchoring: `publish` sends one transaction to the AnchorRegistry, waits until the
 * anchor is final under the configured policy, and resolves with offline-verifiable evidence.
 * Idempotency across restarts comes from the ledger itself (the sender's Anchored events), so this
 * needs no local state; the durable, non-blocking path for the gateway is Publisher.
 */
import { bytesToHex, type Hex } from "viem";
import { type Clock, systemClock } from "../clock.js";
import {
  type Anchor,
  AnchorError,
  type AnchorFields,
  type AnchorRecord,
  anchorFields,
  type CheckpointInput,
} from "./anchor.js";
import { EvmLedger, type EvmLedgerConfig, toAnchorError } from "./evm-ledger.js";
import { REGISTRY_ABI } from "./registry.js";

export interface EvmAnchorConfig extends EvmLedgerConfig {
  /** First block to search for earlier anchors (registry deployment block). Default 0. */
  fromBlock?: bigint;
  /** Receipt/finality polling period. Default 2 000 ms. */
  pollIntervalMs?: number;
  /** Identical raw transaction re-sent after this long without a receipt. Default 30 000 ms. */
  rebroadcastMs?: number;
  /** `publish` gives up (retryable `ledger_timeout`) after this long. Default 30 min. */
  publishTimeoutMs?: number;
}

/** Anchors checkpoints on an EVM chain through the AnchorRegistry contract. */
export class EvmAnchor implements Anchor {
  readonly ledger: string;
  readonly evm: EvmLedger;
  readonly #config: EvmAnchorConfig;
  readonly #clock: Clock;
  readonly #inflight = new Map<string, Promise<AnchorRecord>>();
  readonly #sleeps = new Set<{ handle: unknown; resolve: () => void }>();
  #isClosed = false;

  private constructor(evm: EvmLedger, config: EvmAnchorConfig, clock: Clock) {
    this.evm = evm;
    this.ledger = evm.name;
    this.#config = config;
    this.#clock = clock;
  }

  /** Loads the key (file must not be group/world-readable) and checks the chain id against config. */
  static async connect(config: EvmAnchorConfig, clock: Clock = systemClock): Promise<EvmAnchor> {
    return new EvmAnchor(await EvmLedger.connect(config), config, clock);
  }

  publish(cp: CheckpointInput): Promise<AnchorRecord> {
    if (this.#isClosed) return Promise.reject(new AnchorError("closed", "anchor closed"));
    const fields = anchorFields(cp);
    const key = bytesToHex(fields.checkpointHash);
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const p = this.#publish(fields)
      .catch((err: unknown) => {
        throw toAnchorError(err);
      })
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  async close(): Promise<void> {
    this.#isClosed = true;
    for (const s of this.#sleeps) {
      this.#clock.clearTimeout(s.handle);
      s.resolve();
    }
    this.#sleeps.clear();
    await Promise.allSettled([...this.#inflight.values()]);
  }

  /** The sender's earlier transaction anchoring exactly these fields, if any. */
  async findExisting(fields: AnchorFields): Promise<Hex | undefined> {
    const logs = await this.evm.client
      .getLogs({
        address: this.evm.contract,
        event: REGISTRY_ABI[1],
        args: { logId: bytesToHex(fields.logId) },
        fromBlock: this.#config.fromBlock ?? 0n,
        toBlock: "latest",
      })
      .catch((err: unknown) => {
        throw new AnchorError("ledger_unreachable", "log search failed", { cause: err });
      });
    const want = bytesToHex(fields.checkpointHash);
    for (const log of logs) {
      if (log.args.checkpointHash !== want || log.transactionHash == null) continue;
      const tx = await this.evm.client.getTransaction({ hash: log.transactionHash });
      if (tx.from.toLowerCase() === this.evm.address.toLowerCase()) return log.transactionHash;
    }
    return undefined;
  }

  async #publish(fields: AnchorFields): Promise<AnchorRecord> {
    let txHash = await this.findExisting(fields);
    let raw: Hex | undefined;
    if (txHash === undefined) {
      await this.evm.simulate(fields);
      const { pending } = await this.evm.nonces();
      const signed = await this.evm.sign(fields, pending, await this.evm.suggestFees());
      raw = signed.raw;
      txHash = signed.hash;
      const outcome = await this.evm.broadcast(raw);
      if (outcome === "nonce_too_low" || outcome === "underpriced") {
        // Another sender shares this key: the serialized Publisher owns nonces in the gateway.
        throw new AnchorError("ledger_unreachable", `broadcast refused: ${outcome}`);
      }
    }
    const deadline = this.#clock.now() + (this.#config.publishTimeoutMs ?? 30 * 60_000);
    let lastSent = this.#clock.now();
    while (!this.#isClosed && this.#clock.now() < deadline) {
      const r = await this.evm.receipt(txHash);
      if (r !== undefined && !r.isSuccess) throw new AnchorError("reverted", "anchor transaction reverted");
      if (r !== undefined && r.blockNumber <= (await this.evm.finalizedNumber())) {
        // [§6.4] only FINAL when the receipt's block is still canonical at that height.
        if ((await this.evm.blockHashAt(r.blockNumber)) === r.blockHash) {
          const evidence = await this.evm.evidence(txHash, fields);
          return {
            ledger: this.ledger,
            checkpointHash: fields.checkpointHash,
            treeSize: fields.treeSize,
            txId: txHash,
            blockNumber: r.blockNumber,
            timestampSec: evidence.blockTimestamp,
            evidence,
          };
        }
      }
      if (
        r === undefined &&
        raw !== undefined &&
        this.#clock.now() - lastSent >= (this.#config.rebroadcastMs ?? 30_000)
      ) {
        await this.evm.broadcast(raw);
        lastSent = this.#clock.now();
      }
      await this.#sleep(this.#config.pollIntervalMs ?? 2_000);
    }
    if (this.#isClosed) throw new AnchorError("closed", "anchor closed while publishing");
    throw new AnchorError("ledger_timeout", "anchor not final before publishTimeoutMs", {
      details: { txHash },
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        handle: undefined as unknown,
        resolve,
      };
      entry.handle = this.#clock.setTimeout(() => {
        this.#sleeps.delete(entry);
        resolve();
      }, ms);
      this.#sleeps.add(entry);
    });
  }
}
