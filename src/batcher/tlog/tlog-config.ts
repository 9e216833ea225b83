import { z } from "zod";

const filePath = z.string().min(1);

/**
 * The `tlog` config slice: the tamper-evident log. The log origin and signing-key name is
 * `gateway.origin`. Key files are secrets (mode 0600, never world-readable); relative paths are
 * resolved against `gateway.stateDir` (see `resolveTlogPaths`).
 *
 * ```yaml
 * tlog:
 *   enabled: true                         # default; false runs the gateway without the log
 *   signingKeyFile: /etc/vitalog/signing.key   # default <stateDir>/keys/signing.key (created on first run)
 *   storageKeyFile: /etc/vitalog/storage.key   # default <stateDir>/keys/storage.key (created on first run)
 *   checkpointIntervalSec: 5              # sign a checkpoint this often when the tree grew
 * ```
 */
export const tlogConfigSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "The log is on by default; `false` stores readings without commitments, tree or checkpoints.",
      ),
    signingKeyFile: filePath
      .optional()
      .describe(
        "Ed25519 checkpoint signing key (Go `note` skey text, key name = `gateway.origin`), a secret file. When " +
          "set, it MUST exist (`vitalog keys init` creates it; `vitalog run` never does). Absent: " +
          "`<stateDir>/keys/signing.key`, created on first start. Relative to `gateway.stateDir`.",
      ),
    storageKeyFile: filePath
      .optional()
      .describe(
        "256-bit storage key that wraps the per-subject record keys (`vitalog-storage-key/v1:<base64>`), a secret " +
          "file; same rules as `signingKeyFile`. Absent: `<stateDir>/keys/storage.key`.",
      ),
    checkpointIntervalSec: z
      .number()
      .positive()
      .max(3600)
      .default(5)
      .describe("Sign a checkpoint this often when the tree grew."),
  })
  .prefault({})
  .describe("The tamper-evident log (docs/tamper-evident-log.md).");

export type TlogConfig = z.infer<typeof tlogConfigSchema>;
