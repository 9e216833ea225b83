/**
 * HL7 v2.6 ORU^R40^ORU_R40 for IHE PCD-04 "Report Alert" (the gateway is the Alert Reporter), and the
 * ACK^R40 parser [clinical.md §5.3; IHE PCD TF-2 ACM]. One OBR per alert (OBR-3 = the alert id, reused for
 * every update of the alert), then the seven OBX facets told apart by the 5th component of OBX-4.
 * The facet codes 68481–68485 follow the ACM supplement text; clinical.md §7 item 3 lists them for
 * confirmation against the current TF revision.
 *
 * Times: OBR-7 (observation date/time of the alert) is when the alert was raised, the same in every message of
 * the alert; OBX-14 of facet 2 (the source: device and value) is when the triggering value was measured, when
 * known; OBX-14 of the other facets is when this transition happened.
 */
import type { AlertState, AlertTransition } from "../alert-event.js";
import type { AlertMessage } from "./alert-message.js";

export const MSH21_PCD_ACM = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO";
export const MDC_EVT_ALARM = "196616^MDC_EVT_ALARM^MDC";

export interface Oru40Options {
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  processingId: "P" | "T" | "D";
  patientIdAuthority: string;
  pointOfCare: string;
  gatewayId: string;
}

/** [HL7 v2 §2.7] escape the delimiters inside a text value. */
export function escapeHl7(text: string): string {
  return text
    .replace(/\\/g, "\\E\\")
    .replace(/\|/g, "\\F\\")
    .replace(/\^/g, "\\S\\")
    .replace(/~/g, "\\R\\")
    .replace(/&/g, "\\T\\")
    .replace(/\r\n|\r|\n/g, "\\.br\\");
}

/** HL7 DTM with milliseconds in UTC: YYYYMMDDHHMMSS.sss+0000. */
export function hl7Time(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}+0000`
  );
}

/** IHE ACM event phase per transition. */
export const EVENT_PHASE: Readonly<Record<AlertTransition, string>> = {
  raise: "start",
  escalate: "escalate",
  deescalate: "deescalate",
  resolve: "end",
  acknowledge: "update",
  silence: "update",
  re_alarm: "update",
  latch: "update",
  update: "update",
};

/** MDC_ATTR_ALARM_STATE per alert state. */
const ALARM_STATE: Readonly<Record<AlertState, string>> = {
  raised: "active",
  silenced: "active",
  acknowledged: "active",
  latched: "latched",
  resolved: "inactive",
};

/** MDC_ATTR_ALARM_INACTIVATION_STATE per alert state. */
const INACTIVATION_STATE: Readonly<Record<AlertState, string>> = {
  raised: "enabled",
  silenced: "alarm-paused",
  acknowledged: "alert-acknowledged",
  latched: "enabled",
  resolved: "enabled",
};

const PRIORITY = { high: "PH", medium: "PM", low: "PL" } as const;

/** Facet-1 event identity and OBX-8 abnormality from the rule id. */
function eventCode(ruleId: string): { code: string; abnormal: string } {
  if (/^threshold\..+\.low$/.test(ruleId)) return { code: "196674^MDC_EVT_LO_VAL_LT_LIM^MDC", abnormal: "L" };
  if (/^threshold\..+\.high$/.test(ruleId)) return { code: "196648^MDC_EVT_HI^MDC", abnormal: "H" };
  // no MDC event term for this condition: a local code (HL7 "99zzz" coding system)
  return { code: `${escapeHl7(ruleId)}^${escapeHl7(ruleId)}^99VITALOG`, abnormal: "" };
}

/** Encodes one transition as an ORU^R40 message (segments joined by CR, no MLLP framing). */
export function encodeOruR40(m: AlertMessage, controlId: string, o: Oru40Options, nowMs: number): string {
  const at = hl7Time(m.at_ms);
  const raisedAt = hl7Time(m.raised_at_ms);
  // a snapshot stored before observation times were kept, or a technical condition: the transition time
  const observedAt = typeof m.observed_at_ms === "number" ? hl7Time(m.observed_at_ms) : at;
  const alertRef = `${escapeHl7(m.alert_id)}^${escapeHl7(o.sendingApplication)}^${escapeHl7(o.gatewayId)}`;
  const { code, abnormal } = eventCode(m.rule_id);
  const type = m.category === "technical" ? "ST" : "SP";
  const priority = PRIORITY[m.priority];
  const by = m.by ? escapeHl7(m.by) : "";
  const segments = [
    [
      "MSH",
      "^~\\&",
      `${o.sendingApplication}^${escapeHl7(o.gatewayId)}`,
      o.sendingFacility,
      o.receivingApplication,
      o.receivingFacility,
      hl7Time(nowMs),
      "",
      "ORU^R40^ORU_R40",
      controlId,
      o.processingId,
      "2.6",
      "",
      "",
      "AL",
      "NE",
      "",
      "UNICODE UTF-8",
      "",
      "",
      MSH21_PCD_ACM,
    ].join("|"),
    `PID|||${escapeHl7(m.subject_id)}^^^${o.patientIdAuthority}^MR`,
    `PV1||I|${o.pointOfCare}`,
    `OBR|1|${alertRef}|${alertRef}|${MDC_EVT_ALARM}|||${raisedAt}`,
    obx(1, "ST", code, 1, escapeHl7(m.reason), `${abnormal}~${priority}~${type}`, at, by),
    obx(
      2,
      "ST",
      "68480^MDC_ATTR_ALERT_SOURCE^MDC",
      2,
      escapeHl7(m.device_id ?? m.rule_id),
      "",
      observedAt,
      "",
    ),
    obx(3, "ST", "68481^MDC_ATTR_EVENT_PHASE^MDC", 3, EVENT_PHASE[m.transition], "", at, ""),
    obx(4, "ST", "68482^MDC_ATTR_ALARM_STATE^MDC", 4, ALARM_STATE[m.state], "", at, ""),
    obx(5, "ST", "68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC", 5, INACTIVATION_STATE[m.state], "", at, by),
    obx(6, "ST", "68484^MDC_ATTR_ALARM_PRIORITY^MDC", 6, priority, "", at, ""),
    obx(7, "ST", "68485^MDC_ATTR_ALERT_TYPE^MDC", 7, type, "", at, ""),
  ];
  return segments.join("\r");
}

/** OBX with sub-id 1.0.0.0.<facet>; OBX-16 (responsible observer) carries who acknowledged/silenced. */
function obx(
  setId: number,
  valueType: string,
  id: string,
  facet: number,
  value: string,
  abnormal: string,
  at: string,
  observer: string,
): string {
  const f = [
    "OBX",
    setId,
    valueType,
    id,
    `1.0.0.0.${facet}`,
    value,
    "",
    "",
    abnormal,
    "",
    "",
    "R",
    "",
    "",
    at,
  ];
  if (observer) f.push("", observer);
  return f.join("|");
}

/** The parts of an ACK that matter: MSA-1 code, MSA-2 control id, MSA-3/ERR text. */
export interface Hl7Ack {
  code: string;
  controlId: string;
  text: string;
}

/** Parses an ACK^R40 (or any ACK); undefined when there is no MSA segment. */
export function parseAck(message: string): Hl7Ack | undefined {
  const segments = message.split(/\r\n|\r|\n/);
  const msh = segments.find((s) => s.startsWith("MSH"));
  const fieldSep = msh?.[3] ?? "|";
  const msa = segments.find((s) => s.startsWith(`MSA${fieldSep}`));
  if (!msa) return undefined;
  const f = msa.split(fieldSep);
  const err = segments.find((s) => s.startsWith(`ERR${fieldSep}`));
  return { code: f[1] ?? "", controlId: f[2] ?? "", text: f[3] || (err ?? "") };
}
