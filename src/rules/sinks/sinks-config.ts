import { z } from "zod";

/** The `alerts` config slice: alert delivery sinks (issue #5). Placeholder shape; the sinks module owns it. */
export const alertSinksConfigSchema = z.strictObject({}).prefault({});
