/**
 * The ledger part of `vitalog demo`: a real local EVM node (anvil from @foundry-rs/anvil) on loopback
 * with the AnchorRegistry deployed, mining a block per second, and the `anchor` config slice that
 * points the demo gateway at it. When anvil cannot start, the demo runs without anchoring and says why.
 */
import type { AnvilNode } from "../anchor/anvil.js";
import type { Metrics } from "../metrics.js";

export interface DemoLedger {
  /** Config keys to merge into the demo gateway's config (`anchor`), empty when anvil is unavailable. */
  config: Record<string, unknown>;
  /** One line for the demo's header. */
  note: string;
  /** Footer fragment: anchored tree size and last FINAL block. */
  footer(metrics: Metrics): string;
  stop(): Promise<void>;
}

/** How to get anvil, when the optional package is missing. */
const ANVIL_HINT = "npm install @foundry-rs/anvil in vitalog's own directory (a clone's npm install has it)";
const BLOCK_TIME_SEC = 1;
const CONFIRMATIONS = 2;
const ANCHOR_INTERVAL_SEC = 5;

/** Starts anvil and writes the gateway's ledger key file (0600) into `stateDir`. */
export async function startDemoLedger(stateDir: string): Promise<DemoLedger> {
  // loaded here, not at start-up: anvil is an optional package the demo alone uses
  const { ANVIL_KEYS, startAnvil, writeKeyFile } = await import("../anchor/anvil.js");
  let node: AnvilNode;
  try {
    node = await startAnvil({ blockTimeSec: BLOCK_TIME_SEC });
  } catch (err) {
    const isMissing = (err as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND";
    return {
      config: {},
      note: isMissing
        ? `ledger: anvil is not installed, anchoring off; to see anchoring: ${ANVIL_HINT}`
        : `ledger: anvil unavailable (${(err as Error).message.split("\n")[0]}); anchoring off`,
      footer: () => "",
      stop: async () => {},
    };
  }
  const keyFile = writeKeyFile(stateDir, ANVIL_KEYS[1]!);
  return {
    config: {
      anchor: {
        enabled: true,
        rpcUrl: node.rpcUrl,
        chainId: node.chainId,
        contract: node.registry,
        keyFile,
        finality: "confirmations",
        confirmations: CONFIRMATIONS,
        anchorIntervalSec: ANCHOR_INTERVAL_SEC,
        pollIntervalSec: 0.5,
        outageRetrySec: 2,
        rpcTimeoutMs: 2000,
      },
    },
    note:
      `ledger: anvil (local EVM, chain ${node.chainId}) on ${node.rpcUrl}, registry ${node.registry}; ` +
      `a checkpoint is anchored every ${ANCHOR_INTERVAL_SEC} s, FINAL after ${CONFIRMATIONS} confirmations`,
    footer: (m) => {
      const finalSize = m.value("vitalog_anchor_last_final_tree_size");
      const pending = m.value("vitalog_anchor_pending_tree_size");
      const parts = [];
      if (finalSize > 0) {
        parts.push(`anchored ${finalSize} (block ${m.value("vitalog_anchor_last_final_block")} FINAL)`);
      }
      if (pending > 0) parts.push(`anchoring ${pending}`);
      return parts.length > 0 ? ` · ${parts.join(", ")}` : " · anchoring: waiting for a checkpoint";
    },
    stop: () => node.stop(),
  };
}
