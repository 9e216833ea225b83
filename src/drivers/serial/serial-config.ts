import { z } from "zod";
import { onceParsed } from "../../config-sections.js";
import { VITAL_KINDS } from "../../reading.js";
import { backoffSchema, DRIVER_DEVICE_ID_PATTERN } from "../ble/ble-config.js";

/** Labels of the line-oriented ASCII format: upper-case letters, digits and underscore. */
export const FIELD_LABEL_PATTERN = /^[A-Z][A-Z0-9_]{0,15}$/;

/** What one labelled field of a line-oriented ASCII frame means: a vital sign, or a device status. */
export const fieldMappingSchema = z.union([
  z.strictObject({
    kind: z.enum(VITAL_KINDS),
    /** UCUM unit of the value as the device sends it, e.g. "/min", "%", "Cel", "mm[Hg]". */
    unit: z.string().min(1),
  }),
  z.strictObject({ status: z.enum(["battery_pct", "sensor_contact"]) }),
]);

export type FieldMapping = z.infer<typeof fieldMappingSchema>;

/** One serial port with one provisioned device behind it. */
export const serialPortSchema = z.strictObject({
  /** Device path, e.g. /dev/ttyUSB0 or a stable /dev/serial/by-id/… link. */
  path: z.string().min(1),
  /** The provisioned device (registry id) its readings are attributed to. */
  deviceId: z.string().regex(DRIVER_DEVICE_ID_PATTERN, "must be 1–64 of A-Z a-z 0-9 . _ -"),
  /** The definition: "ascii-bedside", "binary-bedside", or a loaded package's "vendor/model" or "model". */
  definition: z.string().min(1),
  /** Overrides the definition's baud rate. */
  baudRate: z.number().int().min(50).max(4_000_000).optional(),
  /** ascii-bedside only: label → meaning, merged over the default mapping (HR, SPO2, RR, TEMP, SYS, DIA, BAT, PROBE). */
  fields: z
    .record(z.string().regex(FIELD_LABEL_PATTERN, "labels are A-Z 0-9 _"), fieldMappingSchema)
    .optional(),
  /** Write the definition's device-level acknowledgement after each commit (when it defines one). */
  ack: z.boolean().default(true),
  /** Silence in the middle of a frame after which it is dropped ("frame_incomplete") and rescanned. */
  frameTimeoutMs: z.number().int().min(5).max(10_000).default(200),
});

/** The `serial` config slice (docs/drivers.md): serialport driver. No ports = serial off. */
export const serialConfigSchema = z
  .strictObject({
    /** Reopen backoff after the port disappears (unplugged) or fails to open. */
    reopen: backoffSchema.prefault({}),
    ports: z.array(serialPortSchema).default([]),
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
  .prefault({});

export type SerialConfig = z.infer<typeof serialConfigSchema>;
export type SerialPortConfig = z.infer<typeof serialPortSchema>;
