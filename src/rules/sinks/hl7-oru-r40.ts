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
 *
 * Escaping [HL7 v2.6 ch. 2, "Use of escape sequences in text fields"]: every value from configuration or
 * from an alert (application, facility, gateway id, assigning authority, point of care, subject id, alert id,
 * texts) is escaped on its own before it is placed in its field or component, so no value can add a field,
 * component, repetition, subcomponent or segment, whatever it contains. The configuration schema already
 * refuses delimiters in the MSH/PID/PV1 values (sinks-config.ts); escaping here keeps the message well formed
 * for any caller. Control characters are escaped too: a CR would end the segment, a VT or FS the MLLP frame.
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

/**
 * [HL7 v2.6 ch. 2, escape sequences] the escape sequence of each delimiter of this message (MSH-1 `|`, MSH-2 `^~\&`);
 * `\` itself is escaped first in the same pass, so a value that contains text like `\F\` comes back as it was.
 */
const DELIMITER_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\E\\",
  "|": "\\F\\",
  "^": "\\S\\",
  "~": "\\R\\",
  "&": "\\T\\",
};

/** [HL7 v2.6 ch. 2, "Hexadecimal"] `\Xhh\` data, for control characters (CR ends a segment, VT/FS a frame). */
function hexEscape(ch: string): string {
  return `\\X${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}\\`;
}

const ESCAPED = /[\\|^~&\u0000-\u001f\u007f]/g;
const ESCAPED_TEXT = /\r\n|[\\|^~&\u0000-\u001f\u007f]/g;

/**
 * Escapes a free-text value (OBX-5 alert text, the local event code): delimiters as their escape sequences, a
 * line break (CRLF, CR or LF) as the `\.br\` line-break command receivers render in a text display [HL7 v2.6
 * ch. 2, "Formatting codes"], any other control character as `\Xhh\`.
 */
export function escapeHl7(text: string): string {
  return text.replace(ESCAPED_TEXT, (ch) =>
    ch === "\r\n" || ch === "\r" || ch === "\n" ? "\\.br\\" : (DELIMITER_ESCAPES[ch] ?? hexEscape(ch)),
  );
}

/**
 * Escapes an identifier or a name placed in one component of a coded field (MSH-3..6 HD, PID-3 CX, PV1-3 PL,
 * OBR-2/3 EI): delimiters as their escape sequences and every control character, CR and LF included, as
 * `\Xhh\` hexadecimal data: formatting commands such as `\.br\` are defined for the text types TX, FT and CF
 * only [HL7 v2.6 ch. 2, "Formatting codes"], and an identifier must come back byte for byte.
 */
export function escapeHl7Value(text: string): string {
  return text.replace(ESCAPED, (ch) => DELIMITER_ESCAPES[ch] ?? hexEscape(ch));
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
  const v = escapeHl7Value;
  const alertRef = `${v(m.alert_id)}^${v(o.sendingApplication)}^${v(o.gatewayId)}`;
  const { code, abnormal } = eventCode(m.rule_id);
  const type = m.category === "technical" ? "ST" : "SP";
  const priority = PRIORITY[m.priority];
  const by = m.by ? v(m.by) : "";
  const segments = [
    [
      "MSH",
      "^~\\&",
      `${v(o.sendingApplication)}^${v(o.gatewayId)}`,
      v(o.sendingFacility),
      v(o.receivingApplication),
      v(o.receivingFacility),
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
    `PID|||${v(m.subject_id)}^^^${v(o.patientIdAuthority)}^MR`,
    `PV1||I|${v(o.pointOfCare)}`,
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
