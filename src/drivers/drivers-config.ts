import { isAbsolute } from "node:path";
import { z } from "zod";
import { onceParsed } from "../config-sections.js";

/** An npm package name, scoped or not (lower-case, as the registry requires). */
export const NPM_PACKAGE_NAME = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/**
 * The `drivers` config slice: vendor definition packages, enabled by npm package name and loaded once at
 * start-up. Nothing is ever loaded from a data directory or over the network (STYLE.md "Plugins for vendors").
 */
export const driversConfigSchema = z
  .strictObject({
    packages: z
      .array(z.string().regex(NPM_PACKAGE_NAME, "must be an npm package name, e.g. @acme/vitalog-oximeter"))
      .default([])
      .describe(
        'Vendor definition packages to load, by npm name, e.g. `["@acme/vitalog-oximeter"]`; each must export ' +
          "`definitions`, checked when the config is loaded.",
      ),
    packagesFrom: z
      .string()
      .refine(isAbsolute, "must be an absolute path")
      .optional()
      .describe(
        "Absolute path of the npm project the packages are installed in (its node_modules is searched), e.g. " +
          "`/opt/vitalog`. Absent: resolved like Vitalog's own dependencies.",
      ),
  })
  .superRefine((c, ctx) => {
    c.packages.forEach((p, i) => {
      if (c.packages.indexOf(p) !== i)
        ctx.addIssue({ code: "custom", path: ["packages", i], message: `duplicate package ${p}` });
    });
  }, onceParsed("packages"))
  .prefault({})
  .describe(
    "Vendor definition packages, enabled by npm package name and loaded once at start-up; nothing is loaded " +
      "from a data directory or over the network (docs/drivers.md).",
  );

export type DriversConfig = z.infer<typeof driversConfigSchema>;

/**
 * The `drivers` slice of a validated gateway config, or its defaults while the composition root does not
 * declare the key yet.
 */
export function driversSlice(config: object): DriversConfig {
  const raw = (config as { drivers?: unknown }).drivers;
  return driversConfigSchema.parse(raw ?? {});
}
