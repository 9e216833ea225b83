/**
 * One config run lists every problem (STYLE.md "Errors": ajv `allErrors`). zod checks a refinement of an
 * object only once the whole object parsed, and the checks that span sections run after the schema: left
 * alone, a typo in one key would hide every cross-field problem until it is fixed. These helpers let the
 * checks run on the parts that did parse, beside the schema's own problems.
 */
import type { z } from "zod";
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
 * Each key of an object schema parsed on its own: the result holds every key whose value parsed (defaults
 * applied; an optional key left out is present as undefined), and lacks those that failed. An input that is
 * not an object gives no part.
 */
export function parsedParts<S extends z.ZodObject>(schema: S, raw: unknown): Partial<z.output<S>> {
  const parts: Record<string, unknown> = {};
  // an absent section is its defaults, as in the schema
  const input = raw === undefined ? {} : raw;
  if (!isRecord(input)) return parts as Partial<z.output<S>>;
  for (const [key, field] of Object.entries(schema.shape) as [string, z.ZodType][]) {
    const r = field.safeParse(input[key]);
    if (r.success) parts[key] = r.data;
  }
  return parts as Partial<z.output<S>>;
}

/** The keys of an object schema that did not parse on their own: those `parsedParts` left out. */
export function unparsedKeys(schema: z.ZodObject, parts: object): Set<string> {
  return new Set(Object.keys(schema.shape).filter((key) => !(key in parts)));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
