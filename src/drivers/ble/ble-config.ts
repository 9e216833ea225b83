import { z } from "zod";
import { onceParsed } from "../../config-sections.js";

import { DEVICE_ID_PATTERN } from "../../identifiers.js";

/** The device-id shape (identifiers.ts), under the name the driver configs use. */
export const DRIVER_DEVICE_ID_PATTERN = DEVICE_ID_PATTERN;

/** A BLE device address as BlueZ prints it: six colon-separated octets, upper-case hex. */
export const BLE_ADDRESS_PATTERN = /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/;

/** Reconnect backoff shared by the BLE and serial drivers: exponential with jitter, capped. */
export const backoffSchema = z
  .strictObject({
    initialDelayMs: z
      .number()
      .int()
      .min(10)
      .max(600_000)
      .default(1000)
      .describe("Delay before the first retry; at most `maxDelayMs`."),
    maxDelayMs: z.number().int().min(10).max(3_600_000).default(60_000).describe("Cap of the growing delay."),
    multiplier: z
      .number()
      .min(1)
      .max(10)
      .default(2)
      .describe("Each further delay is the previous one times this."),
    jitter: z
      .number()
      .min(0)
      .max(1)
      .default(0.2)
      .describe(
        "Fraction of each delay drawn at random (0 = none): spreads reconnects after a ward-wide outage.",
      ),
  })
  .refine((b) => b.initialDelayMs <= b.maxDelayMs, {
    message: "initialDelayMs must not exceed maxDelayMs",
    path: ["initialDelayMs"],
    ...onceParsed("initialDelayMs", "maxDelayMs"),
  });

export type BackoffConfig = z.infer<typeof backoffSchema>;

/**
 * One provisioned BLE device. Only devices listed here are ever connected (device-injection defence): a
 * peripheral that advertises a health service but is not listed is refused and counted. `deviceId` must
 * also exist in the device registry (with its subject binding) when the device connects.
 */
export const bleDeviceSchema = z.strictObject({
  address: z
    .string()
    .transform((a) => a.toUpperCase())
    .pipe(z.string().regex(BLE_ADDRESS_PATTERN, "must be a BLE address like AA:BB:CC:DD:EE:01"))
    .describe(
      "The peripheral's address, six colon-separated hex octets, e.g. `AA:BB:CC:DD:EE:01` (case-insensitive).",
    ),
  deviceId: z
    .string()
    .regex(DRIVER_DEVICE_ID_PATTERN, "must be 1–64 of A-Z a-z 0-9 . _ -")
    .describe("The provisioned device (registry id) its readings are attributed to."),
  definition: z
    .string()
    .min(1)
    .optional()
    .describe(
      "The definition to use, as `vendor/model` or just `model` (unique), checked when the config is loaded. " +
        "Absent: the first definition whose service UUIDs (and name prefix) the device offers.",
    ),
  pairedOnly: z.boolean().optional().describe("Overrides `ble.pairedOnly` for this device."),
});

/** The `ble` config slice (docs/drivers.md): the node-ble (BlueZ over D-Bus) driver. Absent = BLE off. */
export const bleConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe("Run the BLE driver."),
    adapter: z
      .string()
      .regex(/^hci[0-9]+$/, "must look like hci0")
      .optional()
      .describe("BlueZ adapter name, e.g. `hci0`. Absent: the first adapter."),
    pairedOnly: z
      .boolean()
      .default(false)
      .describe(
        "Connect only to devices that are paired (bonded) in BlueZ; the operator pairs them with bluetoothctl.",
      ),
    scanIntervalMs: z
      .number()
      .int()
      .min(50)
      .max(60_000)
      .default(2000)
      .describe("How often the discovered-device list is scanned for listed devices."),
    adapterCheckIntervalMs: z
      .number()
      .int()
      .min(50)
      .max(60_000)
      .default(2000)
      .describe("How often the adapter's Powered state is checked (node-ble does not signal power loss)."),
    connectTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(120_000)
      .default(20_000)
      .describe("Give up one connection attempt (connect, services, subscriptions) after this long."),
    reconnect: backoffSchema
      .prefault({})
      .describe("Reconnect backoff after a device disconnects or fails to connect."),
    devices: z
      .array(bleDeviceSchema)
      .default([])
      .describe(
        "The only devices ever connected: a peripheral that advertises a health service but is not listed is " +
          "refused and counted. Each `deviceId` must exist in the device registry when the device connects.",
      ),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.devices.forEach((d, i) => {
      if (seen.has(d.address))
        ctx.addIssue({
          code: "custom",
          path: ["devices", i, "address"],
          message: `duplicate address ${d.address}`,
        });
      seen.add(d.address);
    });
  }, onceParsed("devices"))
  .prefault({})
  .describe("The BLE driver (BlueZ over D-Bus, docs/drivers.md). Off by default.");

export type BleConfig = z.infer<typeof bleConfigSchema>;
export type BleDeviceConfig = z.infer<typeof bleDeviceSchema>;
