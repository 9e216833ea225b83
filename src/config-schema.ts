/**
 * The one schema of the config file (STYLE.md "Config"): the sections of the gateway itself here, each
 * module's slice in its own `*-config.ts`. config.ts applies it and runs the checks across sections.
 */
import { z } from "zod";
import { anchorConfigSchema } from "./anchor/anchor-config.js";
import { tlogConfigSchema } from "./batcher/tlog/tlog-config.js";
import { onceParsed } from "./config-sections.js";
import { bleConfigSchema } from "./drivers/ble/ble-config.js";
import { driversConfigSchema } from "./drivers/drivers-config.js";
import { ingestConfigSchema } from "./drivers/ingest-config.js";
import { serialConfigSchema } from "./drivers/serial/serial-config.js";
import { DEVICE_ID_PATTERN, SUBJECT_ID_PATTERN } from "./identifiers.js";
import { LOG_LEVELS } from "./log.js";
import { rulesConfigSchema } from "./rules/config.js";
import { alertSinksConfigSchema } from "./rules/sinks/sinks-config.js";

const port = z.number().int().min(0).max(65535);
const filePath = z.string().min(1);
/** A DNS name, an IPv4 literal or an IPv6 literal (bare or in brackets); never a port. */
const HOST_NAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|\[?[0-9A-Fa-f:.]+\]?)$/;

/**
 * The one schema of the config file: it yields the validator and (through z.infer) the type. Each key's
 * meaning is its `.describe()` text, which docs/configuration.md is generated from
 * (scripts/config-reference.mjs); a key without one fails the reference test.
 */
export const configSchema = z.strictObject({
  gateway: z
    .strictObject({
      id: z
        .string()
        .regex(DEVICE_ID_PATTERN, "must be 1–64 of A-Z a-z 0-9 . _ -")
        .describe("The gateway's id (1–64 of `A-Z a-z 0-9 . _ -`); also its default MQTT and log identity."),
      origin: z
        .string()
        .regex(/^[a-z0-9.-]+(\/[A-Za-z0-9._-]+)*$/, "must look like host/path (C2SP checkpoint origin)")
        .optional()
        .describe(
          "The C2SP log origin and the Ed25519 signing key's name, e.g. `ward7.example-hospital.org/vitalog/gw-01`; " +
            "fixed for the log's life. Absent: `vitalog.invalid/gw/<gateway.id>`.",
        ),
      stateDir: filePath.describe(
        "State directory: the database and the default key files. Created 0700; refused if its group or others " +
          "may write it, or if `<stateDir>/control.sock` would be longer than 107 bytes (the Unix socket limit). " +
          "One gateway at a time uses it.",
      ),
    })
    .describe("The gateway's identity and state directory."),
  mqtt: z
    .strictObject({
      host: z
        .string()
        .min(1)
        .default("127.0.0.1")
        .describe("Address of the plain (unencrypted) listener; loopback unless the operator binds another."),
      port: port.default(1883).describe("Port of the plain listener."),
      plain: z
        .boolean()
        .default(true)
        .describe(
          "`false`: no plain listener at all (devices and consumers connect over `mqtt.tls` only). Refused when " +
            "there is then no listener while `devices` or `alerts.consumers` are configured.",
        ),
      maxPayloadBytes: z
        .number()
        .int()
        .min(64)
        .max(1_048_576)
        .default(16_384)
        .describe(
          "Largest accepted PUBLISH payload; a larger one is refused with reason `payload_too_large`.",
        ),
      maxPacketBytes: z
        .number()
        .int()
        .min(1024)
        .max(4_194_304)
        .optional()
        .describe(
          "Largest MQTT packet after CONNECT, fixed header included; a packet announced larger ends the " +
            "connection as soon as its header arrives (`packet_too_large`). At least `maxPayloadBytes` + 1024. " +
            "Absent: 2 × `maxPayloadBytes` + 1024, so payloads a little over their limit are still refused with " +
            "an explanation (`payload_too_large`, acknowledged).",
        ),
      maxConnectBytes: z
        .number()
        .int()
        .min(128)
        .max(65_536)
        .default(2048)
        .describe(
          "Largest CONNECT packet (`packet_too_large`): a client that has not authenticated gets no more.",
        ),
      connectTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(120_000)
        .default(5000)
        .describe(
          "Time a new connection has to deliver its CONNECT (`connect_timeout`); also the TLS handshake timeout.",
        ),
      packetTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(600_000)
        .default(10_000)
        .describe(
          "Time one packet may take to arrive once its first byte has, while the gateway reads; then the " +
            "connection ends (`packet_timeout`).",
        ),
      maxUnauthenticated: z
        .number()
        .int()
        .min(1)
        .max(100_000)
        .default(512)
        .describe(
          "Connections not yet authenticated, in total; over it the oldest waiting one of the busiest address is " +
            "closed (`unauthenticated_limit`).",
        ),
      maxUnauthenticatedPerAddress: z
        .number()
        .int()
        .min(1)
        .max(100_000)
        .default(32)
        .describe(
          "Connections not yet authenticated from one source address (IPv6: one /64) " +
            "(`unauthenticated_address_limit`).",
        ),
      authFreeFailures: z
        .number()
        .int()
        .min(0)
        .max(1000)
        .default(5)
        .describe(
          "Failed authentications a source address, or a client id, may have before it is backed off (`auth_throttled`).",
        ),
      authBackoffMaxMs: z
        .number()
        .int()
        .min(0)
        .max(3_600_000)
        .default(60_000)
        .describe(
          "Longest backoff of a source address or client id; it doubles from 1 s per further failure.",
        ),
      topicPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/)
        .default("vitalog/dev")
        .describe("Device topics are `<topicPrefix>/<deviceId>/senml` and `…/json`."),
      tls: z
        .strictObject({
          host: z
            .string()
            .min(1)
            .default("127.0.0.1")
            .describe(
              "Address of the TLS listener; loopback unless the operator binds the ward LAN deliberately.",
            ),
          port: port
            .default(8883)
            .describe(
              "Port of the TLS listener; must differ from `mqtt.port` while the plain listener is on.",
            ),
          certFile: filePath.describe("The gateway's certificate (chain), PEM."),
          keyFile: filePath.describe("The key of `certFile`, PEM; a secret file (mode 0600)."),
          caFile: filePath
            .optional()
            .describe(
              "CA that client certificates must chain to (never the public roots); required by `requireClientCert`.",
            ),
          requireClientCert: z
            .boolean()
            .default(false)
            .describe(
              "Every client presents a certificate from `caFile` whose subject CN equals its MQTT username (the " +
                "device id, or the alert consumer id), else CONNACK 5 (`certificate_identity_mismatch`); a missing " +
                "or untrusted certificate ends the handshake (`certificate_missing`, `certificate_untrusted`). " +
                "Refused while the plain listener is on beyond loopback: set `mqtt.plain: false`, or keep " +
                "`mqtt.host` on loopback.",
            ),
        })
        .optional()
        .describe("A second, TLS listener (TLS ≥ 1.2, optional client certificates). Absent: none."),
    })
    .superRefine(
      (m, ctx) => {
        if (m.maxPacketBytes !== undefined && m.maxPacketBytes < m.maxPayloadBytes + 1024) {
          ctx.addIssue({
            code: "custom",
            path: ["maxPacketBytes"],
            message: "must be at least maxPayloadBytes + 1024 (topic and headers)",
          });
        }
      },
      onceParsed("maxPacketBytes", "maxPayloadBytes"),
    )
    .prefault({})
    .describe("The embedded MQTT broker: its listeners and what one connection may cost."),
  storage: z
    .strictObject({
      path: filePath.optional().describe("The SQLite database (WAL). Absent: `<stateDir>/vitalog.db`."),
      synchronous: z
        .enum(["full", "normal"])
        .default("full")
        .describe(
          "`full`: fsync every group commit (survives power loss); `normal`: survives a process crash only.",
        ),
      batchMaxReadings: z
        .number()
        .int()
        .min(1)
        .max(100_000)
        .default(1024)
        .describe("A group commit is written once it holds this many readings …"),
      batchMaxDelayMs: z
        .number()
        .min(0)
        .max(1000)
        .default(4)
        .describe("… or this long after its first reading arrived."),
    })
    .prefault({})
    .describe("The database and its group commit."),
  devices: z
    .array(
      z.strictObject({
        id: z
          .string()
          .regex(DEVICE_ID_PATTERN, "must be 1–64 of A-Z a-z 0-9 . _ -")
          .describe("The device id, also its MQTT username."),
        subject: z
          .string()
          .regex(SUBJECT_ID_PATTERN, "must be 1–128 of A-Z a-z 0-9 . _ : -")
          .describe("The subject (patient) its readings are attributed to."),
        passwordFile: filePath.describe(
          "Secret file holding the device's MQTT password (never inline); stored only as a scrypt hash.",
        ),
        model: z
          .string()
          .optional()
          .describe("The device model, which selects its `ingest.limits.models` entry."),
      }),
    )
    .default([])
    .describe("Devices provisioned from the config file (the `vitalog devices` command is the other way)."),
  admin: z
    .strictObject({
      host: z
        .string()
        .min(1)
        .default("127.0.0.1")
        .describe(
          "Address of the operator HTTP; a host that is not loopback (`localhost`, 127.0.0.0/8, `::1`) requires `tokenFile`.",
        ),
      port: port
        .default(9464)
        .describe("Port of the operator HTTP (`/metrics`, `/status`, `/healthz`); 0 disables it."),
      tokenFile: filePath
        .optional()
        .describe(
          "Secret file with the bearer token (at least 32 characters of `A-Z a-z 0-9 - . _ ~ + /`, e.g. " +
            "`openssl rand -hex 32`); when set, every request needs `Authorization: Bearer <token>`, from any address.",
        ),
      allowedHosts: z
        .array(z.string().regex(HOST_NAME, "must be a host name or an IP address, without a port"))
        .max(64)
        .default([])
        .describe(
          "Host names or IP literals a request may name in `Host`, besides loopback names and `admin.host`.",
        ),
    })
    .prefault({})
    .describe("The operator HTTP: metrics, status and health."),
  log: z
    .strictObject({ level: z.enum(LOG_LEVELS).default("info").describe("The pino log level.") })
    .prefault({})
    .describe("Logging (pino JSON on stdout)."),
  // each slice below is owned by its module, which defines and documents its schema
  ingest: ingestConfigSchema,
  tlog: tlogConfigSchema,
  rules: rulesConfigSchema.prefault({}),
  alerts: alertSinksConfigSchema,
  ble: bleConfigSchema,
  drivers: driversConfigSchema,
  serial: serialConfigSchema,
  anchor: anchorConfigSchema,
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
