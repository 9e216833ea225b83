import { z } from "zod";
import { onceParsed } from "../../config-sections.js";
import { VITAL_KINDS } from "../../reading.js";
import { backoffSchema, DRIVER_DEVICE_ID_PATTERN } from "../ble/ble-config.js";

/** Labels of the line-oriented ASCII format: upper-case letters, digits and underscore. */
export const FIELD_LABEL_PATTERN = /^[A-Z][A-Z0-9_]{0,15}$/;

/** What one labelled field of a line-oriented ASCII frame means: a vital sign, or a device status. */
export const fieldMappingSchema = z.union([
  z.strictObject({
    kind: z.enum(VITAL_KINDS).describe("The vital sign the field carries."),
    unit: z
      .string()
      .min(1)
      .describe("UCUM unit of the value as the device sends it, e.g. `/min`, `%`, `Cel`, `mm[Hg]`."),
  }),
  z.strictObject({
    status: z.enum(["battery_pct", "sensor_contact"]).describe("Or: the device status the field carries."),
  }),
]);

export type FieldMapping = z.infer<typeof fieldMappingSchema>;

/** One serial port with one provisioned device behind it. */
export const serialPortSchema = z.strictObject({
  path: z
    .string()
    .min(1)
    .describe("Device path, e.g. `/dev/ttyUSB0` or a stable `/dev/serial/by-id/…` link."),
  deviceId: z
    .string()
    .regex(DRIVER_DEVICE_ID_PATTERN, "must be 1–64 of A-Z a-z 0-9 . _ -")
    .describe("The provisioned device (registry id) its readings are attributed to; one port per device."),
  definition: z
    .string()
    .min(1)
    .describe(
      "The definition: `ascii-bedside`, `binary-bedside`, or a loaded package's `vendor/model` or `model`, " +
        "checked when the config is loaded.",
    ),
  baudRate: z
    .number()
    .int()
    .min(50)
    .max(4_000_000)
    .optional()
    .describe("Overrides the definition's baud rate."),
  fields: z
    .record(z.string().regex(FIELD_LABEL_PATTERN, "labels are A-Z 0-9 _"), fieldMappingSchema)
    .optional()
    .meta({
      keyName: "label",
      description:
        "`ascii-bedside` only: label → meaning, merged over the default mapping (HR, SPO2, RR, TEMP, SYS, DIA, BAT, PROBE).",
    }),
  ack: z
    .boolean()
    .default(true)
    .describe("Write the definition's device-level acknowledgement after each commit (when it defines one)."),
  frameTimeoutMs: z
    .number()
    .int()
    .min(5)
    .max(10_000)
    .default(200)
    .describe(
      "Silence in the middle of a frame after which it is dropped (`frame_incomplete`) and rescanned.",
    ),
});

/** The `serial` config slice (docs/drivers.md): serialport driver. No ports = serial off. */
export const serialConfigSchema = z
  .strictObject({
    reopen: backoffSchema
      .prefault({})
      .describe("Reopen backoff after the port disappears (unplugged) or fails to open."),
    ports: z
      .array(serialPortSchema)
      .default([])
      .describe("Serial ports, each with one provisioned device behind it."),
  })
  .superRefine((c, ctx) => {
    const paths = new Set<string>();
    const ids = new Set<string>();
    c.ports.forEach((p, i) => {
      if (paths.has(p.path))
        ctx.addIssue({ code: "custom", path: ["ports", i, "path"], message: `duplicate path ${p.path}` });
      if (ids.has(p.deviceId))
        ctx.addIssue({
          code: "custom",
          path: ["ports", i, "deviceId"],
          message: `device ${p.deviceId} is already on another port`,
        });
      paths.add(p.path);
      ids.add(p.deviceId);
    });
  }, onceParsed("ports"))
  .prefault({})
  .describe("The serial driver (docs/drivers.md). No ports: serial off.");

export type SerialConfig = z.infer<typeof serialConfigSchema>;
export type SerialPortConfig = z.infer<typeof serialPortSchema>;
