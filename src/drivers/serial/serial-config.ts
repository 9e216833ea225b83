import { z } from "zod";

/** The `serial` config slice (issue #6). Placeholder shape; the serial driver owns it. */
export const serialConfigSchema = z
  .strictObject({ ports: z.array(z.strictObject({})).default([]) })
  .prefault({});
