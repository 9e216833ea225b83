/**
 * Compares the alarm timeline a nurse station received with a scenario's expected one, second by second, and
 * renders the difference as a table a reviewer can read: `=` as expected, `-` expected but not received, `+`
 * received but not expected, `!` received although the scenario says it must never happen. Times inside
 * received texts are shown as `{T+n}` (second n of the scenario), the form an expected text uses.
 */
import { type ExpectedTransition, expandTimes, type NeverRule } from "./scenario-schema.js";

/** One transition as received on the alert topic, timed from the scenario's start. */
export interface ObservedTransition {
  at: number;
  rule: string;
  transition: string;
  priority: string;
  text: string;
  subject: string;
  device: string | null;
  recipient: string;
  by: string | null;
  via: string | null;
}

export interface TimelineVerdict {
  ok: boolean;
  /** The aligned table (always rendered, so a passing run can be shown too). */
  table: string;
  /** `never` entries that a received transition broke, with that transition. */
  broken: { rule: NeverRule; by: ObservedTransition }[];
}

const ISO_INSTANT = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g;

/** `text` with every ISO instant written as `{T±n}` relative to `t0` (whole seconds as they are, else rounded). */
export function relativeTimes(text: string, t0: number): string {
  return text.replace(ISO_INSTANT, (iso) => {
    const n = Math.round((Date.parse(iso) - t0) / 1000);
    return `{T${n < 0 ? "-" : "+"}${Math.abs(n)}}`;
  });
}

function isMatch(e: ExpectedTransition, o: ObservedTransition, t0: number): boolean {
  return (
    Math.abs(e.at - o.at) < 1e-6 &&
    e.rule === o.rule &&
    e.transition === o.transition &&
    e.priority === o.priority &&
    new RegExp(expandTimes(e.text, t0)).test(o.text) &&
    (e.subject === undefined || e.subject === o.subject) &&
    (e.device === undefined || e.device === o.device) &&
    (e.recipient === undefined || e.recipient === o.recipient) &&
    (e.by === undefined || e.by === o.by) &&
    (e.via === undefined || e.via === o.via)
  );
}

/** Whether `o` is something `n` forbids. */
export function breaks(n: NeverRule, o: ObservedTransition): boolean {
  return (
    new RegExp(`^(?:${n.rule})$`).test(o.rule) &&
    (n.transition === undefined || n.transition === o.transition) &&
    (n.subject === undefined || n.subject === o.subject) &&
    (n.from === undefined || o.at >= n.from) &&
    (n.to === undefined || o.at <= n.to)
  );
}

type Line = { mark: "=" | "-" | "+"; e?: ExpectedTransition; o?: ObservedTransition };

/** The longest common alignment of the two timelines (they are short: tens of transitions). */
function align(
  expected: readonly ExpectedTransition[],
  observed: readonly ObservedTransition[],
  t0: number,
): Line[] {
  const n = expected.length;
  const m = observed.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = isMatch(expected[i]!, observed[j]!, t0)
        ? lcs[i + 1]![j + 1]! + 1
        : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const lines: Line[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && isMatch(expected[i]!, observed[j]!, t0)) {
      lines.push({ mark: "=", e: expected[i]!, o: observed[j]! });
      i++;
      j++;
    } else if (i < n && (j >= m || lcs[i + 1]![j]! > lcs[i]![j + 1]!)) {
      lines.push({ mark: "-", e: expected[i]! });
      i++;
    } else if (j < m && (i >= n || lcs[i]![j + 1]! > lcs[i + 1]![j]!)) {
      lines.push({ mark: "+", o: observed[j]! });
      j++;
    } else if (expected[i]!.at <= observed[j]!.at) {
      // two equally good alignments: list what comes first in time
      lines.push({ mark: "-", e: expected[i]! });
      i++;
    } else {
      lines.push({ mark: "+", o: observed[j]! });
      j++;
    }
  }
  return lines;
}

function pad(s: string, width: number): string {
  return s.length >= width ? `${s} ` : s + " ".repeat(width - s.length);
}

function row(cells: {
  mark: string;
  at: string;
  transition: string;
  priority: string;
  rule: string;
  subject: string;
  text: string;
}): string {
  const c = cells;
  return `${c.mark} ${pad(c.at, 8)}${pad(c.transition, 12)}${pad(c.priority, 9)}${pad(c.rule, 34)}${pad(c.subject, 8)}${c.text}`;
}

/** Aligns, judges and renders. `t0` is the gateway time of the scenario's second 0. */
export function compareTimeline(
  expected: readonly ExpectedTransition[],
  never: readonly NeverRule[],
  observed: readonly ObservedTransition[],
  t0: number,
): TimelineVerdict {
  const broken = observed.flatMap((o) => never.filter((n) => breaks(n, o)).map((rule) => ({ rule, by: o })));
  const lines = align(expected, observed, t0);
  const out = [
    row({
      mark: " ",
      at: "second",
      transition: "transition",
      priority: "priority",
      rule: "rule",
      subject: "subject",
      text: "text (received) or /pattern/ (expected)",
    }),
  ];
  for (const l of lines) {
    if (l.o) {
      const isBroken = broken.some((b) => b.by === l.o);
      const o = l.o;
      const who = o.by === null ? "" : ` [by ${o.by}${o.via === null ? "" : ` via ${o.via}`}]`;
      out.push(
        row({ ...o, mark: isBroken ? "!" : l.mark, at: String(o.at), text: relativeTimes(o.text, t0) + who }),
      );
    } else if (l.e) {
      const e = l.e;
      out.push(row({ ...e, mark: "-", at: String(e.at), subject: e.subject ?? "", text: `/${e.text}/` }));
    }
  }
  for (const b of broken)
    out.push(
      `! at ${b.by.at}: never ${b.rule.transition ?? "any transition of"} ${b.rule.rule}: ${b.rule.why}`,
    );
  const ok = broken.length === 0 && lines.every((l) => l.mark === "=");
  return { ok, table: out.join("\n"), broken };
}
