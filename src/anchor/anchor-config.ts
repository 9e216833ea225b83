import { isAbsolute, resolve } from "node:path";
import type { Hex } from "viem";
import { z } from "zod";
import { type ConfigProblem, onceParsed } from "../config-sections.js";
import { isCredentialRef } from "../credentials.js";
import { GatewayError } from "../errors.js";
import type { EvmLedgerConfig, FinalityPolicy } from "./evm-ledger.js";
import type { PublisherConfig } from "./publisher-step.js";

const GWEI = 1_000_000_000;

/**
 * The `anchor` config slice: anchoring signed checkpoints on an EVM ledger. Off by default
 * for `vitalog run`; `vitalog demo` turns it on against an embedded anvil. The ledger key is a file
 * path (mode 0600, systemd credential in production), never an inline value; a relative path is
 * resolved against `gateway.stateDir`, like the tlog key files.
 *
 * ```yaml
 * anchor:
 *   enabled: true
 *   rpcUrl: https://besu.example-hospital.org:8545   # any EVM JSON-RPC (Besu, geth, an L2, anvil)
 *   chainId: 1337                                     # checked against the node (eth_chainId)
 *   contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3"   # AnchorRegistry address
 *   keyFile: /run/credentials/vitalog.service/ledger.key      # hex private key, 0600
 *   finality: confirmations        # Besu QBFT: confirmations (with 0); Ethereum / L2: finalized
 *   confirmations: 0
 *   anchorIntervalSec: 300         # at most one new anchor transaction per interval
 * ```
 */
export const anchorConfigSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe("Anchor signed checkpoints on the ledger. Requires `tlog.enabled`."),
    rpcUrl: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe(
        "JSON-RPC endpoint (http/https) of any EVM node: Besu, geth, an L2, anvil. Required when enabled.",
      ),
    chainId: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        "Expected chain id, checked against the node (`eth_chainId`): the gateway refuses to send to another chain. Required when enabled.",
      ),
    contract: z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte address")
      .optional()
      .describe(
        "Address of the AnchorRegistry contract (src/anchor/contracts/AnchorRegistry.sol). Required when enabled.",
      ),
    keyFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Secret file with the sender's hex private key (32 bytes); MUST NOT be readable by group or others. " +
          "Relative to `gateway.stateDir`. Required when enabled.",
      ),
    finality: z
      .enum(["finalized", "confirmations"])
      .default("finalized")
      .describe(
        "When an anchor counts as FINAL. `finalized`: its block is at or below the node's `finalized` block " +
          "(Ethereum, L2s). `confirmations`: `confirmations` blocks deep (Besu QBFT: 0, it never forks; it also " +
          "answers -39001 to the `finalized` tag).",
      ),
    confirmations: z
      .number()
      .int()
      .min(0)
      .max(10_000)
      .default(2)
      .describe("Blocks on top of the anchor block before FINAL, with `finality: confirmations`."),
    anchorIntervalSec: z
      .number()
      .min(0)
      .max(86_400 * 7)
      .default(300)
      .describe("At most one new checkpoint is sent per interval; newer checkpoints replace the queued one."),
    pollIntervalSec: z
      .number()
      .positive()
      .max(3600)
      .default(5)
      .describe("Head polling period while an anchor is in flight."),
    outageRetrySec: z
      .number()
      .positive()
      .max(3600)
      .default(15)
      .describe("Retry period while the ledger is unreachable."),
    rebroadcastSec: z
      .number()
      .positive()
      .max(86_400)
      .default(60)
      .describe("Re-send the identical signed transaction after this long without a receipt."),
    feeBumpAfterSec: z
      .number()
      .positive()
      .max(86_400)
      .default(180)
      .describe("Replace a stuck transaction at the same nonce with fees raised ≥ 10 % after this long."),
    maxFeePerGasGwei: z
      .number()
      .min(0)
      .max(1_000_000)
      .default(200)
      .describe("Cap of maxFeePerGas, fee bumps included (gwei)."),
    minPriorityFeePerGasGwei: z
      .number()
      .min(0)
      .max(1_000_000)
      .default(1)
      .describe("Floor of the priority fee (gwei); 0 on free-gas networks (Besu with zeroBaseFee)."),
    gasLimit: z
      .number()
      .int()
      .min(30_000)
      .max(10_000_000)
      .default(100_000)
      .describe("Gas limit per anchor transaction (the first anchor of a log uses about 48k)."),
    rpcTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(120_000)
      .default(10_000)
      .describe("Per-request JSON-RPC timeout."),
  })
  .superRefine(
    (a, ctx) => {
      if (!a.enabled) return;
      for (const key of ["rpcUrl", "chainId", "contract", "keyFile"] as const) {
        if (a[key] === undefined) {
          ctx.addIssue({ code: "custom", path: [key], message: "required when anchor.enabled is true" });
        }
      }
    },
    onceParsed("enabled", "rpcUrl", "chainId", "contract", "keyFile"),
  )
  .prefault({})
  .describe("Anchoring signed checkpoints on an EVM ledger (docs/anchoring.md). Off by default.");

export type AnchorConfig = z.infer<typeof anchorConfigSchema>;

const gwei = (v: number): bigint => BigInt(Math.round(v * GWEI));

/** The ledger part of an enabled slice; `stateDir` resolves a relative key file. */
export function evmLedgerConfig(a: Readonly<AnchorConfig>, stateDir: string): EvmLedgerConfig {
  if (!a.enabled || !a.rpcUrl || a.chainId === undefined || !a.contract || !a.keyFile) {
    throw new TypeError("evmLedgerConfig needs an enabled, validated anchor slice");
  }
  const finality: FinalityPolicy =
    a.finality === "finalized"
      ? { kind: "finalized" }
      : { kind: "confirmations", confirmations: a.confirmations };
  return {
    rpcUrl: a.rpcUrl,
    chainId: a.chainId,
    contract: a.contract as Hex,
    keyFile: isAbsolute(a.keyFile) ? a.keyFile : resolve(stateDir, a.keyFile),
    finality,
    gasLimit: BigInt(a.gasLimit),
    maxFeePerGasCap: gwei(a.maxFeePerGasGwei),
    minPriorityFeePerGas: gwei(a.minPriorityFeePerGasGwei),
    rpcTimeoutMs: a.rpcTimeoutMs,
  };
}

/**
 * The problems of the ledger key an enabled slice names, as `EvmLedger.connect` would meet them (missing,
 * readable by group or others, not a 32-byte hex key), each with its error code; none when anchoring is
 * off or no key file is given (the schema reports that). The ledger module, with viem, is loaded only here.
 */
export async function ledgerKeyProblems(
  a: Readonly<Partial<AnchorConfig>>,
  stateDir: string,
): Promise<ConfigProblem[]> {
  // a credential reference that names nothing was reported when it was resolved
  if (a.enabled !== true || a.keyFile === undefined || isCredentialRef(a.keyFile)) return [];
  const file = isAbsolute(a.keyFile) ? a.keyFile : resolve(stateDir, a.keyFile);
  const { readKeyFile } = await import("./evm-ledger.js");
  try {
    readKeyFile(file);
    return [];
  } catch (err) {
    if (!(err instanceof GatewayError)) {
      const message = `ledger key file ${file} cannot be read: ${(err as Error).message}`;
      return [{ path: "anchor.keyFile", message, code: "CONFIG_SECRET_UNREADABLE" }];
    }
    const mode = (err.details as { mode?: string } | undefined)?.mode;
    const how = mode === undefined ? "" : ` (mode ${mode}; chmod 600 it)`;
    return [{ path: "anchor.keyFile", message: `${err.message}: ${file}${how}`, code: err.code }];
  }
}

/** The publisher's timing policy from the slice (seconds → milliseconds). */
export function publisherConfig(a: Readonly<AnchorConfig>): Required<PublisherConfig> {
  return {
    anchorIntervalMs: a.anchorIntervalSec * 1000,
    pollIntervalMs: a.pollIntervalSec * 1000,
    outageRetryMs: a.outageRetrySec * 1000,
    rebroadcastMs: a.rebroadcastSec * 1000,
    bumpAfterMs: a.feeBumpAfterSec * 1000,
  };
}
