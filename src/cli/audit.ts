import { openTlogForCli, signingKeyHistory } from "../batcher/tlog/open-tlog.js";
import { auditLog } from "../batcher/tlog/tlog-audit.js";
import { parseVkey, type Verifier } from "../batcher/verifier/signer.js";
import { loadConfig } from "../config.js";
import { GatewayError } from "../errors.js";
import { requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand } from "./options.js";
import { leafName } from "./verify.js";

/**
 * `vitalog audit --config FILE [--vkey VKEY …] [--json]`: recomputes the tree from storage, checks every
 * signed checkpoint and names each reading modified, deleted, inserted or reordered; then compares every
 * table a person or a report relies on (alerts, observations, devices and each reading's subject against its
 * device's logged binding, rejection evidence) with the log's events and names each difference
 * (audit-findings.ts lists the kinds). Checkpoint signatures are checked against `--vkey` keys when given,
 * else the log's key history. Logged adoptions (readings, device rows and rejection evidence an operator put
 * in the log that the gateway did not witness) are listed, not findings. Exit 0 when clean, 70 when
 * anything was found. Runs on one snapshot, beside a running gateway too.
 */
export async function auditCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseCommand(COMMAND_SPECS.audit, argv);
  const config = loadConfig(requireFlag(values.config, "config"));
  const tlog = openTlogForCli(config);
  try {
    let trusted: Verifier[];
    try {
      trusted = (values.vkey?.length ? values.vkey : signingKeyHistory(tlog.db).map((k) => k.vkey)).map(
        parseVkey,
      );
    } catch (err) {
      throw new GatewayError("USAGE", `bad --vkey: ${(err as Error).message}`);
    }
    const report = auditLog(tlog.db, tlog.storageKey, tlog.origin, trusted);
    if (values.json) {
      out.write(`${JSON.stringify(report)}\n`);
    } else {
      out.write(
        `${report.ok ? "AUDIT OK" : "AUDIT FAILED"}: origin ${report.origin}, tree size ${report.treeSize}, ` +
          `${report.records} records (${report.opened} opened, ${report.erased} erased), ${report.checkpoints} checkpoints\n`,
      );
      for (const f of report.findings) {
        const what =
          f.table !== undefined
            ? ` ${f.table}${f.ref === null ? "" : ` ${f.ref}`}`
            : f.ref === null
              ? ""
              : ` ${leafName(f.ref)}`;
        const leaf = f.leafIndex === null ? "" : ` (leaf ${f.leafIndex})`;
        out.write(`  ${f.kind.toUpperCase()}${what}${leaf}: ${f.detail}\n`);
      }
      if (report.tables.length > 0) {
        const parts = report.tables.map((t) => {
          const more = [
            t.pending > 0 ? `${t.pending} not yet sealed` : "",
            t.erased > 0 ? `${t.erased} of erased subjects` : "",
          ].filter((x) => x !== "");
          return `${t.table} ${t.rows} (${t.verified} verified${more.map((x) => `, ${x}`).join("")})`;
        });
        out.write(`  tables checked against the log: ${parts.join("; ")}\n`);
      }
      for (const a of report.adoptions) {
        out.write(
          `  adopted (not through ingest): ${a.count} reading(s) at leaves ${a.firstLeaf}-${a.lastLeaf}, ` +
            `by ${a.by} at ${new Date(a.atMs).toISOString()} (event ${a.eventId}): ${a.reason}\n`,
        );
      }
      for (const a of report.device_adoptions) {
        out.write(
          `  adopted (binding not witnessed): device ${a.device_id} bound to ${a.subject_id} at leaf ${a.leaf_index}, ` +
            `by ${a.by} at ${new Date(a.at_ms).toISOString()} (event ${a.event_id}): ${a.reason}\n`,
        );
      }
      for (const a of report.rejection_adoptions) {
        out.write(
          `  adopted (rejection evidence not sealed by the gateway): ${a.refusals} refusal(s) in ${a.counts} count(s) ` +
            `and ${a.samples} sample(s) at leaf ${a.leaf_index}, by ${a.by} at ${new Date(a.at_ms).toISOString()} ` +
            `(event ${a.event_id}): ${a.reason}\n`,
        );
      }
    }
    return report.ok ? 0 : 70;
  } finally {
    tlog.close();
  }
}
