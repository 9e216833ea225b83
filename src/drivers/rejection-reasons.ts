/**
 * The one catalog of reasons a device's input is refused for: a frame or payload that does not decode, a
 * record or reading that ingest does not accept, a device over its budget, an MQTT connection or packet the
 * broker refuses, an MQTT acknowledgement withheld. Every refusal the drivers and ingest make carries one of
 * these reasons, and it is the same string everywhere it appears: the `reason` column of the `rejections`
 * table, the `reason` label of the metrics named in `counters`, and the `reason` of the JSON message a device
 * reads on `<prefix>/<device>/rejected`.
 *
 * Contract
 * - Every reason is a snake_case wire string. Reasons are only ever added to this catalog, never renamed or
 *   removed (an operator's dashboards and alerts key on them; DESIGN.md "Every rejection is explained").
 * - A refusal MUST use a reason listed here, with one exception: a vendor definition's decoder may give a
 *   reason of its own (any snake_case string not listed here; its meaning is the vendor's to document), stored
 *   and counted as it is, under {@link VENDOR_DECODE_REASON}'s rules.
 * - A decoder (a `DecodeError`, or a part of its result's `rejected`) MUST NOT give a catalogued reason outside
 *   {@link DECODER_ORIGINS}: such a reason says what only ingest, a driver, the budget or the broker can know,
 *   and carries consequences a decoder cannot have (not stored, not acknowledged, a session closed …). Given
 *   one, the refusal is a decoder bug ({@link decoderReasonProblem}).
 * - `docs/rejection-reasons.md` is generated from this catalog by {@link rejectionReasonsMarkdown}; a test
 *   fails when the file differs, and another when a refusal in src/ names a reason missing here.
 *
 * Out of scope (other subsystems' vocabularies, each with its own catalog): delivery refusals of alert
 * sinks (src/rules/sinks/), anchor errors (src/anchor/), alert-command refusals (src/rules/commands.ts) and
 * connection-state reasons of BLE and serial links (`vitalog_driver_connection_events_total`).
 */

/** Where a refusal comes from. */
export type RejectionOrigin =
  | "payload"
  | "senml"
  | "validation"
  | "ingest"
  | "decode"
  | "framing"
  | "record_access"
  | "admission"
  | "mqtt_connection"
  | "mqtt_withheld";

/** The counters a reason is a label value of. */
export type RejectionCounter =
  | "vitalog_rejections_total"
  | "vitalog_mqtt_refusals_total"
  | "vitalog_mqtt_ack_withheld_total";

/** One catalog entry. */
export interface RejectionReasonEntry {
  readonly origin: RejectionOrigin;
  /** What the device (or its connection) did, in one sentence an operator can act on. */
  readonly meaning: string;
  /** Whether a refusal with this reason is stored (a `rejections` row or count) and told on MQTT `rejected`. */
  readonly isStored: boolean;
  readonly counters: readonly RejectionCounter[];
}

const REJECTIONS = ["vitalog_rejections_total"] as const;
const REFUSALS = ["vitalog_mqtt_refusals_total"] as const;
const WITHHELD = ["vitalog_mqtt_ack_withheld_total"] as const;

const stored = (origin: RejectionOrigin, meaning: string): RejectionReasonEntry => ({
  origin,
  meaning,
  isStored: true,
  counters: REJECTIONS,
});
const refused = (meaning: string): RejectionReasonEntry => ({
  origin: "mqtt_connection",
  meaning,
  isStored: false,
  counters: REFUSALS,
});
const withheld = (meaning: string): RejectionReasonEntry => ({
  origin: "mqtt_withheld",
  meaning,
  isStored: false,
  counters: WITHHELD,
});

/** Every reason, by wire string. Add entries; never rename or remove one. */
export const REJECTION_REASONS = {
  // --- MQTT payloads (SenML and the plain JSON form): the whole payload, or one record of it ---
  payload_too_large: stored(
    "payload",
    "The MQTT payload is larger than `mqtt.maxPayloadBytes`; kept truncated.",
  ),
  payload_invalid: stored("payload", "The payload could not be decoded and its decoder gave no reason."),
  payload_invalid_utf8: stored("payload", "The payload is not valid UTF-8 [RFC 8259 §8.1]."),
  payload_malformed_json: stored("payload", "The payload is not valid JSON."),
  payload_too_deep: stored("payload", "The JSON nests arrays and objects deeper than the payload limit."),
  too_many_records: stored("payload", "A SenML pack or a `readings` array has more entries than the limit."),
  too_many_labels: stored("payload", "A SenML record or a JSON object has more fields than the limit."),
  name_too_long: stored("payload", "A SenML name or a plain JSON `kind` is longer than the limit."),
  unit_too_long: stored("payload", "A unit (`u`, `bu`, `ucum_`, `unit`) is longer than the limit."),
  string_value_too_long: stored(
    "payload",
    "A SenML string or data value (`vs`, `vd`) is longer than the limit.",
  ),
  time_offset_out_of_range: stored(
    "payload",
    "A SenML relative time lies more than 2^28 s before receipt [RFC 8428 §4.5.3].",
  ),
  json_not_object: stored("payload", "A plain JSON payload is not a JSON object."),
  json_invalid_field: stored("payload", "A field of the plain JSON form has the wrong type or shape."),
  unit_missing: stored("payload", "A SenML record carries a value but no unit (`u`, `bu` or `ucum_`)."),
  // --- SenML (RFC 8428) ---
  senml_not_array: stored("senml", "A SenML pack is not a JSON array [RFC 8428 §4]."),
  senml_empty: stored("senml", "The SenML pack has no records."),
  senml_invalid_record: stored("senml", "A SenML record is not a JSON object."),
  senml_invalid_field: stored(
    "senml",
    "A SenML label has the wrong type (a string `v`, a non-boolean `vb` …).",
  ),
  senml_must_understand: stored(
    "senml",
    "A record carries a label ending in `_` the gateway does not understand [RFC 8428 §4.4].",
  ),
  senml_version_unsupported: stored(
    "senml",
    "The pack's `bver` needs features the gateway does not implement.",
  ),
  senml_invalid_name: stored("senml", "A resolved SenML name breaks the name rules [RFC 8428 §4.5.1]."),
  senml_no_value: stored("senml", "A SenML record carries no value [RFC 8428 §4.5.3]."),
  senml_multiple_values: stored("senml", "A SenML record carries more than one value field."),
  // --- validation of a reading against the hard limits (src/reading.ts) ---
  unknown_vital: stored("validation", "The value names no vital sign the gateway knows."),
  unit_unsupported: stored("validation", "The unit is not one the vital sign may be given in."),
  value_not_finite: stored("validation", "The value is not a finite number."),
  below_physiologic_limit: stored(
    "validation",
    "The value is below the physiologic hard limit of its vital.",
  ),
  above_physiologic_limit: stored(
    "validation",
    "The value is above the physiologic hard limit of its vital.",
  ),
  device_time_invalid: stored("validation", "The device time is not a valid instant."),
  device_time_in_future: stored("validation", "The device time lies too far ahead of the gateway's clock."),
  time_before_storage_window: stored("validation", "The reading is older than the storage window."),
  bp_diastolic_not_below_systolic: stored(
    "validation",
    "A blood pressure's diastolic is not below its systolic.",
  ),
  bp_mean_outside_range: stored("validation", "A mean arterial pressure lies outside diastolic–systolic."),
  // --- ingest: the device, its binding, its status ---
  reading_not_storable: stored(
    "ingest",
    "A reading holds a value the database's STRICT schema would refuse.",
  ),
  battery_out_of_range: stored("ingest", "A battery level is not a percentage in 0–100."),
  subject_erased: stored("ingest", "The device's subject was erased: nothing is kept or scored for it."),
  device_not_provisioned: stored(
    "ingest",
    "The transport address is not configured, or its device is not in the registry.",
  ),
  binding_changed: stored(
    "ingest",
    "The device was removed, re-bound or re-keyed after its session opened or its frame was stamped.",
  ),
  // --- decoders (DecodeError of the built-in definitions; vendor reasons are their own) ---
  frame_too_short: stored("decode", "Fewer octets than the frame's flags or layout require."),
  frame_length_invalid: stored(
    "decode",
    "Octets left over that no field accounts for, where the layout forbids them.",
  ),
  invalid_date_time: stored("decode", "A Date Time field is outside its range (month 13, hour 24 …)."),
  invalid_record_size: stored("decode", "A CGM record's Size octet matches neither the frame nor a layout."),
  crc_mismatch: stored("decode", "A CGM record's E2E-CRC does not match it."),
  crc_missing: stored("decode", "The CGM Feature promises an E2E-CRC the record does not carry."),
  unknown_op_code: stored("decode", "A control-point response names an op code the decoder does not know."),
  unsupported_version: stored(
    "decode",
    "A vendor frame declares a format version its decoder does not know.",
  ),
  decoder_bug: stored(
    "decode",
    "The decoder threw something other than DecodeError, or gave a catalogued reason that is not a decoder's: a bug, logged at error.",
  ),
  frame_unrecognised: stored("decode", "An ascii-bedside line is not a `$…*hh` sentence."),
  unsupported_sentence: stored("decode", "An ascii-bedside sentence other than `VS`."),
  field_invalid: stored("decode", "An ascii-bedside field without `LABEL=`."),
  // --- serial framing ---
  checksum_mismatch: stored("framing", "A serial frame's checksum does not match; it is never acknowledged."),
  frame_too_long: stored("framing", "A serial frame grew beyond its framing's maximum length."),
  frame_incomplete: stored("framing", "A serial frame was cut off: the line went quiet before its end."),
  // --- BLE stored-record fetch (Record Access Control Point) ---
  racp_request_failed: stored("record_access", "Writing the RACP request to the device failed."),
  racp_timeout: stored("record_access", "The device did not answer the RACP request in time."),
  racp_op_code_not_supported: stored("record_access", "RACP response: op code not supported."),
  racp_invalid_operator: stored("record_access", "RACP response: invalid operator."),
  racp_operator_not_supported: stored("record_access", "RACP response: operator not supported."),
  racp_invalid_operand: stored("record_access", "RACP response: invalid operand."),
  racp_abort_unsuccessful: stored("record_access", "RACP response: abort unsuccessful."),
  racp_procedure_not_completed: stored("record_access", "RACP response: procedure not completed."),
  racp_operand_not_supported: stored("record_access", "RACP response: operand not supported."),
  racp_unknown: stored("record_access", "RACP response with a code the profile does not define."),
  // --- admission: per-device budgets (ingest.limits) ---
  rate_limited_messages: {
    origin: "admission",
    meaning: "The device sent more frames per second than its budget; not stored, not acknowledged.",
    isStored: false,
    counters: [...REJECTIONS, ...WITHHELD],
  },
  rate_limited_readings: {
    origin: "admission",
    meaning: "The device sent more readings per second than its budget; not stored, not acknowledged.",
    isStored: false,
    counters: [...REJECTIONS, ...WITHHELD],
  },
  // --- MQTT connections and packets refused by the embedded broker ---
  credentials_missing: refused("A CONNECT without username or password."),
  username_invalid: refused("A username that is not a device or consumer id."),
  client_id_mismatch: refused("The client id is not the username (or `<consumer>/…` for a consumer)."),
  certificate_identity_mismatch: refused("The client certificate's subject CN is not the username."),
  auth_throttled: refused("Too many failed authentications from this address or for this id: backing off."),
  auth_busy: refused("Too many authentications waiting: a reconnect storm or an attack."),
  auth_error: refused("Authentication failed unexpectedly (the registry could not be read)."),
  bad_password: refused("The password does not verify."),
  unknown_device: refused("No such device (refused exactly like a bad password)."),
  not_authenticated: refused("A PUBLISH from a connection with no session."),
  topic_not_allowed: refused("A PUBLISH outside the client's own topics; the connection is closed."),
  subscribe_not_allowed: refused("A SUBSCRIBE outside the client's own topics (SUBACK 0x80)."),
  will_dropped: refused("A CONNECT with a Will message: the will is dropped, the connection goes on."),
  unauthenticated_limit: refused("Too many connections not yet authenticated: the oldest is closed."),
  unauthenticated_address_limit: refused("Too many unauthenticated connections from one address."),
  packet_too_large: refused("A packet larger than `mqtt.maxPacketBytes` (or a CONNECT over its own bound)."),
  protocol_violation: refused("A packet that breaks MQTT (anything but CONNECT first, an invalid protocol)."),
  malformed_packet: refused("A packet that does not parse."),
  packet_timeout: refused("A packet that did not arrive whole within `mqtt.packetTimeoutMs`."),
  connect_timeout: refused("No CONNECT within `mqtt.connectTimeoutMs`."),
  topic_wildcard: refused("A PUBLISH to a topic with `#` or `+`."),
  topic_too_deep: refused("A topic with too many levels."),
  topic_empty: refused("A PUBLISH to an empty topic."),
  topic_filter_invalid: refused("A SUBSCRIBE or UNSUBSCRIBE with an invalid filter."),
  protocol_version_unsupported: refused("A CONNECT with an MQTT version the broker does not speak."),
  client_id_rejected: refused("A client id the broker refuses (CONNACK 2)."),
  queue_limit: refused("A client's outgoing queue overflowed."),
  qos2_inflight_limit: refused("Too many QoS 2 PUBLISHes awaiting PUBREL on one connection."),
  certificate_untrusted: refused("A client certificate that does not chain to `mqtt.tls.caFile`."),
  certificate_missing: refused("No client certificate where one is required."),
  tls_handshake_timeout: refused("A TLS handshake not done within the connect timeout."),
  tls_handshake_aborted: refused("The client left during the TLS handshake."),
  tls_handshake_failed: refused("A TLS handshake OpenSSL refused (not TLS, no common version or cipher)."),
  device_revoked: refused("A live session closed because the device was revoked."),
  // --- MQTT acknowledgements withheld (the device keeps QoS 1/2 data and re-sends it) ---
  storage_low: withheld("Free space is under the storage watermark: evaluated by the rules, not stored."),
  commit_failed: withheld("The group commit failed: nothing of the frame is stored."),
  shutting_down: withheld("The gateway is stopping; the frame is taken again after the restart."),
  disconnected: withheld("The connection ended while the frame was held for the device's budget."),
  internal_error: withheld("Handling the PUBLISH threw: a bug, logged at error; the connection is kept."),
  qos2_original_refused: withheld("A QoS 2 re-send whose first copy was not accepted."),
} as const satisfies Record<string, RejectionReasonEntry>;

/** A catalogued reason. */
export type RejectionReason = keyof typeof REJECTION_REASONS;

/**
 * How a vendor definition's own reason (a `DecodeError`'s, or a part's in `rejected`) is treated: stored and
 * counted as it is (a snake_case string; `DecodeError` refuses any other); the first 128 distinct reasons of a
 * process are metric labels of their own, later ones are counted as `other` (ingest.ts). The vendor documents
 * their meaning.
 */
export const VENDOR_DECODE_REASON =
  "Such a reason is stored and counted as it is; its meaning is the vendor's to document.";

/**
 * The origins whose reasons a decoder may give: each says what is wrong with the frame's own bytes (its
 * payload, SenML, a value against the hard limits, its layout, its framing), and means the same whoever finds
 * it. The built-in decoders use them: SenML and plain JSON (payload, senml, validation), the GATT profiles
 * (decode), the ascii bedside sentence checksum (framing).
 */
export const DECODER_ORIGINS: ReadonlySet<RejectionOrigin> = new Set<RejectionOrigin>([
  "payload",
  "senml",
  "validation",
  "decode",
  "framing",
]);

const SNAKE_CASE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;

/** Whether `reason` is in the catalog. */
export function isCataloguedReason(reason: string): reason is RejectionReason {
  return Object.hasOwn(REJECTION_REASONS, reason);
}

/**
 * Why a decoder may not give `reason` (a `DecodeError`'s, or a part's in its result's `rejected`), or undefined
 * when it may: its own snake_case reason, or a catalogued one of {@link DECODER_ORIGINS}. Not `decoder_bug`,
 * which the gateway gives when a decoder misbehaves. Drivers and ingest store and count a refusal for which
 * this returns a problem as `decoder_bug`, with the problem and the decoder's detail as its detail, and log it
 * at error. Never throws.
 */
export function decoderReasonProblem(reason: string): string | undefined {
  // a vendor's decoder is not type-checked against us: its part's reason may be anything
  if (typeof reason !== "string") return `reason ${String(reason)} is not a string`;
  if (isCataloguedReason(reason)) {
    const { origin } = REJECTION_REASONS[reason];
    if (reason !== "decoder_bug" && DECODER_ORIGINS.has(origin)) return undefined;
    return `reason ${reason} is the catalog's (${origin}), not a decoder's`;
  }
  return SNAKE_CASE.test(reason) ? undefined : `reason ${JSON.stringify(reason)} is not snake_case`;
}

const ORIGIN_TITLES: Readonly<Record<RejectionOrigin, string>> = {
  payload: "MQTT payloads (SenML and the plain JSON form)",
  senml: "SenML (RFC 8428)",
  validation: "Validation of a reading (hard limits, units, time)",
  ingest: "Ingest: the device, its binding, its status",
  decode: "Decoders of the built-in definitions (DecodeError)",
  framing: "Serial framing",
  record_access: "BLE stored-record fetch (RACP)",
  admission: "Admission: per-device budgets",
  mqtt_connection: "MQTT connections and packets refused by the broker",
  mqtt_withheld: "MQTT acknowledgements withheld",
};

/** The titles of the sections a decoder's reasons may come from, quoted and listed. */
function decoderSections(): string {
  const titles = [...DECODER_ORIGINS].map((o) => `"${ORIGIN_TITLES[o]}"`);
  return `${titles.slice(0, -1).join(", ")} and ${titles.at(-1)}`;
}

/** The reference page `docs/rejection-reasons.md`, generated from the catalog. */
export function rejectionReasonsMarkdown(): string {
  const lines = [
    "# Rejection reasons",
    "",
    "<!-- Generated from src/drivers/rejection-reasons.ts by rejectionReasonsMarkdown(); a test keeps it current. -->",
    "",
    "Every refusal of a device's input carries one of these reasons. The same string is the `reason` column",
    "of the `rejections` table (`vitalog rejections`), the `reason` label of the counters named below, and",
    "the `reason` of the JSON message an MQTT device reads on `<prefix>/<device>/rejected`",
    '(`{"reason": "...", "detail": "..."}`). Reasons are only ever added, never renamed.',
    "",
    "A decoder refuses a whole frame with a `DecodeError`, or a part of it in its result's `rejected`, with",
    "one of these reasons:",
    "",
    `- a reason of this catalog from the sections ${decoderSections()}: it means what it says here;`,
    "- a vendor definition's own reason (snake_case, not in this catalog).",
    `  ${VENDOR_DECODE_REASON} Past 128 distinct reasons, new ones are counted under the label`,
    "  `other` (the stored rejection keeps the real reason).",
    "",
    "Any other reason of this catalog (`subject_erased`, `rate_limited_messages` …) says what a decoder cannot",
    "know: a decoder giving one has a bug. That refusal is stored and counted as `decoder_bug`, its detail",
    "naming the reason given, and logged at error.",
    "",
    "Stored: the refusal is written with the next group commit (a sample with detail and payload while the",
    "device's quota per minute lasts, a count after) and, for an MQTT device, told on its `rejected` topic.",
    "Not stored: counted only.",
  ];
  for (const origin of Object.keys(ORIGIN_TITLES) as RejectionOrigin[]) {
    lines.push(
      "",
      `## ${ORIGIN_TITLES[origin]}`,
      "",
      "| reason | meaning | stored | counted in |",
      "|---|---|---|---|",
    );
    for (const [reason, e] of Object.entries(REJECTION_REASONS) as [
      RejectionReason,
      RejectionReasonEntry,
    ][]) {
      if (e.origin !== origin) continue;
      const counters = e.counters.map((c) => `\`${c}\``).join(", ");
      lines.push(`| \`${reason}\` | ${e.meaning} | ${e.isStored ? "yes" : "no"} | ${counters} |`);
    }
  }
  return `${lines.join("\n")}\n`;
}
