/**
 * The `alerts` config slice (issue #5): where alert transitions are delivered and who may consume them.
 * Secrets (webhook HMAC key, consumer passwords) are file paths, never inline values [STYLE.md Config].
 */
import { accessSync, constants, statSync } from "node:fs";
import { z } from "zod";
import { isCredentialRef, secretModeProblem } from "../../credentials.js";

const DEVICE_LIKE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const topicPrefix = z.string().regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, "must be topic levels a/b/c");
const filePath = z.string().min(1);
/** HL7 v2 HD/ST components: no delimiter characters. */
const hl7Text = z.string().regex(/^[^|^~\\&\r\n]*$/, "must not contain HL7 delimiters | ^ ~ \\ &");

/** Retry policy of a durable sink: exponential backoff with jitter, capped, dead-lettered after maxAgeSec. */
const retry = z
  .strictObject({
    /** Delay before the first retry. */
    initialDelayMs: z.number().int().min(1).max(3_600_000).default(1000),
    /** Cap of the exponential backoff. */
    maxDelayMs: z.number().int().min(1).max(3_600_000).default(60_000),
    /** Fraction of each delay that is randomised (0 = none, 1 = full jitter). */
    jitter: z.number().min(0).max(1).default(0.5),
    /** A message still undelivered this long after it was raised is dead-lettered (logged, counted, kept). */
    maxAgeSec: z
      .number()
      .positive()
      .max(30 * 86_400)
      .default(86_400),
  })
  .prefault({});

const durable = {
  retry,
  /** Most messages held in memory per sink; beyond, the oldest is dead-lettered. */
  maxQueued: z.number().int().min(10).max(1_000_000).default(10_000),
};

export const alertSinksConfigSchema = z
  .strictObject({
    mqtt: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Alert topics on the embedded broker: <topicPrefix>/events, /active (retained), /alert/<id> (retained). */
        topicPrefix: topicPrefix.default("vitalog/alerts"),
        /** Commands from consumers: <commandPrefix>/ack, /silence, /observe; replies on /<consumer>/result. */
        commandPrefix: topicPrefix.default("vitalog/cmd"),
      })
      .prefault({}),
    /** Non-device MQTT clients: nurse-station screens, integration engines, the CLI. */
    consumers: z
      .array(
        z.strictObject({
          /** MQTT username = client id; checked before device ids. */
          id: z.string().regex(DEVICE_LIKE_ID, "must be 1–64 of A-Z a-z 0-9 . _ -"),
          passwordFile: filePath,
          /** May acknowledge and silence alerts (always attributed to the named user). */
          canAcknowledge: z.boolean().default(false),
          /** May enter clinician observations (NEWS2 air/oxygen, ACVPU, SpO2 scale). */
          canObserve: z.boolean().default(false),
        }),
      )
      .default([]),
    webhook: z
      .strictObject({
        url: z.url({ protocol: /^https?$/ }),
        /** HMAC-SHA256 key (the file's bytes, one trailing newline trimmed). */
        secretFile: filePath,
        timeoutMs: z.number().int().min(100).max(60_000).default(5000),
        ...durable,
      })
      .optional(),
    mllp: z
      .strictObject({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535),
        /** MSH-3/4/5/6. */
        sendingApplication: hl7Text.default("VITALOG"),
        sendingFacility: hl7Text.default(""),
        receivingApplication: hl7Text.default(""),
        receivingFacility: hl7Text.default(""),
        /** MSH-11: P production, T training, D debugging. */
        processingId: z.enum(["P", "T", "D"]).default("P"),
        /** PID-3 assigning authority of the subject id (e.g. the hospital MRN namespace). */
        patientIdAuthority: hl7Text.default(""),
        /** PV1-3 point of care (ward); essential when the patient is unknown [IHE PCD ACM]. */
        pointOfCare: hl7Text.default(""),
        /** Wait this long for the ACK^R40 before closing the connection and retrying (Dräger AR: 5 s). */
        ackTimeoutMs: z.number().int().min(100).max(120_000).default(5000),
        connectTimeoutMs: z.number().int().min(100).max(120_000).default(5000),
        ...durable,
      })
      .optional(),
    /** A sink failing this long raises a technical alarm (DAS communication failure, IEC 60601-1-8 §6.11). */
    sinkDownAlarmSec: z.number().positive().max(3600).default(30),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.consumers.forEach((x, i) => {
      if (seen.has(x.id))
        ctx.addIssue({ code: "custom", path: ["consumers", i, "id"], message: `duplicate ${x.id}` });
      seen.add(x.id);
    });
    if (c.mqtt.commandPrefix === c.mqtt.topicPrefix)
      ctx.addIssue({
        code: "custom",
        path: ["mqtt", "commandPrefix"],
        message: "must differ from topicPrefix",
      });
    for (const s of [c.webhook, c.mllp]) {
      if (s && s.retry.initialDelayMs > s.retry.maxDelayMs) {
        const path = [s === c.webhook ? "webhook" : "mllp", "retry", "initialDelayMs"];
        ctx.addIssue({ code: "custom", path, message: "must not exceed maxDelayMs" });
      }
    }
  })
  .prefault({});

export type AlertsConfig = z.infer<typeof alertSinksConfigSchema>;

/**
 * Resolves the slice's relative file paths with `abs` (config.ts resolves against the config file's
 * directory) and appends a problem for every missing, unreadable or world-readable secret file. For the
 * lead to call from `parseConfig` (the config is not frozen yet there); `attachRules` re-checks.
 */
export function resolveAlertsConfig(
  alerts: AlertsConfig,
  abs: (p: string) => string,
  problems: { path: string; message: string }[],
): void {
  alerts.consumers.forEach((c, i) => {
    c.passwordFile = abs(c.passwordFile);
    secretFileProblem(c.passwordFile, `alerts.consumers.${i}.passwordFile`, problems);
  });
  if (alerts.webhook) {
    alerts.webhook.secretFile = abs(alerts.webhook.secretFile);
    secretFileProblem(alerts.webhook.secretFile, "alerts.webhook.secretFile", problems);
  }
}

/** Every secret-file problem of the slice, without modifying it. */
export function alertsConfigProblems(alerts: AlertsConfig): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  alerts.consumers.forEach((c, i) => {
    secretFileProblem(c.passwordFile, `alerts.consumers.${i}.passwordFile`, problems);
  });
  if (alerts.webhook) secretFileProblem(alerts.webhook.secretFile, "alerts.webhook.secretFile", problems);
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
