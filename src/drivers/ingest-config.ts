import { z } from "zod";

/**
 * A device's admission budget: token buckets on messages (any frame, valid or not) and on readings.
 * Readings are what a frame decodes to; a refused record costs a message but no reading.
 */
export const rateLimitSchema = z.strictObject({
  readingsPerSec: z.number().positive().max(100_000).describe("Sustained readings per second."),
  readingsBurst: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .describe(
      "Readings a device may send at once after a quiet spell (bucket size); at least one frame's worth.",
    ),
  messagesPerSec: z
    .number()
    .positive()
    .max(100_000)
    .describe("Sustained frames (MQTT PUBLISHes, serial frames, notifications) per second, valid or not."),
  messagesBurst: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .describe("Frames a device may send at once after a quiet spell (bucket size)."),
});
export type RateLimit = z.infer<typeof rateLimitSchema>;

/**
 * Defaults fit a multi-parameter wearable or a bedside monitor (a few vitals a second, each in its own
 * frame, plus a stored-record upload now and then). Local engineering choice, to be reviewed: a
 * high-rate device (e.g. a waveform-derived 25 Hz stream) gets a `models` entry of its own.
 */
export const DEFAULT_RATE_LIMIT: RateLimit = {
  readingsPerSec: 25,
  // a full pack (PAYLOAD_LIMITS.records.max) fits the bucket: a stored-record upload goes in one frame
  readingsBurst: 512,
  messagesPerSec: 25,
  messagesBurst: 100,
};

/** The `ingest` config slice; each key's meaning is its description. */
export const ingestConfigSchema = z
  .strictObject({
    limits: z
      .strictObject({
        device: rateLimitSchema
          .partial()
          .prefault({})
          .describe(
            "Every device's admission budget (token buckets); a field left out keeps its built-in value: 25 " +
              "readings/s (burst 512, one full pack), 25 frames/s (burst 100).",
          ),
        models: z.record(z.string().min(1).max(128), rateLimitSchema.partial()).default({}).meta({
          keyName: "model",
          description:
            "A device model's budget (the registry's `model`, set with `devices add --model`), merged field by field over `device`.",
        }),
      })
      .prefault({})
      .describe("Admission budgets per device."),
    disk: z
      .strictObject({
        minFreeBytes: z
          .number()
          .int()
          .min(0)
          .default(64 * 1024 * 1024)
          .describe(
            "Below this many free bytes on the database's file system, new readings are not acknowledged " +
              "(devices keep them) and `technical.storage_low` is raised; alerts still run from memory.",
          ),
        resumeMarginBytes: z
          .number()
          .int()
          .min(0)
          .default(16 * 1024 * 1024)
          .describe(
            "Free space must exceed `minFreeBytes` by this much before acknowledging resumes (hysteresis).",
          ),
        checkIntervalMs: z
          .number()
          .int()
          .min(100)
          .max(60_000)
          .default(1000)
          .describe("How often free space is read (statfs)."),
      })
      .prefault({})
      .describe("The storage watermark."),
    maxPendingReadings: z
      .number()
      .int()
      .min(64)
      .max(1_000_000)
      .default(20_000)
      .describe(
        "Readings and refusals waiting for the group commit beyond which the transports stop reading from the " +
          "sockets of the devices with the most in flight (back-pressure), until the queue drains to half.",
      ),
    maxRssBytes: z
      .number()
      .int()
      .min(32 * 1024 * 1024)
      .default(256 * 1024 * 1024)
      .describe(
        "Resident memory beyond which, likewise, the clients with more than the average in flight are no longer " +
          "read, until it is back under 90 % of it. Keep it below the unit's heap limit and MemoryMax.",
      ),
  })
  .prefault({})
  .describe(
    "What one device may cost the gateway, and the storage watermark below which readings are no longer " +
      'acknowledged (README "A faulty or hostile device").',
  );

export type IngestConfig = z.infer<typeof ingestConfigSchema>;

/** The budget of one device: its model's entry over the device default over the built-in default. */
export function rateLimitFor(config: IngestConfig, model: string | null | undefined): RateLimit {
  const byModel = model && Object.hasOwn(config.limits.models, model) ? config.limits.models[model] : {};
  return { ...DEFAULT_RATE_LIMIT, ...strip(config.limits.device), ...strip(byModel ?? {}) };
}

function strip(o: Partial<RateLimit>): Partial<RateLimit> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<RateLimit>;
}
