/**
 * Clinician and nurse-station commands (MQTT `<commandPrefix>/ack|silence|observe`, also used by the CLI):
 * validated, applied to the rule engine synchronously, recorded as audit events with who did it (`by`, a
 * person) and through what (`via`, the consumer), answered on `<commandPrefix>/<consumer>/result`.
 *
 * `by` must be an enabled user of the gateway's user store whose role allows the action (users/roles.ts);
 * what is recorded is the id as stored. `alert_id` is a full alert id or a unique prefix of one (at least
 * {@link MIN_ALERT_ID_PREFIX} characters) among the alerts not resolved; an ambiguous prefix is refused with
 * only the number of candidates (their ids would name other patients' alarms).
 *
 * Payloads (JSON; `request_id` is echoed in the reply):
 *   ack      { alert_id, by }
 *   silence  { alert_id, by, duration_sec? }
 *   observe  { subject_id, by, supplemental_oxygen?: boolean, acvpu?: "A"|"C"|"V"|"P"|"U",
 *              spo2_scale?: 1|2, observed_at_ms? }
 * Reply: { request_id, command, ok, error?, detail?, alert?, news2? }. Errors (wire strings, only ever added
 * to): malformed_json, invalid_user, unknown_user, user_disabled, user_not_permitted, user_store_unavailable,
 * invalid_field, unknown_alert, ambiguous_alert, subject_erased (an observation of a subject whose record was
 * erased: nothing new is kept for it), and the engine's (already_acknowledged …). Every refusal is
 * counted by command and reason.
 *
 * The same commands reach the daemon from `vitalog alerts ack|silence` on the gateway host through the local
 * control socket (owner-only), as the `alert_action` op ({@link registerAlertActionControl}), recorded
 * `via: "cli"`; a tool elsewhere that authenticates as a consumer stays recorded as that consumer.
 *
 * `observe` with nothing observed (no supplemental_oxygen, acvpu or spo2_scale) records nothing and only
 * replies with the subject's current NEWS2, complete or not: a station can look before it enters.
 */

import { type AuditEvent, type ControlOps, ControlRefusal } from "../core/ports.js";
import { SUBJECT_ID_PATTERN, USER_ID_PATTERN } from "../identifiers.js";
import { mayTake, type UserAction } from "../users/roles.js";
import type { AlertSnapshot } from "./alert-event.js";
import type { RuleEngine } from "./engine.js";
import type { News2Message } from "./news2-view.js";
import type { Acvpu, ClinicianObservation } from "./rule.js";
import { OBSERVATION_EVENT_TYPE } from "./sinks/alert-message.js";
import type { ObservationData } from "./sinks/alert-store.js";
import type { CommandVerb } from "./sinks/consumers.js";

/**
 * The shortest alert-id prefix accepted: 6 hex digits of a random UUID (16.7 million values), so that a
 * mistyped prefix is very unlikely to name another active alert. Local engineering choice, to be reviewed.
 */
export const MIN_ALERT_ID_PREFIX = 6;
const ACVPU = new Set(["A", "C", "V", "P", "U"]);
/** A bedside observation may be entered late, but not from the future (clock skew allowance) … */
const MAX_FUTURE_MS = 5 * 60_000;
/** … nor more than a day late. */
const MAX_LATE_MS = 24 * 3600_000;

export interface CommandReply {
  request_id: string | null;
  command: CommandVerb;
  ok: boolean;
  error?: string;
  detail?: string;
  alert?: AlertSnapshot | undefined;
  /** The subject's current NEWS2 as on its retained topic (`News2Message`, snake_case), for `observe`. */
  news2?: News2Message | undefined;
}

/** Who is acting right now: read by the alert listener to stamp `via` on the transitions it emits. */
export interface ActorContext {
  via: string | null;
}

/** The user store as the commands read it (users/user-store.ts). MUST read the current state each time. */
export interface CommandUsers {
  get(id: string): { readonly id: string; readonly role: string; readonly isEnabled: boolean } | undefined;
}

type ActingUser = NonNullable<ReturnType<CommandUsers["get"]>>;
type Fail = (error: string, detail?: string) => CommandReply;

export class CommandProcessor {
  readonly #engine: RuleEngine;
  readonly #now: () => number;
  readonly #record: (event: AuditEvent) => void;
  readonly #actor: ActorContext;
  readonly #users: CommandUsers;
  readonly #refused: (labels: { command: string; reason: string }) => void;
  readonly #news2: (subjectId: string) => News2Message;

  /** `refused` counts every refusal (e.g. a `vitalog_commands_refused_total` counter). */
  constructor(deps: {
    engine: RuleEngine;
    now: () => number;
    record: (event: AuditEvent) => void;
    actor: ActorContext;
    users: CommandUsers;
    refused?: (labels: { command: string; reason: string }) => void;
    /** The wire form of a subject's current NEWS2 (news2-view.ts `news2Message` over `engine.news2`). */
    news2: (subjectId: string) => News2Message;
  }) {
    this.#engine = deps.engine;
    this.#now = deps.now;
    this.#record = deps.record;
    this.#actor = deps.actor;
    this.#users = deps.users;
    this.#refused = deps.refused ?? (() => {});
    this.#news2 = deps.news2;
  }

  /** Applies one command from `via`; never throws. */
  handle(via: string, verb: CommandVerb, payload: Buffer | string): CommandReply {
    const reply = this.#handle(via, verb, payload);
    if (!reply.ok) this.#refused({ command: verb, reason: reply.error ?? "refused" });
    return reply;
  }

  #handle(via: string, verb: CommandVerb, payload: Buffer | string): CommandReply {
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(payload.toString());
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
        throw new Error("not an object");
      body = parsed as Record<string, unknown>;
    } catch {
      return { request_id: null, command: verb, ok: false, error: "malformed_json" };
    }
    const requestId = typeof body.request_id === "string" ? body.request_id.slice(0, 128) : null;
    const fail: Fail = (error, detail) => ({
      request_id: requestId,
      command: verb,
      ok: false,
      error,
      ...(detail ? { detail } : {}),
    });
    const acting = this.#actingUser(body.by, fail);
    if ("refused" in acting) return acting.refused;
    const { user } = acting;
    if (verb === "observe") return this.#observe(via, user, body, requestId, fail);
    if (typeof body.alert_id !== "string") return fail("invalid_field", "alert_id");
    const duration = body.duration_sec;
    if (duration !== undefined && !(typeof duration === "number" && duration > 0))
      return fail("invalid_field", "duration_sec");
    const alertId = this.#resolveAlertId(body.alert_id, fail);
    if (typeof alertId !== "string") return alertId;
    const category = this.#engine.alarms.get(alertId)!.category;
    const action: UserAction =
      category === "technical" ? "answer_technical_alarm" : "answer_physiological_alarm";
    if (!mayTake(user.role, action))
      return fail(
        "user_not_permitted",
        `role ${user.role} may not acknowledge or silence a ${category} alarm`,
      );
    // the alert as the prefix matched it: an acknowledgement that ends it takes it out of the engine
    const matched = this.#engine.alarms.get(alertId)!;
    this.#actor.via = via;
    try {
      const result =
        verb === "ack"
          ? this.#engine.acknowledge(alertId, user.id)
          : this.#engine.silence(alertId, user.id, duration as number | undefined);
      if (!result.ok) return fail(result.error);
    } finally {
      this.#actor.via = null;
    }
    // only an acknowledgement resolves: the alert it ended was acknowledged by this user, as its resolve records
    const alert = this.#engine.alarms.get(alertId) ?? {
      ...matched,
      state: "resolved" as const,
      silenced_until_ms: null,
      acknowledged_by: user.id,
    };
    return { request_id: requestId, command: verb, ok: true, alert };
  }

  /** The user named by `by`, known and enabled (read now: a user disabled a moment ago cannot act), or the refusal. */
  #actingUser(by: unknown, fail: Fail): { user: ActingUser } | { refused: CommandReply } {
    if (typeof by !== "string" || !USER_ID_PATTERN.test(by))
      return { refused: fail("invalid_user", "by: the person acting") };
    let user: ActingUser | undefined;
    try {
      user = this.#users.get(by);
    } catch {
      // nobody can be vouched for: refused, and the alarm keeps sounding
      return { refused: fail("user_store_unavailable", "the user store cannot be read") };
    }
    if (user === undefined)
      return { refused: fail("unknown_user", `no user ${by} on this gateway (vitalog users add)`) };
    if (!user.isEnabled) return { refused: fail("user_disabled", `user ${user.id} is disabled`) };
    return { user };
  }

  /** The full id of the alert `given` names (its id, or a unique prefix of an alert not resolved), or the refusal. */
  #resolveAlertId(given: string, fail: Fail): string | CommandReply {
    if (this.#engine.alarms.get(given) !== undefined) return given;
    // too short to be taken as a prefix: no alert has that id
    if (given.length < MIN_ALERT_ID_PREFIX)
      return fail(
        "unknown_alert",
        `no alert has that id; a prefix must have at least ${MIN_ALERT_ID_PREFIX} characters`,
      );
    const prefix = given.toLowerCase();
    const candidates = this.#engine.activeAlerts().filter((a) => a.alert_id.toLowerCase().startsWith(prefix));
    if (candidates.length === 1) return candidates[0]!.alert_id;
    if (candidates.length === 0) return fail("unknown_alert");
    return fail(
      "ambiguous_alert",
      `${candidates.length} active alerts start with ${given}: give more of the id`,
    );
  }

  #observe(
    via: string,
    user: ActingUser,
    body: Record<string, unknown>,
    requestId: string | null,
    fail: Fail,
  ): CommandReply {
    const subjectId = body.subject_id;
    if (typeof subjectId !== "string" || !SUBJECT_ID_PATTERN.test(subjectId))
      return fail("invalid_field", "subject_id");
    if (this.#engine.isSubjectErased(subjectId))
      return fail("subject_erased", "the subject's record was erased: nothing is kept or scored for it");
    const { supplemental_oxygen: o2, acvpu, spo2_scale: scale } = body;
    if (o2 !== undefined && typeof o2 !== "boolean") return fail("invalid_field", "supplemental_oxygen");
    if (acvpu !== undefined && !(typeof acvpu === "string" && ACVPU.has(acvpu)))
      return fail("invalid_field", "acvpu: one of A C V P U");
    if (scale !== undefined && scale !== 1 && scale !== 2) return fail("invalid_field", "spo2_scale: 1 or 2");
    if (o2 === undefined && acvpu === undefined && scale === undefined) {
      if (!mayTake(user.role, "view_news2"))
        return fail("user_not_permitted", `role ${user.role} may not view NEWS2`);
      return { request_id: requestId, command: "observe", ok: true, news2: this.#news2(subjectId) };
    }
    if (!mayTake(user.role, "enter_observation"))
      return fail("user_not_permitted", `role ${user.role} may not enter clinician observations`);
    const now = this.#now();
    const observedAtMs = body.observed_at_ms ?? now;
    if (
      typeof observedAtMs !== "number" ||
      !Number.isFinite(observedAtMs) ||
      observedAtMs > now + MAX_FUTURE_MS ||
      observedAtMs < now - MAX_LATE_MS
    )
      return fail("invalid_field", "observed_at_ms: not in the future, at most 24 h ago");
    const observation: ClinicianObservation = {
      subjectId,
      enteredBy: user.id,
      observedAtMs,
      enteredAtMs: now,
      supplementalOxygen: o2 as boolean | undefined,
      consciousness: acvpu as Acvpu | undefined,
      spo2Scale: scale as 1 | 2 | undefined,
    };
    const data: ObservationData = {
      subject_id: subjectId,
      entered_by: user.id,
      via,
      observed_at_ms: observedAtMs,
      entered_at_ms: now,
      supplemental_oxygen: (o2 as boolean | undefined) ?? null,
      acvpu: (acvpu as Acvpu | undefined) ?? null,
      spo2_scale: (scale as 1 | 2 | undefined) ?? null,
    };
    // recorded first: the entry is part of the audit trail even if it changes no alert
    this.#record({ type: OBSERVATION_EVENT_TYPE, atMs: now, subjectId, deviceId: null, data: { ...data } });
    this.#actor.via = via;
    try {
      this.#engine.onClinicianObservation(observation);
    } finally {
      this.#actor.via = null;
    }
    return { request_id: requestId, command: "observe", ok: true, news2: this.#news2(subjectId) };
  }
}

/** The control op of `vitalog alerts ack|silence` on the gateway host. */
export const ALERT_ACTION_OP = "alert_action";
/** What an `alert_action` is recorded through. */
export const CLI_VIA = "cli";

/**
 * Registers `alert_action` on the control socket:
 *   { "op": "alert_action", "command": "ack"|"silence", "alert_id", "by", "duration_sec"? }
 *   → the command's reply (`alert`: the alert acted on) or a refusal { "error", "detail" }, counted like any
 *   refused command.
 * The socket is the daemon user's alone (control-socket.ts), so what comes through it is the gateway host's own
 * CLI: recorded `via: "cli"`, never as a consumer.
 */
export function registerAlertActionControl(
  control: ControlOps,
  commands: Pick<CommandProcessor, "handle">,
): void {
  control.handle(ALERT_ACTION_OP, async (args) => {
    const { command, ...body } = args;
    if (command !== "ack" && command !== "silence")
      throw new ControlRefusal("bad_request", "command: ack or silence");
    const reply = commands.handle(CLI_VIA, command, JSON.stringify(body));
    if (!reply.ok)
      throw new ControlRefusal(reply.error ?? "refused", reply.detail ?? reply.error ?? "refused");
    const { ok: _ok, ...rest } = reply;
    return rest;
  });
}
