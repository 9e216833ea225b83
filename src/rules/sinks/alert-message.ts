/**
 * The wire message every sink delivers for one alert transition, and its audit-event form. Wire strings are
 * snake_case and only ever added to.
 */
import type { AuditEvent } from "../../core/ports.js";
import type { AlertEvent, AlertTransition } from "../alert-event.js";

/** Schema version of {@link AlertMessage}; bumped only for incompatible changes (never so far). */
export const ALERT_MESSAGE_VERSION = 1;

/**
 * One alert transition as delivered on MQTT, to the webhook and in the store: the alarm manager's
 * `AlertEvent` plus an idempotency key and provenance. Every message carries three times: `observed_at_ms`
 * (when the triggering value was measured; null for a technical condition), `raised_at_ms` (when the alert was
 * raised) and `at_ms` (when this transition happened). The HL7 PCD-04 sink carries the same times
 * (hl7-oru-r40.ts).
 */
export interface AlertMessage extends AlertEvent {
  readonly v: typeof ALERT_MESSAGE_VERSION;
  /** Unique per transition (ULID, sorts by time): receivers de-duplicate retries by it. */
  readonly event_id: string;
  readonly gateway_id: string;
  /** The MQTT consumer (station) through which `by` acted, or "cli"; null for automatic transitions. */
  readonly via: string | null;
  /**
   * Present on a transition that pages its `recipient` (an escalation; a raise or re-alarm when that recipient
   * has destinations): where the page goes (recipients.ts). Carried in the webhook's signed body and the log,
   * so a receiver and a later review both see who was called and where.
   */
  readonly page?: AlertPage;
}

/** Where one page goes: the recipient group and each of its destinations (wire snake_case, only added to). */
export interface AlertPage {
  readonly recipient: string;
  /** `address`: the MQTT topic, the webhook address, or null for the MLLP Alert Manager (it routes). */
  readonly destinations: readonly {
    readonly sink: "mqtt" | "webhook" | "mllp";
    readonly address: string | null;
  }[];
}

/** Audit-event type per transition (wire strings for the tamper-evident log). */
export const AUDIT_EVENT_TYPES: Readonly<Record<AlertTransition, string>> = {
  raise: "alert_raised",
  silence: "alert_silenced",
  re_alarm: "alert_re_alarmed",
  acknowledge: "alert_acknowledged",
  escalate: "alert_escalated",
  deescalate: "alert_deescalated",
  latch: "alert_latched",
  resolve: "alert_resolved",
  update: "alert_updated",
};

const ALERT_TYPES = new Set(Object.values(AUDIT_EVENT_TYPES));

/** The audit event recorded (and appended to the tamper-evident log) for one transition. */
export function toAuditEvent(m: AlertMessage): AuditEvent {
  return {
    type: AUDIT_EVENT_TYPES[m.transition],
    atMs: m.at_ms,
    subjectId: m.subject_id,
    deviceId: m.device_id,
    data: m as unknown as Record<string, unknown>,
  };
}

/** The alert message carried by an audit event, or undefined when the event is not an alert transition. */
export function alertMessageOf(e: AuditEvent): AlertMessage | undefined {
  if (!ALERT_TYPES.has(e.type)) return undefined;
  const d = e.data as Partial<AlertMessage>;
  return typeof d.event_id === "string" && typeof d.alert_id === "string" ? (d as AlertMessage) : undefined;
}

/** Audit-event type of a clinician's NEWS2 entry. */
export const OBSERVATION_EVENT_TYPE = "clinician_observation";
