import { z } from "zod";

/**
 * The `tlog` config slice: the tamper-evident log (issue #3). Placeholder shape; the log module owns it.
 */
export const tlogConfigSchema = z
  .strictObject({
    /** Sign a checkpoint this often when the tree grew. */
    checkpointIntervalSec: z.number().positive().max(3600).default(5),
  })
  .prefault({});
