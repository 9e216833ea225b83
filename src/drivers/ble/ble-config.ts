import { z } from "zod";

/** The `ble` config slice (issue #6). Placeholder shape; the BLE driver owns it. Absent = BLE off. */
export const bleConfigSchema = z.strictObject({ enabled: z.boolean().default(false) }).prefault({});
