import type { Reading } from "../reading.js";

/** Latest values per device for the demo's live table. */
export interface DeviceRow {
  deviceId: string;
  subjectId: string;
  scenario: string;
  readings: number;
  rejections: number;
  lastAtMs: number | null;
  values: Partial<Record<Reading["kind"], number>>;
  flags: Set<string>;
  contact: boolean | null;
  batteryPct: number | null;
  /** The patient's current NEWS2 (filled in before each redraw); null before anything is known. */
  news2?: News2Cell | null;
}

/** What the table shows of a patient's NEWS2: the total and band, or how many parameters are missing. */
export interface News2Cell {
  total: number | null;
  band: string | null;
  missing: number;
  /** How many of the missing ones have device values waiting to persist (`rules.news2.persistSec`). */
  pending?: number;
}

const COLUMNS: Array<[string, number]> = [
  ["device", 10],
  ["patient", 9],
  ["scenario", 14],
  ["HR", 6],
  ["SpO2", 5],
  ["RR", 4],
  ["Temp", 5],
  ["BP", 8],
  ["NEWS2", 11],
  ["batt", 5],
  ["readings", 9],
  ["rej", 4],
  ["last", 6],
  ["notes", 24],
];

const fmt = (v: number | undefined, digits = 0) => (v === undefined ? "–" : v.toFixed(digits));

const BAND_SHORT: Record<string, string> = {
  zero: "zero",
  low: "low",
  low_medium: "low-med",
  medium: "MEDIUM",
  high: "HIGH",
};

/**
 * "7 HIGH", "3 low-med", "? 2 missing" for an incomplete NEWS2 (never a partial total), or "? 5 pending" while
 * every missing parameter only waits for its values to persist.
 */
export function news2Text(n: News2Cell | null | undefined): string {
  if (!n) return "–";
  if (n.total === null && n.pending && n.pending === n.missing) return `? ${n.pending} pending`;
  if (n.total === null) return `? ${n.missing} missing`;
  return `${n.total} ${BAND_SHORT[n.band ?? ""] ?? n.band}`;
}

/** Renders the table as plain text lines (no ANSI), one per device plus a header and a footer. */
export function renderTable(rows: readonly DeviceRow[], nowMs: number, footer: string): string[] {
  const cell = (text: string, width: number) =>
    text.length > width ? text.slice(0, width) : text.padEnd(width);
  const lines = [COLUMNS.map(([h, w]) => cell(h, w)).join(" ")];
  for (const r of rows) {
    const v = r.values;
    const age = r.lastAtMs === null ? "never" : `${Math.round((nowMs - r.lastAtMs) / 1000)}s`;
    const notes = [...r.flags];
    if (r.contact === false) notes.unshift("SENSOR OFF");
    if (r.lastAtMs !== null && nowMs - r.lastAtMs > 10_000) notes.unshift("SILENT");
    const cells = [
      r.deviceId,
      r.subjectId,
      r.scenario,
      fmt(v.heart_rate),
      fmt(v.spo2),
      fmt(v.respiratory_rate),
      fmt(v.body_temperature, 1),
      v.bp_systolic === undefined ? "–" : `${fmt(v.bp_systolic)}/${fmt(v.bp_diastolic)}`,
      news2Text(r.news2),
      r.batteryPct === null ? "–" : `${r.batteryPct}%`,
      String(r.readings),
      String(r.rejections),
      age,
      notes.join(","),
    ];
    lines.push(cells.map((c, i) => cell(c, COLUMNS[i]![1])).join(" "));
  }
  lines.push(footer);
  return lines;
}

/** The fields of an active alert the demo shows (a subset of the rules' AlertSnapshot). */
export interface AlertLine {
  priority: "high" | "medium" | "low";
  subject_id: string;
  rule_id: string;
  state: string;
  reason: string;
  raised_at_ms: number;
}

const PRIORITY_ORDER = { high: 0, medium: 1, low: 2 } as const;

/** The active alerts, most urgent first, at most `max` lines plus a heading. */
export function renderAlerts(alerts: readonly AlertLine[], nowMs: number, max = 10): string[] {
  const sorted = [...alerts].sort(
    (a, b) => PRIORITY_ORDER[a.priority] - PRIORITY_ORDER[b.priority] || a.raised_at_ms - b.raised_at_ms,
  );
  const lines = [`active alerts: ${alerts.length}`];
  for (const a of sorted.slice(0, max)) {
    const age = Math.round((nowMs - a.raised_at_ms) / 1000);
    lines.push(
      `  ${a.priority.toUpperCase().padEnd(6)} ${a.subject_id.padEnd(9)} ${a.rule_id.padEnd(34)} ${a.state.padEnd(12)} ${age}s  ${a.reason}`,
    );
  }
  if (sorted.length > max) lines.push(`  … ${sorted.length - max} more (vitalog alerts)`);
  return lines;
}
