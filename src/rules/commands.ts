/**
 * Clinician and nurse-station commands (MQTT `<commandPrefix>/ack|silence|observe`, also used by the CLI):
 * validated, applied to the rule engine synchronously, recorded as audit events with who did it (`by`, a
 * person) and through what (`via`, the consumer), answered on `<commandPrefix>/<consumer>/result`.
 *
 * Payloads (JSON; `request_id` is echoed in the reply):
 *   ack      { alert_id, by }
 *   silence  { alert_id, by, duration_sec? }
 *   observe  { subject_id, by, supplemental_oxygen?: boolean, acvpu?: "A"|"C"|"V"|"P"|"U",
 *              spo2_scale?: 1|2, observed_at_ms? }
 * Reply: { request_id, command, ok, error?, detail?, alert?, news2? }.
 */

import type { AuditEvent } from "../drivers/ingest.js";
import { SUBJECT_ID_PATTERN } from "../identifiers.js";
import type { AlertSnapshot } from "./alert-event.js";
import type { RuleEngine } from "./engine.js";
import type { Acvpu, ClinicianObservation } from "./rule.js";
import { OBSERVATION_EVENT_TYPE } from "./sinks/alert-message.js";
import type { ObservationData } from "./sinks/alert-store.js";
import type { CommandVerb } from "./sinks/consumers.js";

/** A person's user id as recorded in the audit trail. */
export const USER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
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
  news2?: unknown;
}

/** Who is acting right now: read by the alert listener to stamp `via` on the transitions it emits. */
export interface ActorContext {
  via: string | null;
}

export class CommandProcessor {
  readonly #engine: RuleEngine;
  readonly #now: () => number;
  readonly #record: (event: AuditEvent) => void;
  readonly #actor: ActorContext;

  constructor(deps: {
    engine: RuleEngine;
    now: () => number;
    record: (event: AuditEvent) => void;
    actor: ActorContext;
  }) {
    this.#engine = deps.engine;
    this.#now = deps.now;
    this.#record = deps.record;
    this.#actor = deps.actor;
  }

  /** Applies one command from `via`; never throws. */
  handle(via: string, verb: CommandVerb, payload: Buffer | string): CommandReply {
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
    const fail = (error: string, detail?: string): CommandReply => ({
      request_id: requestId,
      command: verb,
      ok: false,
      error,
      ...(detail ? { detail } : {}),
    });
    const by = body.by;
    if (typeof by !== "string" || !USER_ID_PATTERN.test(by))
      return fail("invalid_user", "by: the person acting");
    if (verb === "observe") return this.#observe(via, by, body, requestId, fail);
    const alertId = body.alert_id;
    if (typeof alertId !== "string") return fail("invalid_field", "alert_id");
    const duration = body.duration_sec;
    if (duration !== undefined && !(typeof duration === "number" && duration > 0))
      return fail("invalid_field", "duration_sec");
    this.#actor.via = via;
    try {
      const result =
        verb === "ack"
          ? this.#engine.acknowledge(alertId, by)
          : this.#engine.silence(alertId, by, duration as number | undefined);
      if (!result.ok) return fail(result.error);
    } finally {
      this.#actor.via = null;
    }
    return { request_id: requestId, command: verb, ok: true, alert: this.#engine.alarms.get(alertId) };
  }

  #observe(
    via: string,
    by: string,
    body: Record<string, unknown>,
    requestId: string | null,
    fail: (error: string, detail?: string) => CommandReply,
  ): CommandReply {
    const subjectId = body.subject_id;
    if (typeof subjectId !== "string" || !SUBJECT_ID_PATTERN.test(subjectId))
      return fail("invalid_field", "subject_id");
    const { supplemental_oxygen: o2, acvpu, spo2_scale: scale } = body;
    if (o2 !== undefined && typeof o2 !== "boolean") return fail("invalid_field", "supplemental_oxygen");
    if (acvpu !== undefined && !(typeof acvpu === "string" && ACVPU.has(acvpu)))
      return fail("invalid_field", "acvpu: one of A C V P U");
    if (scale !== undefined && scale !== 1 && scale !== 2) return fail("invalid_field", "spo2_scale: 1 or 2");
    if (o2 === undefined && acvpu === undefined && scale === undefined)
      return fail("invalid_field", "nothing observed: supplemental_oxygen, acvpu or spo2_scale");
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
      enteredBy: by,
      observedAtMs,
      enteredAtMs: now,
      supplementalOxygen: o2 as boolean | undefined,
      consciousness: acvpu as Acvpu | undefined,
      spo2Scale: scale as 1 | 2 | undefined,
    };
    const data: ObservationData = {
      subject_id: subjectId,
      entered_by: by,
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
    return { request_id: requestId, command: "observe", ok: true, news2: this.#engine.news2(subjectId) };
  }
}
