/**
 * The schema of a clinical scenario file (test/scenarios/*.yaml; the format is described in
 * test/scenarios/README.md). One zod schema yields the validator and the type. A file that does not match is
 * refused with every problem listed, each naming the file and the field, so a reviewer's typo can never
 * turn a scenario into one that checks nothing.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { VITAL_KINDS } from "../../src/reading.js";
import { USER_ROLES } from "../../src/users/roles.js";

const second = z.number().finite().nonnegative();
/** The script moves in whole seconds. */
const wholeSecond = z.number().int().nonnegative();
const priority = z.enum(["high", "medium", "low"]);
const transition = z.enum([
  "raise",
  "silence",
  "re_alarm",
  "acknowledge",
  "escalate",
  "deescalate",
  "latch",
  "resolve",
  "update",
]);
const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, "an id: letters, digits and . _ : -");
const user = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, "a user id");
/** `{T+20}` in an expected text: the gateway time at second 20 of the scenario. */
const TIME_PLACEHOLDER = /\{T([+-]\d+)\}/g;

/** An instant as alert texts write it: ISO 8601 in UTC, whole seconds. */
export function isoSecond(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `pattern` with each `{T±n}` replaced by the (escaped) time of second n, for a scenario started at `t0`. */
export function expandTimes(pattern: string, t0: number): string {
  return pattern.replace(TIME_PLACEHOLDER, (_, n: string) =>
    isoSecond(t0 + Number(n) * 1000).replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
  );
}

/** A regular expression (`{T±n}` allowed), checked to compile when the file is read. */
const pattern = z.string().refine(
  (s) => {
    try {
      new RegExp(expandTimes(s, 0));
      return true;
    } catch {
      return false;
    }
  },
  { message: "not a valid regular expression" },
);

/**
 * Where a number in the scenario comes from: a clinical source (the RCP NEWS2 2017 chart, IEC 60601-1-8, a
 * manufacturer's IFU) or, where that is the truth, the plain admission that it is a local engineering choice
 * still to be reviewed. A pointer into reference/clinical.md may follow either, but is not a source by itself.
 */
const source = z
  .string()
  .refine((s) => /RCP NEWS2 2017|IEC 60601-1-8|IFU|local engineering choice, to be reviewed/.test(s), {
    message:
      'must cite its clinical source (RCP NEWS2 2017, IEC 60601-1-8, a manufacturer IFU) or say "local engineering choice, to be reviewed"',
  });

/** Vital signs in clinical units: SpO2 %, rates /min, blood pressure mmHg, temperature °C, glucose mg/dL, weight kg. */
const vitals = z.partialRecord(z.enum(VITAL_KINDS), z.number().finite());

const device = z.strictObject({
  id,
  subject: id,
  /** How the device speaks: a SenML pack (RFC 8428) or the gateway's plain JSON form. */
  format: z.enum(["senml", "json"]).default("senml"),
});

const send = z.strictObject({
  device: id,
  vitals: vitals.default({}),
  /**
   * Values that take turns, for a repeated step: the first entry's vitals for its `sends` sends, then the
   * next entry's, and round again (a value flapping around a limit). Merged over `vitals`.
   */
  cycle: z
    .array(z.strictObject({ sends: z.number().int().positive(), vitals }))
    .min(1)
    .optional(),
  /** The sensor's contact with the patient, as the device reports it in the same pack. */
  contact: z.boolean().optional(),
  battery: z.number().finite().optional(),
  /**
   * When the values were measured, in seconds relative to the moment they are sent (−3600: an hour ago, as a
   * device sends what it stored while it was out of reach). Absent: the device gives no time, measured now.
   */
  measured: z.number().finite().optional(),
});

const observe = z.strictObject({
  subject: id,
  by: user,
  acvpu: z.enum(["A", "C", "V", "P", "U"]).optional(),
  supplemental_oxygen: z.boolean().optional(),
  spo2_scale: z.union([z.literal(1), z.literal(2)]).optional(),
});

/** An alert picked by its rule (and subject): the one alert of that condition not resolved. */
const alertRef = { rule: z.string().min(1), subject: id.optional(), by: user };

const ACTIONS = [
  "send",
  "observe",
  "acknowledge",
  "silence",
  "disconnect",
  "remove_device",
  "erase_subject",
] as const;

const step = z
  .strictObject({
    /** The second it happens, or every `every` seconds from `from` to `to` inclusive. */
    at: wholeSecond.optional(),
    from: wholeSecond.optional(),
    to: wholeSecond.optional(),
    every: z.number().int().positive().optional(),
    send: send.optional(),
    observe: observe.optional(),
    acknowledge: z.strictObject(alertRef).optional(),
    silence: z.strictObject({ ...alertRef, duration_sec: z.number().positive().optional() }).optional(),
    /** The device's connection ends (it comes back with its next `send`). */
    disconnect: z.strictObject({ device: id }).optional(),
    /** `vitalog devices remove` for the device. */
    remove_device: z.strictObject({ device: id }).optional(),
    /** `vitalog subjects erase --yes` for the subject. */
    erase_subject: z.strictObject({ subject: id }).optional(),
    note: z.string().optional(),
  })
  .superRefine((s, ctx) => {
    const actions = ACTIONS.filter((a) => s[a] !== undefined);
    if (actions.length !== 1)
      ctx.addIssue({ code: "custom", message: `exactly one action of ${ACTIONS.join(", ")}`, path: [] });
    const isRepeated = s.from !== undefined || s.to !== undefined || s.every !== undefined;
    if (s.at !== undefined && isRepeated)
      ctx.addIssue({ code: "custom", message: "either at, or from + to + every", path: ["at"] });
    else if (s.at === undefined && !(s.from !== undefined && s.to !== undefined && s.every !== undefined))
      ctx.addIssue({ code: "custom", message: "needs at, or from + to + every", path: ["at"] });
    else if (s.from !== undefined && s.to !== undefined && s.to < s.from)
      ctx.addIssue({ code: "custom", message: "to is before from", path: ["to"] });
  });

/** One transition a nurse station must receive, at one second. */
const expected = z.strictObject({
  /** Seconds since the scenario started (the rule engine runs every 0.5 s, so timers end on .0 or .5). */
  at: second,
  rule: z.string().min(1),
  transition,
  priority,
  /**
   * A regular expression the alert's text must match (its stable part). `{T+20}` stands for the gateway time
   * at second 20 as the text writes it (ISO 8601, whole seconds, UTC), `{T-3600}` for an hour before the start.
   */
  text: pattern,
  subject: id.optional(),
  device: id.nullable().optional(),
  recipient: z.string().optional(),
  by: user.optional(),
  /** Through what `by` acted: the station's consumer id, `cli`, … */
  via: z.string().optional(),
});

/**
 * What must not happen, and why: `rule` is a regular expression over the whole rule id; `from` and `to`
 * (inclusive) narrow it to part of the scenario.
 */
const never = z.strictObject({
  rule: pattern,
  transition: transition.optional(),
  subject: id.optional(),
  from: second.optional(),
  to: second.optional(),
  why: z.string().min(1),
});

export const scenarioSchema = z
  .strictObject({
    title: z.string().min(1),
    /** What the scenario shows, for the clinical-safety reviewer. */
    shows: z.string().min(1),
    /** Every threshold, delay or time the scenario relies on, with its source. */
    limits: z.array(z.strictObject({ what: z.string().min(1), source })).min(1),
    /** Overrides of the gateway's configuration (`rules`, `alerts`), exactly as in vitalog.yaml. */
    config: z
      .strictObject({
        rules: z.record(z.string(), z.unknown()).optional(),
        alerts: z.record(z.string(), z.unknown()).optional(),
      })
      .default({}),
    devices: z.array(device).min(1),
    /** The people who act in the script, added with `vitalog users add` before the gateway starts. */
    staff: z.array(z.strictObject({ id: user, role: z.enum(USER_ROLES) })).default([]),
    /**
     * false (the default): every reading sent must be accepted and nothing refused, so a scenario cannot pass
     * because its readings never reached the rules. true where refusals are the point (after an erasure).
     */
    refusals_expected: z.boolean().default(false),
    /** Seconds the scenario runs. */
    duration: z
      .number()
      .int()
      .positive()
      .max(6 * 3600),
    script: z.array(step).min(1),
    expect: z.array(expected),
    never: z.array(never).default([]),
  })
  .superRefine((s, ctx) => {
    const ids = new Set(s.devices.map((d) => d.id));
    const subjects = new Set(s.devices.map((d) => d.subject));
    const staff = new Set(s.staff.map((u) => u.id));
    s.script.forEach((st, i) => {
      const by = st.observe?.by ?? st.acknowledge?.by ?? st.silence?.by;
      if (by !== undefined && !staff.has(by))
        ctx.addIssue({ code: "custom", message: `${by} is not in staff`, path: ["script", i] });
      const deviceRef = st.send?.device ?? st.disconnect?.device ?? st.remove_device?.device;
      if (deviceRef !== undefined && !ids.has(deviceRef))
        ctx.addIssue({ code: "custom", message: `unknown device ${deviceRef}`, path: ["script", i] });
      const last = st.at ?? st.to ?? 0;
      if (last > s.duration)
        ctx.addIssue({ code: "custom", message: "after the scenario's duration", path: ["script", i] });
    });
    s.expect.forEach((e, i) => {
      if (e.at > s.duration)
        ctx.addIssue({ code: "custom", message: "after the scenario's duration", path: ["expect", i, "at"] });
      if (e.subject !== undefined && !subjects.has(e.subject))
        ctx.addIssue({
          code: "custom",
          message: `unknown subject ${e.subject}`,
          path: ["expect", i, "subject"],
        });
      if (i > 0 && e.at < s.expect[i - 1]!.at)
        ctx.addIssue({
          code: "custom",
          message: "the timeline must be in time order",
          path: ["expect", i, "at"],
        });
    });
  });

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioStep = Scenario["script"][number];
export type ExpectedTransition = Scenario["expect"][number];
export type NeverRule = Scenario["never"][number];

/** A scenario file that cannot be used: every problem, each with the file and the field. */
export class ScenarioFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${basename(file)}: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ScenarioFileError";
  }
}

/** Parses and validates one scenario's YAML text; `file` names it in every problem. */
export function parseScenario(text: string, file: string): Scenario {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ScenarioFileError(
      file,
      doc.errors.map(
        (e) => `${basename(file)} (yaml line ${e.linePos?.[0]?.line ?? "?"}): ${e.message.split("\n")[0]}`,
      ),
    );
  }
  const result = scenarioSchema.safeParse(doc.toJS());
  if (!result.success) {
    throw new ScenarioFileError(
      file,
      result.error.issues.map(
        (i) => `${basename(file)} ${i.path.map(String).join(".") || "(root)"}: ${i.message}`,
      ),
    );
  }
  return result.data;
}

/** Reads and validates one scenario file. */
export function loadScenario(file: string): Scenario {
  return parseScenario(readFileSync(file, "utf8"), file);
}

/** The seconds at which a step happens, in order. */
export function stepSeconds(s: ScenarioStep): number[] {
  if (s.at !== undefined) return [s.at];
  const out: number[] = [];
  for (let t = s.from!; t <= s.to!; t += s.every!) out.push(t);
  return out;
}
