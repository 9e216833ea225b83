import { readFileSync } from "node:fs";
import { type Verdict, verifyConsistencyBundle, verifyProofBundle } from "../batcher/bundle-verify.js";
import { parseVkey, type Verifier } from "../batcher/signer.js";
import { parseFlags } from "./args.js";

/**
 * `vitalog verify <bundle> --vkey VKEY [--vkey …] [--origin O] [--json]`: offline verification of a proof
 * (or consistency) bundle against trusted verifier keys (a vkey string, or @FILE holding one per line).
 * Exit 0 valid, 1 invalid (the first failing step is named), 2 unusable input.
 */
export async function verifyCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  let values: { vkey?: string[]; origin?: string; json?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseFlags(argv, {
      vkey: { type: "string", multiple: true },
      origin: { type: "string" },
      json: { type: "boolean", default: false },
    }));
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
  const isConsistency = (bundle as { format?: unknown } | null)?.format === "vitalog-consistency/v1";
  const verdict = isConsistency
    ? verifyConsistencyBundle(bundle, trusted, opts)
    : verifyProofBundle(bundle, trusted, opts);
  if (verdict.unusable) return unusable(verdict.steps[0]?.detail ?? "not a bundle");
  out.write(values.json ? `${JSON.stringify(toJson(verdict))}\n` : render(verdict));
  return verdict.ok ? 0 : 1;
}

function toJson(v: Verdict) {
  return {
    valid: v.ok,
    reading_id: v.readingId,
    failed_step: v.failedStep,
    leaf_index: v.leafIndex,
    tree_size: v.treeSize,
    steps: v.steps,
    record: v.record,
  };
}

function render(v: Verdict): string {
  const subject = v.readingId === null ? "consistency" : `reading ${v.readingId}`;
  const head = v.ok ? `VALID: ${subject}` : `INVALID: ${subject}: step ${v.failedStep} failed`;
  const lines = [head, ...v.steps.map((s) => `  ${s.ok ? "ok  " : "FAIL"} ${s.step.padEnd(22)} ${s.detail}`)];
  if (v.ok && v.record) lines.push(`  record: ${JSON.stringify(v.record)}`);
  return `${lines.join("\n")}\n`;
}
