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
  ["batt", 5],
  ["readings", 9],
  ["rej", 4],
  ["last", 6],
  ["notes", 24],
];

const fmt = (v: number | undefined, digits = 0) => (v === undefined ? "–" : v.toFixed(digits));

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
