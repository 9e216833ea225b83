/**
 * A patient's own alarm limits, changed by a clinician at the bedside (`vitalog rules set|reset`): stored
 * durably, merged per vital and per field over the subject's overrides from the config file
 * (threshold-config.ts `withStoredOverrides`), and each change recorded with who, why, the limits before and
 * after, and the hash of the subject's effective rules afterwards.
 *
 * Contract:
 * - A change MUST commit in one transaction with its `subject_limits_changed` log event once an event log is
 *   attached (the CLI and the daemon attach the database's log); without one (log disabled) the table changes
 *   alone. The row is read and the change checked inside that transaction, so two changes never undo each
 *   other.
 * - A change names a user of the user store (users/roles.ts): known, enabled, with a role that may
 *   `change_limits`; and a reason (`why`). Anything else is refused with a named reason
 *   ({@link LimitChangeRefusal}) and nothing is written.
 * - Limits are checked as the rule will use them (merged over the config file's, the ward's and the built-in
 *   ones) with the config file's own checks (config.ts), so a change and a subject's entry in the file are held
 *   to the same rules: a tier inverted against the other direction, a vital with nothing beneath it left
 *   without hysteresis or clearSec, a limit outside the vital's physiologic hard range (a limit a real value
 *   can never cross is an alarm that can never sound), a delay, clearSec or hysteresis beyond its maximum, and
 *   a direction the ward defines emptied without `enabled: false`.
 * - A subject whose record was erased is refused (`subject_erased`): the event would give it a new key.
 *
 * `subject_limits` (subject-limits-sql.ts) holds the current change per subject and vital. Its row names the
 * subject in clear (as `alerts` does): an erasure deletes it (`purgeSubjectLimits`), and the reason is then
 * kept only in the event, sealed under the subject's key and shredded with it.
 *
 *   subject_limits_changed { action: "set" | "reset", vital, override, before, after, rules_hash, by, why, via }
 *
 * `override` is the stored override after the change (null after a reset); `before`/`after` the vital's
 * effective limits (every field explicit, or null when the vital has no limits); `rules_hash` the hash of the
 * subject's effective rules after the change (rules-in-force.ts `subjectRulesInForce`) as the writer computed
 * them. Wire names are only ever added to.
 */

import type { LogEvent } from "../batcher/tlog/record-log.js";
import { canonicalize } from "../batcher/verifier/canonical-record.js";
import { type Db, immediateWhenFree } from "../db.js";
import { USER_ID_PATTERN } from "../identifiers.js";
import { VITAL_KINDS, type VitalKind } from "../reading.js";
import { mayTake } from "../users/roles.js";
import {
  checkComplete,
  checkLimitBounds,
  checkLimitOrder,
  checkNoDirectionRemoved,
  type Issue,
  vitalOverride,
} from "./config.js";
import type { RulesConfig } from "./engine.js";
import { subjectRulesInForce } from "./rules-in-force.js";
import { SUBJECT_LIMITS_CHANGED } from "./subject-limits-sql.js";
import {
  type EffectiveVitalLimits,
  effectiveThresholds,
  mergeVitalLimits,
  mergeVitalOverride,
  type ThresholdOverrideSet,
  type ThresholdsConfig,
  type VitalOverride,
  withStoredOverrides,
} from "./threshold-config.js";

/** Longest `why` kept (it is shown on screens and sealed in the log). */
export const MAX_WHY_CHARS = 512;

/** Why a change was refused: wire strings (control replies, the refusal counter), only ever added to. */
export type LimitRefusalCode =
  | "invalid_user"
  | "unknown_user"
  | "user_disabled"
  | "user_not_permitted"
  | "user_store_unavailable"
  | "reason_required"
  | "invalid_subject"
  | "invalid_vital"
  | "invalid_limits"
  | "nothing_to_change"
  | "subject_erased";

/** A change refused before anything was written. */
export class LimitChangeRefusal extends Error {
  constructor(
    readonly code: LimitRefusalCode,
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(message);
  }
}

/** The users a change is checked against (users/user-store.ts); read at each change. */
export interface LimitUsers {
  get(id: string): { readonly id: string; readonly role: string; readonly isEnabled: boolean } | undefined;
}

/** One change: `set` merges `override` over the vital's stored override; `reset` removes it (all vitals when `vital` is absent). */
export type LimitChangeRequest =
  | { action: "set"; subjectId: string; vital: VitalKind; override: VitalOverride }
  | { action: "reset"; subjectId: string; vital?: VitalKind | undefined };

/** Who asks, and why. */
export interface LimitChangeActor {
  by: string;
  why: string;
  /** The path the change took: "cli" (a `vitalog rules` command, applied by the daemon or written by the CLI). */
  via: "cli";
}

/** What a committed change did. */
export interface LimitChangeResult {
  subjectId: string;
  /** The vitals whose stored override changed. */
  vitals: VitalKind[];
  /** The thresholds in force after the change (config file's, with every stored change merged). */
  thresholds: ThresholdsConfig;
  /** Hash of the subject's effective rules after the change. */
  rulesHash: string;
  events: LogEvent[];
}

/** A stored change, as `rules show` lists it. */
export interface StoredLimit {
  subjectId: string;
  vital: VitalKind;
  override: VitalOverride;
  changedBy: string;
  reason: string;
  changedAtMs: number;
}

interface Row {
  subject_id: string;
  vital: string;
  limits: string;
  changed_by: string;
  reason: string;
  changed_at_ms: number;
}

/** How long a change waits for a database busy with other writers before it fails. */
const BUSY_RETRY_MS = 5000;

/** Every stored change, read on `db` (a database without the table has none). */
export function readStoredLimits(db: Db): StoredLimit[] {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'subject_limits'")
    .pluck()
    .get();
  if (exists === undefined) return [];
  const rows = db.prepare("SELECT * FROM subject_limits ORDER BY subject_id, vital").all() as Row[];
  return rows.flatMap((r) => {
    const stored = toStored(r);
    return stored ? [stored] : [];
  });
}

/** The stored overrides per subject, as `withStoredOverrides` takes them. */
export function storedOverrides(limits: readonly StoredLimit[]): Record<string, ThresholdOverrideSet> {
  const out: Record<string, ThresholdOverrideSet> = {};
  for (const l of limits) {
    const set = out[l.subjectId] ?? {};
    set[l.vital] = l.override;
    out[l.subjectId] = set;
  }
  return out;
}

function toStored(r: Row): StoredLimit | undefined {
  if (!(VITAL_KINDS as readonly string[]).includes(r.vital)) return undefined;
  return {
    subjectId: r.subject_id,
    vital: r.vital as VitalKind,
    override: JSON.parse(r.limits) as VitalOverride,
    changedBy: r.changed_by,
    reason: r.reason,
    changedAtMs: r.changed_at_ms,
  };
}

/** A vital's effective limits as recorded (no `source`), or null. */
function recorded(limits: EffectiveVitalLimits | undefined): Record<string, unknown> | null {
  if (!limits) return null;
  const { kind: _k, source: _s, ...fields } = limits;
  return fields;
}

/** Problems of the limits one subject would have for `kind` under `thresholds` (empty when none). */
export function limitProblems(thresholds: ThresholdsConfig, subjectId: string, kind: VitalKind): string[] {
  const problems: string[] = [];
  const issue: Issue = (path, message) => problems.push(`${path.join(".")}: ${message}`);
  const own = thresholds.subjects[subjectId]?.[kind] ?? {};
  const ward = thresholds.ward[kind];
  checkComplete(ward, own, [kind], "ward or built-in entry for this vital", issue);
  checkNoDirectionRemoved(ward, own, [kind], issue);
  const merged = mergeVitalLimits(ward, own);
  checkLimitOrder(merged, [kind], issue);
  checkLimitBounds(kind, merged, [kind], issue);
  return problems;
}

/**
 * The stored limit changes of every subject, and the one way to change them (see the module contract).
 * One instance per connection; statements prepared once.
 */
export class SubjectLimitStore {
  readonly #db: Db;
  #eventLog: ((events: readonly LogEvent[]) => void) | undefined;
  readonly #ofSubject;
  readonly #upsert;
  readonly #delete;

  constructor(db: Db) {
    this.#db = db;
    this.#ofSubject = db.prepare<[string], Row>("SELECT * FROM subject_limits WHERE subject_id = ?");
    this.#upsert = db.prepare(
      `INSERT INTO subject_limits (subject_id, vital, limits, changed_by, reason, changed_at_ms)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (subject_id, vital) DO UPDATE SET limits = excluded.limits,
           changed_by = excluded.changed_by, reason = excluded.reason, changed_at_ms = excluded.changed_at_ms`,
    );
    this.#delete = db.prepare("DELETE FROM subject_limits WHERE subject_id = ? AND vital = ?");
  }

  /** From now on, every change is logged through `log` inside its own transaction. */
  attachEventLog(log: (events: readonly LogEvent[]) => void): void {
    this.#eventLog = log;
  }

  all(): StoredLimit[] {
    return readStoredLimits(this.#db);
  }

  /**
   * Checks and commits one change (see the module contract); throws {@link LimitChangeRefusal}. `rules`: the
   * configuration the limits merge over (the config file's `rules`, without stored changes). `isErased`: whether
   * the subject's record was erased (absent: no log, nothing to erase).
   */
  async change(
    request: LimitChangeRequest,
    actor: LimitChangeActor,
    deps: {
      rules: RulesConfig;
      users: LimitUsers;
      nowMs: number;
      isErased?: ((subjectId: string) => boolean) | undefined;
    },
  ): Promise<LimitChangeResult> {
    const by = checkActor(actor, deps.users);
    const { subjectId } = request;
    if (deps.isErased?.(subjectId))
      throw new LimitChangeRefusal(
        "subject_erased",
        `the record of ${subjectId} was erased: no limits are kept for it`,
      );
    return immediateWhenFree(
      this.#db,
      () => {
        const current = this.#ofSubject.all(subjectId).flatMap((r) => toStored(r) ?? []);
        const before = withStoredOverrides(deps.rules.thresholds, storedOverrides(this.all()));
        const mine = new Map(current.map((l) => [l.vital, l.override]));
        let vitals: VitalKind[];
        if (request.action === "set") {
          mine.set(request.vital, mergeVitalOverride(mine.get(request.vital), request.override));
          vitals = [request.vital];
        } else {
          vitals =
            request.vital === undefined ? [...mine.keys()] : mine.has(request.vital) ? [request.vital] : [];
          if (vitals.length === 0)
            throw new LimitChangeRefusal(
              "nothing_to_change",
              `${subjectId} has no stored limit change${request.vital ? ` for ${request.vital}` : ""} to reset`,
            );
          for (const v of vitals) mine.delete(v);
        }
        const others = storedOverrides(this.all().filter((l) => l.subjectId !== subjectId));
        const after = withStoredOverrides(deps.rules.thresholds, {
          ...others,
          [subjectId]: Object.fromEntries(mine),
        });
        const problems = vitals.flatMap((v) => limitProblems(after, subjectId, v));
        if (problems.length > 0)
          throw new LimitChangeRefusal("invalid_limits", `limits refused: ${problems.join("; ")}`, problems);
        const rulesHash = subjectRulesInForce({ ...deps.rules, thresholds: after }, subjectId).hash;
        const beforeTable = effectiveThresholds(before, subjectId);
        const afterTable = effectiveThresholds(after, subjectId);
        const events: LogEvent[] = [];
        for (const vital of vitals) {
          const override = mine.get(vital);
          if (override) this.#upsert.run(subjectId, vital, canonicalize(override), by, actor.why, deps.nowMs);
          else this.#delete.run(subjectId, vital);
          events.push({
            type: SUBJECT_LIMITS_CHANGED,
            atMs: deps.nowMs,
            subjectId,
            deviceId: null,
            data: {
              action: request.action,
              vital,
              override: override ?? null,
              before: recorded(beforeTable.find((l) => l.kind === vital)),
              after: recorded(afterTable.find((l) => l.kind === vital)),
              rules_hash: rulesHash,
              by,
              why: actor.why,
              via: actor.via,
            },
          });
        }
        this.#eventLog?.(events);
        return { subjectId, vitals, thresholds: after, rulesHash, events };
      },
      BUSY_RETRY_MS,
    );
  }
}

/** The acting user's id as stored, or the refusal (read now: a user disabled a moment ago cannot act). */
function checkActor(actor: LimitChangeActor, users: LimitUsers): string {
  if (!USER_ID_PATTERN.test(actor.by))
    throw new LimitChangeRefusal("invalid_user", "by: the user id of the person changing the limits");
  if (actor.why.trim().length === 0 || actor.why.length > MAX_WHY_CHARS)
    throw new LimitChangeRefusal(
      "reason_required",
      `why: 1–${MAX_WHY_CHARS} characters, the clinical reason`,
    );
  let user: ReturnType<LimitUsers["get"]>;
  try {
    user = users.get(actor.by);
  } catch {
    throw new LimitChangeRefusal("user_store_unavailable", "the user store cannot be read");
  }
  if (user === undefined)
    throw new LimitChangeRefusal("unknown_user", `no user ${actor.by} on this gateway (vitalog users add)`);
  if (!user.isEnabled) throw new LimitChangeRefusal("user_disabled", `user ${user.id} is disabled`);
  if (!mayTake(user.role, "change_limits"))
    throw new LimitChangeRefusal(
      "user_not_permitted",
      `role ${user.role} may not change a patient's alarm limits`,
    );
  return user.id;
}

/**
 * A request as it arrives on the control socket (plain JSON), checked: the subject id, the vital, and the
 * override's fields with the config file's schema. Throws {@link LimitChangeRefusal}.
 */
export function parseLimitChangeRequest(
  args: Readonly<Record<string, unknown>>,
  subjectIdPattern: RegExp,
): LimitChangeRequest {
  const { action, subject_id: subjectId, vital, override } = args;
  if (typeof subjectId !== "string" || !subjectIdPattern.test(subjectId))
    throw new LimitChangeRefusal("invalid_subject", "subject_id must be a subject id");
  const isVital = (v: unknown): v is VitalKind =>
    typeof v === "string" && (VITAL_KINDS as readonly string[]).includes(v);
  if (vital !== undefined && !isVital(vital))
    throw new LimitChangeRefusal("invalid_vital", `vital must be one of ${VITAL_KINDS.join(", ")}`);
  if (action === "reset") return { action, subjectId, vital };
  if (action !== "set" || vital === undefined)
    throw new LimitChangeRefusal("invalid_vital", "a set names one vital");
  const parsed = vitalOverride.safeParse(override);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${[vital, ...i.path].join(".")}: ${i.message}`);
    throw new LimitChangeRefusal("invalid_limits", `limits refused: ${problems.join("; ")}`, problems);
  }
  const own = Object.fromEntries(
    Object.entries(parsed.data).filter(([, v]) => v !== undefined),
  ) as VitalOverride;
  if (Object.keys(own).length === 0)
    throw new LimitChangeRefusal(
      "nothing_to_change",
      "a set changes at least one field of the vital's limits",
    );
  return { action, subjectId, vital, override: own };
}
