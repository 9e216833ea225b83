import { loadConfig } from "../config.js";
import { controlRequest } from "../control/control-socket.js";
import { GatewayError } from "../errors.js";
import { NEWS2_PARAMETER_LABELS } from "../rules/news2.js";
import type { News2Parameter } from "../rules/news2-score.js";
import type { News2View } from "../rules/news2-view.js";
import { requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand } from "./options.js";

/**
 * `vitalog news2 --config FILE [--subject ID] [--json]`: the current NEWS2 of every subject (or one), complete
 * or not, as the RUNNING daemon holds it (over its control socket: NEWS2 lives in the daemon's memory). Shows
 * the total, band and alert priority, each parameter's value, score, age and source, a device value held back
 * until it persists (`rules.news2.persistSec`), a parameter pending its first persisted value, values withheld
 * by signal-quality gating, and which parameters are missing or stale. `--json` prints the daemon's reply
 * (`{ subjects: News2View[] }`).
 */
export async function news2Command(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseCommand(COMMAND_SPECS.news2, argv);
  const config = loadConfig(requireFlag(values.config, "config"));
  const args = values.subject === undefined ? {} : { subject_id: values.subject };
  const reply = await controlRequest(config.gateway.stateDir, "news2", args);
  if (reply === undefined) {
    throw new GatewayError(
      "CONTROL_FAILED",
      `no gateway is running on ${config.gateway.stateDir}: NEWS2 is computed by the running daemon`,
    );
  }
  if (!reply.ok) {
    if (reply.error === "unknown_subject") throw new GatewayError("SUBJECT_UNKNOWN", reply.detail);
    if (reply.error === "bad_request") throw new GatewayError("USAGE", reply.detail);
    throw new GatewayError("CONTROL_FAILED", `${reply.error}: ${reply.detail}`);
  }
  const subjects = (reply.subjects ?? []) as News2View[];
  if (values.json) {
    out.write(`${JSON.stringify({ subjects }, null, 2)}\n`);
    return 0;
  }
  if (subjects.length === 0) out.write("no subjects: no device is bound and no NEWS2 entry was made\n");
  for (const s of subjects) out.write(`${renderNews2(s, Date.now()).join("\n")}\n\n`);
  return 0;
}

const BAND_TEXT: Record<string, string> = {
  zero: "zero",
  low: "low",
  low_medium: "low-medium",
  medium: "medium",
  high: "high",
};

/** Human-readable lines for one subject's NEWS2 (pure: tests and the demo use it too). */
export function renderNews2(s: News2View, nowMs: number): string[] {
  const head = s.is_complete
    ? `${s.subject_id}  NEWS2 ${s.total}  ${BAND_TEXT[s.band ?? ""] ?? s.band} clinical risk, SpO2 scale ${s.scale}` +
      `  alert priority ${s.priority ?? "none"}`
    : `${s.subject_id}  NEWS2 incomplete (no total): missing ${s.missing.map(label).join(", ")}`;
  const lines = [head];
  if (s.alert)
    lines.push(
      `  alert ${s.alert.alert_id} ${s.alert.priority.toUpperCase()} ${s.alert.state}: ${s.alert.reason}`,
    );
  for (const p of s.parameters) {
    const source =
      p.source.type === "device" ? `device ${p.source.device_id}` : `entered by ${p.source.entered_by}`;
    const value = displayValue(p);
    lines.push(
      `  ${label(p.parameter).padEnd(16)} ${value.padEnd(12)} score ${p.score ?? "?"}  ${age(nowMs - p.observed_at_ms)} ago  ${source}`,
    );
    // the scored value is the least abnormal of the persistence window: say so while a worse one waits
    if (p.pending)
      lines.push(
        `  ${"".padEnd(16)} held: newest ${p.pending.value} (score ${p.pending.score}) since ${age(nowMs - p.pending.since_ms)} ago, scored once it persists ${s.persist_sec} s`,
      );
  }
  for (const st of s.stale)
    lines.push(
      `  ${label(st.parameter).padEnd(16)} stale: last observed ${age(nowMs - st.observed_at_ms)} ago`,
    );
  // older daemons' messages lack `pending` and `withheld` (fields are only ever added to)
  const pending = s.pending ?? [];
  const withheld = s.withheld ?? [];
  for (const p of pending)
    lines.push(
      `  ${label(p.parameter).padEnd(16)} pending: newest ${p.value} (score ${p.score ?? "?"}) since ${age(nowMs - p.since_ms)} ago, scored once it persists ${s.persist_sec} s`,
    );
  for (const w of withheld)
    lines.push(
      `  ${label(w.parameter).padEnd(16)} withheld (signal gated: ${w.flag.replaceAll("_", " ")}), last ${age(nowMs - w.observed_at_ms)} ago`,
    );
  const never = s.missing.filter(
    (m) =>
      !s.stale.some((st) => st.parameter === m) &&
      !pending.some((p) => p.parameter === m) &&
      !withheld.some((w) => w.parameter === m),
  );
  if (never.length > 0) lines.push(`  never observed: ${never.map(label).join(", ")}`);
  return lines;
}

/** A parameter's value as a nurse reads it: "air" or "oxygen", an ACVPU letter, or a number and its rounding. */
function displayValue(p: News2View["parameters"][number]): string {
  if (typeof p.value === "boolean") return p.value ? "oxygen" : "air";
  return p.rounded !== null && p.rounded !== p.value ? `${p.value} (${p.rounded})` : String(p.value);
}

function label(p: News2Parameter): string {
  return NEWS2_PARAMETER_LABELS[p];
}

/** "42 s", "12 min", "3 h 5 min". */
function age(ms: number): string {
  const sec = Math.max(0, Math.round(ms / 1000));
  if (sec < 120) return `${sec} s`;
  const min = Math.floor(sec / 60);
  if (min < 120) return `${min} min`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}
