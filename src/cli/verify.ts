import { readFileSync } from "node:fs";
import type { Hex } from "viem";
import { anchorChecker } from "../anchor/bundle-anchor.js";
import {
  type Verdict,
  verifyConsistencyBundle,
  verifyProofBundle,
} from "../batcher/verifier/bundle-verify.js";
import { parseVkey, type Verifier } from "../batcher/verifier/signer.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand } from "./options.js";

/**
 * `vitalog verify <bundle> --vkey VKEY [--vkey …] [--origin O] [--json]`: offline verification of a proof
 * (or consistency) bundle against trusted verifier keys (a vkey string, or @FILE holding one per line).
 * Anchor evidence in the bundle is checked offline too (header hash, receipt proof, event = anchored
 * checkpoint, consistency to it), and evidence whose declared log id, tree size, root hash or checkpoint
 * hash contradicts what it proves is refused; `--chain-id`, `--contract` and `--block-hash` pin the ledger.
 * Exit 0 valid, 1 invalid (the first failing step is named), 2 unusable input.
 */
export async function verifyCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  let values: {
    vkey?: string[];
    origin?: string;
    json?: boolean;
    "chain-id"?: string;
    contract?: string;
    "block-hash"?: string;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseCommand(COMMAND_SPECS.verify, argv));
  } catch (err) {
    process.stderr.write(`vitalog verify: ${(err as Error).message}\n`);
    return 2;
  }
  const unusable = (msg: string) => {
    process.stderr.write(`vitalog verify: UNUSABLE INPUT: ${msg}\n`);
    return 2;
  };
  if (positionals.length !== 1) return unusable("usage: vitalog verify <bundle> --vkey VKEY");
  if (!values.vkey?.length) return unusable("--vkey is required (the log's verifier key)");
  const trusted: Verifier[] = [];
  try {
    for (const v of values.vkey) {
      const lines = v.startsWith("@") ? readFileSync(v.slice(1), "utf8").split("\n") : [v];
      for (const line of lines.map((l) => l.trim()).filter(Boolean)) trusted.push(parseVkey(line));
    }
  } catch (err) {
    return unusable(`bad --vkey: ${(err as Error).message}`);
  }
  let bundle: unknown;
  try {
    bundle = JSON.parse(readFileSync(positionals[0]!, "utf8"));
  } catch (err) {
    return unusable(`cannot read bundle ${positionals[0]}: ${(err as Error).message}`);
  }
  const opts = values.origin === undefined ? {} : { origin: values.origin };
  const expect: { chainId?: number; contract?: Hex; blockHash?: Hex } = {};
  if (values["chain-id"] !== undefined) {
    if (!/^[1-9][0-9]*$/.test(values["chain-id"])) return unusable("--chain-id must be a decimal chain id");
    expect.chainId = Number(values["chain-id"]);
  }
  if (values.contract !== undefined) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(values.contract)) return unusable("--contract must be a 0x address");
    expect.contract = values.contract as Hex;
  }
  if (values["block-hash"] !== undefined) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(values["block-hash"]))
      return unusable("--block-hash must be 32-byte hex");
    expect.blockHash = values["block-hash"] as Hex;
  }
  const isConsistency = (bundle as { format?: unknown } | null)?.format === "vitalog-consistency/v1";
  const verdict = isConsistency
    ? verifyConsistencyBundle(bundle, trusted, opts)
    : verifyProofBundle(bundle, trusted, {
        ...opts,
        checkAnchor: anchorChecker(trusted, { ...opts, expect }),
      });
  if (verdict.unusable) return unusable(verdict.steps[0]?.detail ?? "not a bundle");
  out.write(values.json ? `${JSON.stringify(toJson(verdict))}\n` : render(verdict));
  return verdict.ok ? 0 : 1;
}

/** The anchor check's own failing step (`receipt_proof`, `declared_tree_size` …), named first in its detail. */
function toJson(v: Verdict) {
  return {
    valid: v.ok,
    reading_id: v.readingId,
    failed_step: v.failedStep,
    failed_anchor_step: v.failedAnchorStep,
    leaf_index: v.leafIndex,
    tree_size: v.treeSize,
    steps: v.steps,
    record: v.record,
  };
}

/** A logged leaf's name for a person: logged events (device bindings, alerts …) have `evt-` ids. */
export function leafName(ref: string): string {
  return `${ref.startsWith("evt-") ? "event" : "reading"} ${ref}`;
}

function render(v: Verdict): string {
  const subject = v.readingId === null ? "consistency" : leafName(v.readingId);
  // the anchor check names its own sub-step first in the detail (`receipt_proof: …`)
  const sub = v.failedAnchorStep === null ? "" : ` (${v.failedAnchorStep})`;
  const head = v.ok ? `VALID: ${subject}` : `INVALID: ${subject}: step ${v.failedStep}${sub} failed`;
  const lines = [head, ...v.steps.map((s) => `  ${s.ok ? "ok  " : "FAIL"} ${s.step.padEnd(22)} ${s.detail}`)];
  if (v.ok && v.record) lines.push(`  record: ${JSON.stringify(v.record)}`);
  return `${lines.join("\n")}\n`;
}
