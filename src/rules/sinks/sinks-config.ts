/**
 * The `alerts` config slice: where alert transitions are delivered and who may consume them.
 * Secrets (webhook HMAC key, consumer passwords) are file paths, never inline values [STYLE.md Config].
 */
import { accessSync, constants, statSync } from "node:fs";
import { z } from "zod";
import { onceParsed, type Readable } from "../../config-sections.js";
import { isCredentialRef, secretModeProblem } from "../../credentials.js";

const DEVICE_LIKE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const topicPrefix = z.string().regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, "must be topic levels a/b/c");
const filePath = z.string().min(1);
/** HL7 v2 HD/ST components: no delimiter characters. */
const hl7Text = z.string().regex(/^[^|^~\\&\r\n]*$/, "must not contain HL7 delimiters | ^ ~ \\ &");

/** Retry policy of a durable sink: exponential backoff with jitter, capped, dead-lettered after maxAgeSec. */
const retry = z
  .strictObject({
    initialDelayMs: z
      .number()
      .int()
      .min(1)
      .max(3_600_000)
      .default(1000)
      .describe("Delay before the first retry; at most `maxDelayMs`."),
    maxDelayMs: z
      .number()
      .int()
      .min(1)
      .max(3_600_000)
      .default(60_000)
      .describe("Cap of the exponential backoff."),
    jitter: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe("Fraction of each delay that is randomised (0 = none, 1 = full jitter)."),
    maxAgeSec: z
      .number()
      .positive()
      .max(30 * 86_400)
      .default(86_400)
      .describe(
        "A message still undelivered this long after it was raised is dead-lettered (logged, counted, kept).",
      ),
  })
  .superRefine(
    (r, ctx) => {
      if (r.initialDelayMs > r.maxDelayMs)
        ctx.addIssue({ code: "custom", path: ["initialDelayMs"], message: "must not exceed maxDelayMs" });
    },
    onceParsed("initialDelayMs", "maxDelayMs"),
  )
  .prefault({})
  .describe("Retry policy: exponential backoff with jitter, capped, dead-lettered after `maxAgeSec`.");

/** A recipient group name: one MQTT topic level, so it can name its default page topic. */
export const RECIPIENT_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * One destination of a recipient group (docs/alerting.md "Recipients"):
 * - `mqtt`: a topic on the embedded broker under `<topicPrefix>/page/` (default `<topicPrefix>/page/<recipient>`),
 *   readable by the configured consumers only (consumers.ts);
 * - `webhook`: the configured webhook; `address` (default the recipient's name, e.g. a pager group id) is
 *   carried with the recipient in the signed body (`page`);
 * - `mllp`: the configured IHE PCD Alert Manager. PCD-04 carries no recipient: routing to a person is the
 *   Alert Manager's role [clinical.md §5.3, actor table], so the escalation reaches it as event phase
 *   `escalate` (OBX facet .3) and its own rules pick who is called.
 */
const destination = z.discriminatedUnion("sink", [
  z.strictObject({
    sink: z.literal("mqtt").describe("Where the page goes: `mqtt`, `webhook` or `mllp`."),
    topic: topicPrefix
      .optional()
      .describe(
        "`mqtt` only: the page topic under `<alerts.mqtt.topicPrefix>/page/`. Absent: the recipient's name.",
      ),
  }),
  z.strictObject({
    sink: z.literal("webhook"),
    address: z
      .string()
      .regex(/^[^\r\n]{1,200}$/, "must be 1–200 characters on one line")
      .optional()
      .describe(
        "`webhook` only: carried with the recipient in the signed body (`page`), e.g. a pager group id. Absent: the recipient's name.",
      ),
  }),
  z.strictObject({ sink: z.literal("mllp") }),
]);
export type RecipientDestinationConfig = z.infer<typeof destination>;

const durable = {
  retry,
  maxQueued: z
    .number()
    .int()
    .min(10)
    .max(1_000_000)
    .default(10_000)
    .describe("Most messages held in memory per sink; beyond, the oldest is dead-lettered."),
};

const alertsSectionsSchema = z
  .strictObject({
    mqtt: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Publish alerts on the embedded broker."),
        topicPrefix: topicPrefix
          .default("vitalog/alerts")
          .describe(
            "Alert topics: `<topicPrefix>/events`, `…/active` (retained), `…/alert/<id>` (retained), `…/page/<recipient>`.",
          ),
        commandPrefix: topicPrefix
          .default("vitalog/cmd")
          .describe(
            "Commands from consumers: `<commandPrefix>/ack`, `…/silence`, `…/observe`; replies on `…/<consumer>/result`. Must differ from `topicPrefix`.",
          ),
      })
      .prefault({})
      .describe("Alerts on the embedded MQTT broker."),
    consumers: z
      .array(
        z.strictObject({
          id: z
            .string()
            .regex(DEVICE_LIKE_ID, "must be 1–64 of A-Z a-z 0-9 . _ -")
            .describe("MQTT username and client id; checked before device ids."),
          passwordFile: filePath.describe("Secret file holding the consumer's MQTT password."),
          canAcknowledge: z
            .boolean()
            .default(false)
            .describe("May acknowledge and silence alerts (always attributed to the named user)."),
          canObserve: z
            .boolean()
            .default(false)
            .describe("May enter clinician observations (NEWS2 air/oxygen, ACVPU, SpO2 scale)."),
        }),
      )
      .default([])
      .describe(
        "Non-device MQTT clients that read the alerts: nurse-station screens, integration engines, the CLI.",
      ),
    webhook: z
      .strictObject({
        url: z
          .url({ protocol: /^https?$/ })
          .describe("Where each alert transition and page is POSTed (http/https)."),
        secretFile: filePath.describe(
          "Secret file with the HMAC-SHA256 key that signs each body (the file's bytes, one trailing newline trimmed).",
        ),
        timeoutMs: z.number().int().min(100).max(60_000).default(5000).describe("Per-request timeout."),
        ...durable,
      })
      .optional()
      .describe("A durable HTTP sink (docs/alerting.md). Absent: none."),
    mllp: z
      .strictObject({
        host: z.string().min(1).describe("Host of the IHE PCD Alert Manager (MLLP)."),
        port: z.number().int().min(1).max(65535).describe("Its port."),
        sendingApplication: hl7Text.default("VITALOG").describe("MSH-3, sending application."),
        sendingFacility: hl7Text.default("").describe("MSH-4, sending facility."),
        receivingApplication: hl7Text.default("").describe("MSH-5, receiving application."),
        receivingFacility: hl7Text.default("").describe("MSH-6, receiving facility."),
        processingId: z
          .enum(["P", "T", "D"])
          .default("P")
          .describe("MSH-11: `P` production, `T` training, `D` debugging."),
        patientIdAuthority: hl7Text
          .default("")
          .describe("PID-3 assigning authority of the subject id (e.g. the hospital MRN namespace)."),
        pointOfCare: hl7Text
          .default("")
          .describe("PV1-3 point of care (ward); essential when the patient is unknown [IHE PCD ACM]."),
        ackTimeoutMs: z
          .number()
          .int()
          .min(100)
          .max(120_000)
          .default(5000)
          .describe(
            "Wait this long for the ACK^R40 before closing the connection and retrying (Dräger AR: 5 s).",
          ),
        connectTimeoutMs: z
          .number()
          .int()
          .min(100)
          .max(120_000)
          .default(5000)
          .describe("TCP connect timeout."),
        ...durable,
      })
      .optional()
      .describe("A durable IHE PCD-04 sink over MLLP, to an Alert Manager (docs/alerting.md). Absent: none."),
    sinkDownAlarmSec: z
      .number()
      .positive()
      .max(3600)
      .default(30)
      .describe(
        "A sink failing this long raises `technical.alert_sink_down` (DAS communication failure, IEC 60601-1-8 §6.11).",
      ),
    recipients: z
      .record(
        z.string().regex(RECIPIENT_NAME, "must be 1–64 of A-Z a-z 0-9 _ -"),
        z
          .array(destination)
          .min(1)
          .describe(
            "The recipient group's destinations, each `{ sink: mqtt | webhook | mllp, … }`; at least one.",
          ),
      )
      .optional()
      .meta({
        keyName: "recipient",
        description:
          "Where each recipient group of the escalation ladder (and, when listed, the primary recipient) is paged. " +
          "Absent: an MQTT page topic `<topicPrefix>/page/<recipient>` for every ladder recipient. Present: the " +
          'complete map; it must list every `rules.alarms.escalation` recipient (docs/alerting.md "Recipients").',
      }),
    pageConfirmSec: z
      .number()
      .positive()
      .max(600)
      .default(5)
      .describe(
        "A page to the webhook or the MLLP Alert Manager not confirmed within this time counts as undelivered " +
          "(`technical.escalation_undeliverable`); 5 s like the Dräger PCD-04 watchdog [clinical.md §5.1].",
      ),
    noConsumer: z
      .strictObject({
        graceSec: z
          .number()
          .min(0)
          .max(3600)
          .default(30)
          .describe(
            "Time without any listener, from start-up or the last one leaving, before the alarm (local engineering choice, to be reviewed).",
          ),
        priority: z
          .enum(["high", "medium", "low"])
          .default("medium")
          .describe(
            "Its priority, like `technical.alert_sink_down` (local engineering choice, to be reviewed).",
          ),
        countDurableSinks: z
          .boolean()
          .default(false)
          .describe(
            "A webhook or MLLP sink that is up counts as a listener (for a receiver that itself guarantees dissemination).",
          ),
      })
      .prefault({})
      .describe(
        "`technical.no_alert_consumer` [IEC 60601-1-8 §6.11]: raised when nobody listens to the alerts.",
      ),
  })
  // each check runs once the keys it reads parsed, so its problems are listed with every other one
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.consumers.forEach((x, i) => {
      if (seen.has(x.id))
        ctx.addIssue({ code: "custom", path: ["consumers", i, "id"], message: `duplicate ${x.id}` });
      seen.add(x.id);
    });
  }, onceParsed("consumers"))
  .superRefine((c, ctx) => {
    if (c.mqtt.commandPrefix === c.mqtt.topicPrefix)
      ctx.addIssue({
        code: "custom",
        path: ["mqtt", "commandPrefix"],
        message: "must differ from topicPrefix",
      });
  }, onceParsed("mqtt"));

/** The `alerts` slice; absent, every default. */
export const alertSinksConfigSchema = alertsSectionsSchema
  .prefault({})
  .describe("Where alert transitions are delivered and who may read them (docs/alerting.md).");

export type AlertsConfig = z.infer<typeof alertSinksConfigSchema>;

/**
 * Resolves the slice's relative file paths with `abs` (config.ts resolves against the config file's
 * directory) and appends a problem for every missing, unreadable or world-readable secret file and, given the
 * alarm ladder, every recipient problem. Called from `parseConfig` (the config is not frozen yet
 * there); `createRules` re-checks. When part of the slice did not parse, `alerts` holds what can be read of it
 * (each consumer on its own) and `unparsed` names the keys that did not parse whole: each check runs on the
 * parts it reads, so a problem elsewhere hides none of these.
 */
export function resolveAlertsConfig(
  alerts: Readable<AlertsConfig>,
  abs: (p: string) => string,
  problems: { path: string; message: string }[],
  alarms?: LadderRecipients,
  unparsed: ReadonlySet<string> = new Set(),
): void {
  if (alarms && alerts.mqtt && !unparsed.has("mqtt") && !unparsed.has("recipients")) {
    // a sink whose own section did not parse counts as configured: its problem is listed already
    const sinks = {
      // both parsed whole (not in `unparsed`)
      mqtt: alerts.mqtt as AlertsConfig["mqtt"],
      recipients: alerts.recipients as AlertsConfig["recipients"],
      webhook: unparsed.has("webhook") || alerts.webhook,
      mllp: unparsed.has("mllp") || alerts.mllp,
    };
    problems.push(...recipientProblems(sinks, alarms));
  }
  alerts.consumers?.forEach((c, i) => {
    if (c?.passwordFile === undefined) return;
    c.passwordFile = abs(c.passwordFile);
    secretFileProblem(c.passwordFile, `alerts.consumers.${i}.passwordFile`, problems);
  });
  if (alerts.webhook?.secretFile !== undefined) {
    alerts.webhook.secretFile = abs(alerts.webhook.secretFile);
    secretFileProblem(alerts.webhook.secretFile, "alerts.webhook.secretFile", problems);
  }
}

/**
 * Every secret-file problem of the slice, without modifying it, and, given the alarm ladder, every recipient
 * problem ({@link recipientProblems}).
 */
export function alertsConfigProblems(
  alerts: AlertsConfig,
  alarms?: LadderRecipients,
): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  alerts.consumers.forEach((c, i) => {
    secretFileProblem(c.passwordFile, `alerts.consumers.${i}.passwordFile`, problems);
  });
  if (alerts.webhook) secretFileProblem(alerts.webhook.secretFile, "alerts.webhook.secretFile", problems);
  if (alarms) problems.push(...recipientProblems(alerts, alarms));
  return problems;
}

/** The part of `rules.alarms` that names recipients. */
export interface AlarmRecipients extends LadderRecipients {
  readonly primaryRecipient: string;
}

/** The escalation ladder of `rules.alarms`, which the recipient checks read. */
export interface LadderRecipients {
  readonly escalation: Readonly<Record<string, readonly { readonly recipient: string }[]>>;
}

/** A resolved destination: `address` is the MQTT topic, the webhook address, or null (MLLP: the Alert Manager routes). */
export interface RecipientDestination {
  readonly sink: "mqtt" | "webhook" | "mllp";
  readonly address: string | null;
}

/** Every recipient named by a ladder step, in ladder order, once each. */
export function ladderRecipients(alarms: LadderRecipients): string[] {
  const names = new Set<string>();
  for (const steps of Object.values(alarms.escalation)) for (const s of steps) names.add(s.recipient);
  return [...names];
}

/**
 * The destinations of each recipient group: `alerts.recipients` when given (the complete map), else an MQTT
 * page topic per ladder recipient (the primary recipient is then reached through the alert stream itself:
 * `<topicPrefix>/events`, `/active`, and the durable sinks). Names that cannot form a topic level get none.
 */
export function effectiveRecipients(
  alerts: Pick<AlertsConfig, "mqtt" | "recipients">,
  alarms: LadderRecipients,
): Map<string, RecipientDestination[]> {
  const pageTopic = (name: string) => `${alerts.mqtt.topicPrefix}/page/${name}`;
  const out = new Map<string, RecipientDestination[]>();
  if (alerts.recipients === undefined) {
    for (const name of ladderRecipients(alarms)) {
      if (alerts.mqtt.enabled && RECIPIENT_NAME.test(name))
        out.set(name, [{ sink: "mqtt", address: pageTopic(name) }]);
    }
    return out;
  }
  for (const [name, list] of Object.entries(alerts.recipients)) {
    out.set(
      name,
      list.map((d) =>
        d.sink === "mqtt"
          ? { sink: "mqtt", address: d.topic ?? pageTopic(name) }
          : d.sink === "webhook"
            ? { sink: "webhook", address: d.address ?? name }
            : { sink: "mllp", address: null },
      ),
    );
  }
  return out;
}

/**
 * Recipient problems, for the config's one pass (exit 78): a ladder recipient without a destination, and a
 * destination whose sink is not configured or whose topic no consumer may read. A ladder rung that can never
 * reach anyone is refused at start rather than found at 3 a.m.
 */
export function recipientProblems(
  alerts: Pick<AlertsConfig, "mqtt" | "recipients"> & { readonly webhook?: unknown; readonly mllp?: unknown },
  alarms: LadderRecipients,
): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const resolved = effectiveRecipients(alerts, alarms);
  for (const [priority, steps] of Object.entries(alarms.escalation)) {
    steps.forEach((step, i) => {
      if (resolved.has(step.recipient)) return;
      const path = `rules.alarms.escalation.${priority}.${i}.recipient`;
      const why =
        alerts.recipients !== undefined
          ? "is not listed in alerts.recipients"
          : !alerts.mqtt.enabled
            ? "has no default page topic with alerts.mqtt.enabled false: list it in alerts.recipients"
            : "cannot name a page topic (1–64 of A-Z a-z 0-9 _ -): list it in alerts.recipients";
      problems.push({ path, message: `recipient ${step.recipient} ${why}` });
    });
  }
  const pagePrefix = `${alerts.mqtt.topicPrefix}/page/`;
  for (const [name, list] of Object.entries(alerts.recipients ?? {})) {
    list.forEach((d, i) => {
      const path = `alerts.recipients.${name}.${i}`;
      if (d.sink === "mqtt" && !alerts.mqtt.enabled)
        problems.push({ path, message: "sink mqtt needs alerts.mqtt.enabled" });
      if (d.sink === "mqtt" && d.topic !== undefined && !d.topic.startsWith(pagePrefix))
        problems.push({ path: `${path}.topic`, message: `must be under ${pagePrefix}` });
      if (d.sink === "webhook" && !alerts.webhook)
        problems.push({ path, message: "sink webhook needs alerts.webhook" });
      if (d.sink === "mllp" && !alerts.mllp) problems.push({ path, message: "sink mllp needs alerts.mllp" });
    });
  }
  return problems;
}

function secretFileProblem(file: string, path: string, problems: { path: string; message: string }[]): void {
  // an unresolvable credential reference was reported by config.ts (resolveCredentialPaths)
  if (isCredentialRef(file)) return;
  try {
    accessSync(file, constants.R_OK);
  } catch {
    problems.push({ path, message: `file ${file} is missing or unreadable` });
    return;
  }
  const problem = secretModeProblem(file, statSync(file).mode);
  if (problem !== undefined) problems.push({ path, message: problem });
}
