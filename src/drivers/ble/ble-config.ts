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
    initialDelayMs: z.number().int().min(10).max(600_000).default(1000),
    maxDelayMs: z.number().int().min(10).max(3_600_000).default(60_000),
    multiplier: z.number().min(1).max(10).default(2),
    /** Fraction of each delay drawn at random (0 = none): spreads reconnects after a ward-wide outage. */
    jitter: z.number().min(0).max(1).default(0.2),
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
  /** The peripheral's address, e.g. "AA:BB:CC:DD:EE:01" (case-insensitive). */
  address: z
    .string()
    .transform((a) => a.toUpperCase())
    .pipe(z.string().regex(BLE_ADDRESS_PATTERN, "must be a BLE address like AA:BB:CC:DD:EE:01")),
  /** The provisioned device (registry id) its readings are attributed to. */
  deviceId: z.string().regex(DRIVER_DEVICE_ID_PATTERN, "must be 1–64 of A-Z a-z 0-9 . _ -"),
  /**
   * The definition to use, as "vendor/model" or just "model" (unique). Absent: the first definition whose
   * service UUIDs (and name prefix) the device offers.
   */
  definition: z.string().min(1).optional(),
  /** Overrides `ble.pairedOnly` for this device. */
  pairedOnly: z.boolean().optional(),
});

/** The `ble` config slice (docs/drivers.md): the node-ble (BlueZ over D-Bus) driver. Absent = BLE off. */
export const bleConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** BlueZ adapter name, e.g. "hci0"; absent: the first adapter. */
    adapter: z
      .string()
      .regex(/^hci[0-9]+$/, "must look like hci0")
      .optional(),
    /** Connect only to devices that are paired/bonded in BlueZ (operator pairs them with bluetoothctl). */
    pairedOnly: z.boolean().default(false),
    /** How often the discovered-device list is scanned for allow-listed devices. */
    scanIntervalMs: z.number().int().min(50).max(60_000).default(2000),
    /** How often the adapter's Powered state is checked (power loss is not signalled through node-ble). */
    adapterCheckIntervalMs: z.number().int().min(50).max(60_000).default(2000),
    /** Give up one connection attempt (connect, services, subscriptions) after this long. */
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(20_000),
    reconnect: backoffSchema.prefault({}),
    devices: z.array(bleDeviceSchema).default([]),
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
  .prefault({});

export type BleConfig = z.infer<typeof bleConfigSchema>;
export type BleDeviceConfig = z.infer<typeof bleDeviceSchema>;
