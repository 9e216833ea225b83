/**
 * One config run lists every problem (STYLE.md "Errors": ajv `allErrors`). zod checks a refinement of an
 * object only once the whole object parsed, and the checks that span sections run after the schema: left
 * alone, a typo in one key would hide every cross-field problem until it is fixed. These helpers let the
 * checks run on the parts that did parse, beside the schema's own problems.
 */
import { z } from "zod";
import { type ErrorCode, GatewayError } from "./errors.js";

/**
 * One problem in a config file: where (the dotted key path, e.g. `alerts.consumers.0.passwordFile`, or a
 * parenthesised place such as `(yaml line 3)`) and what. `details` of every CONFIG_INVALID error is a list of
 * these. MUST NOT carry a secret's value.
 */
export interface ConfigProblem {
  path: string;
  message: string;
  /**
   * The catalog code of the error this problem raises when it is met only as the file is opened (e.g.
   * `KEY_FILE_INSECURE` for a key file), kept when it is found with the config; absent for a schema problem.
   */
  code?: ErrorCode;
}

/** zod's issues as problems; `at` prefixes each path (the section the schema was applied to). */
export function issueProblems(
  issues: readonly z.core.$ZodIssue[],
  at: readonly (string | number)[] = [],
): ConfigProblem[] {
  return issues.map((i) => ({
    path: [...at, ...i.path].map(String).join(".") || "(root)",
    message: i.message,
  }));
}

/** The one text form of a problem list: one `  - path: message` line each, `  - path: CODE: message` with a code. */
export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `  - ${p.path}: ${p.code ? `${p.code}: ` : ""}${p.message}`).join("\n");
}

/**
 * The CONFIG_INVALID error (exit 78) listing every problem; `subject` says what was checked, e.g.
 * `invalid config /etc/vitalog/vitalog.yaml`. The problems are its `details`.
 */
export function configProblemsError(subject: string, problems: readonly ConfigProblem[]): GatewayError {
  return new GatewayError(
    "CONFIG_INVALID",
    `${subject}: ${problems.length} problem(s)\n${formatProblems(problems)}`,
    { details: problems },
  );
}

/**
 * The `when` of an object refinement that reads only `keys`: it runs once the input is an object and those
 * keys hold values of their type, whatever else in the object failed (an unknown key, a wrong value
 * elsewhere). As zod's own rule: a value that failed only a check (a range, a pattern) still has its type.
 */
export function onceParsed(...keys: string[]): { when: (payload: z.core.ParsePayload) => boolean } {
  return {
    when: (p) =>
      isRecord(p.value) &&
      !p.issues.some((i) => i.continue !== true && i.path !== undefined && keys.includes(String(i.path[0]))),
  };
}

/**
 * What can be read of a value that may not have parsed: a value that parsed is itself; of an object that did
 * not, each key that can be read; of an array that did not, each element that can be read, in its place
 * (undefined where none can); a record is read whole or not at all. A check across sections reads this, so a problem in one key or one element hides
 * no check of the others.
 */
export type Readable<T> = T extends readonly (infer E)[]
  ? (Readable<E> | undefined)[]
  : T extends object
    ? string extends keyof T
      ? T // a record (z.record) is read whole or not at all
      : { -readonly [K in keyof T]?: Readable<T[K]> }
    : T;

/** A value read leniently: what can be read of it, and the dotted paths of the values present that cannot. */
export interface ReadParts<T> {
  readonly value: Readable<T>;
  /**
   * Paths (e.g. `gateway.origin`, `devices.0.id`) whose value is in the input but could not be read: a check
   * that reads one MUST NOT run on the value's absence (its default) instead.
   */
  readonly unread: ReadonlySet<string>;
}

const NONE: unique symbol = Symbol("unreadable");

/**
 * `raw` read leniently against `schema` ({@link Readable}): a key or element whose value did not parse is
 * read on its own, down through objects and arrays (defaults applied to what parsed; an optional key left out
 * that parsed is present as undefined). Values that cannot be read at all, and are not absent, are listed
 * in `unread`. An absent section is its defaults, as in the schema.
 */
export function readParts<S extends z.ZodType>(schema: S, raw: unknown): ReadParts<z.output<S>> {
  const unread = new Set<string>();
  const value = readValue(schema, raw, [], unread);
  return { value: (value === NONE ? {} : value) as Readable<z.output<S>>, unread };
}

function readValue(
  schema: z.ZodType,
  raw: unknown,
  at: readonly (string | number)[],
  unread: Set<string>,
): unknown {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const inner = unwrapped(schema);
  if (inner instanceof z.ZodObject && isRecord(raw)) {
    const parts: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(inner.shape) as [string, z.ZodType][]) {
      const v = readValue(field, raw[key], [...at, key], unread);
      if (v !== NONE) parts[key] = v;
    }
    return parts;
  }
  if (inner instanceof z.ZodArray && Array.isArray(raw)) {
    return raw.map((el, i) => {
      const v = readValue(inner.element as z.ZodType, el, [...at, i], unread);
      return v === NONE ? undefined : v;
    });
  }
  if (raw !== undefined) unread.add(at.join("."));
  return NONE;
}

/** Whether the value at `path` can be read: neither it nor a value it lies in is in `unread` ({@link ReadParts}). */
export function wasRead(unread: ReadonlySet<string>, path: string): boolean {
  const keys = path.split(".");
  return keys.every((_, i) => !unread.has(keys.slice(0, i + 1).join(".")));
}

/** The schema under optional, nullable, default, prefault and readonly wrappers. */
function unwrapped(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (
    s instanceof z.ZodOptional ||
    s instanceof z.ZodNullable ||
    s instanceof z.ZodDefault ||
    s instanceof z.ZodPrefault ||
    s instanceof z.ZodReadonly
  )
    s = s.unwrap() as z.ZodType;
  return s;
}

/** The keys of an object schema whose value in `raw` does not parse on its own. */
export function unparsedKeys(schema: z.ZodObject, raw: unknown): Set<string> {
  const input = isRecord(raw) ? raw : {};
  return new Set(
    Object.entries(schema.shape as Record<string, z.ZodType>)
      .filter(([key, field]) => !field.safeParse(input[key]).success)
      .map(([key]) => key),
  );
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
