/**
 * Low-level EVM ledger access for anchoring, over any JSON-RPC endpoint (Besu, geth, anvil, L2s):
 * key loading, chain-id check, fee suggestion, signing with explicit nonce and fees, broadcasting,
 * receipts and the finality point. Used by the Publisher's state machine (publisher-ticks.ts).
 */
import { readFileSync, statSync } from "node:fs";
import {
  BaseError,
  bytesToHex,
  createPublicClient,
  encodeFunctionData,
  type Hex,
  http,
  isHex,
  keccak256,
  type PublicClient,
  toFunctionSelector,
} from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { isSystemdCredential } from "../credentials.js";
import { GatewayError } from "../errors.js";
import { AnchorError, type AnchorFields } from "./anchor.js";
import { buildEvidence, type EvmAnchorEvidence } from "./evidence.js";
import { REGISTRY_ABI } from "./registry.js";

/**
 * When an anchor counts as final. `finalized`: block ≤ the node's `finalized` tag (Ethereum, L2s).
 * `confirmations`: block ≤ latest − N (Besu QBFT, which answers -39001 to `finalized`; N = 0 there).
 */
export type FinalityPolicy = { kind: "finalized" } | { kind: "confirmations"; confirmations: number };

/** This module's slice of the config. Secrets are file paths, never values. */
export interface EvmLedgerConfig {
  rpcUrl: string;
  /** Expected chain id; checked at connect. */
  chainId: number;
  /** Registry contract address. */
  contract: Hex;
  /** File with the hex private key (0x optional); MUST NOT be readable by group or others. */
  keyFile: string;
  finality: FinalityPolicy;
  /** Gas limit per anchor transaction (first anchor of a log ≈ 48k). Default 100 000. */
  gasLimit?: bigint;
  /** Upper bound for maxFeePerGas, also for bumps. Default 200 gwei. */
  maxFeePerGasCap?: bigint;
  /** Floor for maxPriorityFeePerGas. Default 1 gwei (0 on free-gas networks). */
  minPriorityFeePerGas?: bigint;
  /** Per-request timeout. Default 10 000 ms. */
  rpcTimeoutMs?: number;
}

export interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export interface MinedReceipt {
  txHash: Hex;
  isSuccess: boolean;
  blockNumber: bigint;
  blockHash: Hex;
}

export type BroadcastOutcome = "accepted" | "known" | "nonce_too_low" | "underpriced";

/** Larger of two bigints (Math.max does not take bigint). */
export function maxBig(a: bigint, b: bigint): bigint {
  if (a > b) return a;
  return b;
}

/** Smaller of two bigints. */
export function minBig(a: bigint, b: bigint): bigint {
  if (a < b) return a;
  return b;
}

/** Selector of `TreeSizeNotGrowing(uint64,uint64)`. */
const NOT_GROWING_SELECTOR = toFunctionSelector("error TreeSizeNotGrowing(uint64 latest, uint64 offered)");

/**
 * Reads a hex private key file, refusing group/world-readable files. A systemd credential shows group read
 * (the ACL mask of the one user it is given to, see credentials.ts), so only its other bits count.
 */
export function readKeyFile(path: string): Hex {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (cause) {
    throw new GatewayError("KEY_FILE_MISSING", "ledger key file missing", { cause, details: { path } });
  }
  if ((mode & (isSystemdCredential(path) ? 0o037 : 0o077)) !== 0) {
    throw new GatewayError("KEY_FILE_INSECURE", "ledger key file is readable by group or others", {
      details: { path, mode: (mode & 0o777).toString(8) },
    });
  }
  const text = readFileSync(path, "utf8").trim();
  const hex = (text.startsWith("0x") ? text : `0x${text}`) as Hex;
  if (!isHex(hex, { strict: true }) || hex.length !== 66) {
    throw new GatewayError("CONFIG_SECRET_UNREADABLE", "ledger key file is not a 32-byte hex key", {
      details: { path },
    });
  }
  return hex;
}

/** Maps any transport or node error to an AnchorError with the right `retryable`. */
export function toAnchorError(err: unknown): AnchorError {
  if (err instanceof AnchorError) return err;
  const text =
    err instanceof BaseError ? `${err.shortMessage} ${err.details ?? ""} ${err.message}` : String(err);
  if (/TreeSizeNotGrowing/.test(text))
    return new AnchorError("not_growing", "tree size not growing", { cause: err });
  if (/insufficient funds/i.test(text))
    return new AnchorError("insufficient_funds", "insufficient funds", { cause: err });
  if (/revert/i.test(text)) return new AnchorError("reverted", "execution reverted", { cause: err });
  if (/timed? ?out/i.test(text))
    return new AnchorError("ledger_timeout", "ledger request timed out", { cause: err });
  return new AnchorError("ledger_unreachable", "ledger request failed", { cause: err });
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toAnchorError(err);
  }
}

/** A connected ledger; every method rejects only with AnchorError. */
export class EvmLedger {
  readonly client: PublicClient;
  readonly chainId: number;
  readonly contract: Hex;
  readonly finality: FinalityPolicy;
  readonly #account: PrivateKeyAccount;
  readonly #gasLimit: bigint;
  readonly #feeCap: bigint;
  readonly #minTip: bigint;

  private constructor(config: EvmLedgerConfig, account: PrivateKeyAccount, client: PublicClient) {
    this.client = client;
    this.chainId = config.chainId;
    this.contract = config.contract.toLowerCase() as Hex;
    this.finality = config.finality;
    this.#account = account;
    this.#gasLimit = config.gasLimit ?? 100_000n;
    this.#feeCap = config.maxFeePerGasCap ?? 200_000_000_000n;
    this.#minTip = config.minPriorityFeePerGas ?? 1_000_000_000n;
  }

  /** Loads the key and checks the chain id. MUST NOT be called with an unchecked config. */
  static async connect(config: EvmLedgerConfig): Promise<EvmLedger> {
    const ledger = EvmLedger.open(config);
    await ledger.checkChainId();
    return ledger;
  }

  /**
   * Loads the key without contacting the node (the gateway starts while the ledger is down); call
   * `checkChainId` before sending anything. Throws GatewayError KEY_FILE_* for a bad key file.
   */
  static open(config: EvmLedgerConfig): EvmLedger {
    const account = privateKeyToAccount(readKeyFile(config.keyFile));
    const client = createPublicClient({
      transport: http(config.rpcUrl, { retryCount: 0, timeout: config.rpcTimeoutMs ?? 10_000 }),
    });
    return new EvmLedger(config, account, client);
  }

  /** Rejects with AnchorError `chain_id_mismatch` (not retryable) or a retryable transport error. */
  async checkChainId(): Promise<void> {
    const actual = await guard(() => this.client.getChainId());
    if (actual !== this.chainId) {
      throw new AnchorError("chain_id_mismatch", "ledger chain id differs from config", {
        details: { expected: this.chainId, actual },
      });
    }
  }

  /** `evm:<chainId>:<contract>`. */
  get name(): string {
    return `evm:${this.chainId}:${this.contract}`;
  }

  get address(): Hex {
    return this.#account.address;
  }

  headNumber(): Promise<bigint> {
    return guard(() => this.client.getBlockNumber({ cacheTime: 0 }));
  }

  /** Highest block number that counts as final under the policy (−1 when none). */
  async finalizedNumber(): Promise<bigint> {
    if (this.finality.kind === "finalized") {
      return guard(async () => (await this.client.getBlock({ blockTag: "finalized" })).number);
    }
    return (await this.headNumber()) - BigInt(this.finality.confirmations);
  }

  async blockHashAt(n: bigint): Promise<Hex | undefined> {
    return guard(async () => {
      try {
        return (await this.client.getBlock({ blockNumber: n })).hash ?? undefined;
      } catch (err) {
        if (err instanceof BaseError && err.name === "BlockNotFoundError") return undefined;
        throw err;
      }
    });
  }

  /** The receipt of a mined transaction, or undefined while it is unknown or pending. */
  async receipt(txHash: Hex): Promise<MinedReceipt | undefined> {
    const r = await guard(
      () =>
        this.client.request({ method: "eth_getTransactionReceipt", params: [txHash] }) as Promise<{
          status: Hex;
          blockNumber: Hex;
          blockHash: Hex;
        } | null>,
    );
    if (r === null || r.blockHash == null) return undefined;
    return {
      txHash,
      isSuccess: r.status === "0x1",
      blockNumber: BigInt(r.blockNumber),
      blockHash: r.blockHash,
    };
  }

  /** Nonces of the sender account: mined (`latest`) and including the node's pool (`pending`). */
  async nonces(): Promise<{ latest: number; pending: number }> {
    const [latest, pending] = await guard(() =>
      Promise.all([
        this.client.getTransactionCount({ address: this.address, blockTag: "latest" }),
        this.client.getTransactionCount({ address: this.address, blockTag: "pending" }),
      ]),
    );
    return { latest, pending };
  }

  /** Fresh EIP-1559 fees: 2 × base fee + tip, capped. */
  async suggestFees(): Promise<Fees> {
    const block = await guard(() => this.client.getBlock({ blockTag: "latest" }));
    const base = block.baseFeePerGas ?? 0n;
    const tip = this.#minTip;
    return this.capFees({ maxFeePerGas: base * 2n + tip, maxPriorityFeePerGas: tip });
  }

  /** Raises both fees by ≥ 12.5 % (nodes require ≥ 10 %), capped; `isCapped` when no bump was possible. */
  bumpFees(f: Fees): Fees & { isCapped: boolean } {
    const up = (v: bigint) => v + maxBig(v / 8n, 1n);
    const next = this.capFees({
      maxFeePerGas: up(f.maxFeePerGas),
      maxPriorityFeePerGas: up(f.maxPriorityFeePerGas),
    });
    const isCapped =
      next.maxFeePerGas * 10n < f.maxFeePerGas * 11n ||
      next.maxPriorityFeePerGas * 10n < f.maxPriorityFeePerGas * 11n;
    return { ...next, isCapped };
  }

  capFees(f: Fees): Fees {
    const maxFeePerGas = minBig(f.maxFeePerGas, this.#feeCap);
    return { maxFeePerGas, maxPriorityFeePerGas: minBig(f.maxPriorityFeePerGas, maxFeePerGas) };
  }

  /** Calldata of `anchor(logId, treeSize, rootHash, checkpointHash)`. */
  calldata(f: AnchorFields): Hex {
    return encodeFunctionData({
      abi: REGISTRY_ABI,
      functionName: "anchor",
      args: [bytesToHex(f.logId), f.treeSize, bytesToHex(f.rootHash), bytesToHex(f.checkpointHash)],
    });
  }

  /** Dry-runs the anchor call; rejects with reason `not_growing`/`reverted` when the ledger would refuse. */
  async simulate(f: AnchorFields): Promise<void> {
    try {
      await this.client.call({ account: this.address, to: this.contract, data: this.calldata(f) });
    } catch (err) {
      const raw =
        err instanceof BaseError ? err.walk((e) => typeof (e as { data?: unknown }).data === "string") : null;
      const data = (raw as { data?: Hex } | null)?.data;
      if (data?.startsWith(NOT_GROWING_SELECTOR))
        throw new AnchorError("not_growing", "tree size not growing", { cause: err });
      throw toAnchorError(err);
    }
  }

  /** Signs (does not send) an anchor transaction with an explicit nonce and fees. */
  async sign(f: AnchorFields, nonce: number, fees: Fees): Promise<{ raw: Hex; hash: Hex }> {
    const raw = await this.#account.signTransaction({
      type: "eip1559",
      chainId: this.chainId,
      to: this.contract,
      data: this.calldata(f),
      nonce,
      gas: this.#gasLimit,
      maxFeePerGas: fees.maxFeePerGas,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
    });
    return { raw, hash: keccak256(raw) };
  }

  /** Sends a signed transaction; classifies the node's answers the publisher acts on. */
  async broadcast(raw: Hex): Promise<BroadcastOutcome> {
    try {
      await this.client.request({ method: "eth_sendRawTransaction", params: [raw] });
      return "accepted";
    } catch (err) {
      const text = err instanceof BaseError ? `${err.details ?? ""} ${err.message}` : String(err);
      if (/already known|already imported|known transaction/i.test(text)) return "known";
      if (/nonce too low|nonce has already been used/i.test(text)) return "nonce_too_low";
      if (/underpriced|replacement/i.test(text)) return "underpriced";
      throw toAnchorError(err);
    }
  }

  /** Latest anchor of this sender for `logId` from contract storage. */
  async latestOnChain(logId: Uint8Array): Promise<{ treeSize: bigint; checkpointHashPrefix: Hex }> {
    const [treeSize, checkpointHashPrefix] = await guard(() =>
      this.client.readContract({
        address: this.contract,
        abi: REGISTRY_ABI,
        functionName: "latest",
        args: [this.address, bytesToHex(logId)],
      }),
    );
    return { treeSize, checkpointHashPrefix };
  }

  /**
   * Evidence for the anchor in `txHash`. Rejects with AnchorError: transport reasons, or
   * `evidence_invalid` when the node's data does not verify (e.g. Besu QBFT headers, whose hash needs
   * extraData re-encoded; not supported yet) — never archived, retried at the next poll.
   */
  async evidence(txHash: Hex, fields: AnchorFields): Promise<EvmAnchorEvidence> {
    try {
      return await buildEvidence(this.client, {
        chainId: this.chainId,
        contract: this.contract,
        txHash,
        fields,
      });
    } catch (err) {
      if (err instanceof BaseError || err instanceof AnchorError) throw toAnchorError(err);
      throw new AnchorError("evidence_invalid", `evidence does not verify: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}
