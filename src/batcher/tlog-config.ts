import { z } from "zod";

const filePath = z.string().min(1);

/**
 * The `tlog` config slice: the tamper-evident log (issue #3). The log origin and signing-key name is
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
    /** The log is on by default; `false` stores readings without commitments, tree or checkpoints. */
    enabled: z.boolean().default(true),
    /**
     * Ed25519 signing key (Go `note` skey text, key name = gateway.origin). When set, the file MUST
     * exist (no auto-creation: a configured path that is missing is a config error, exit 78).
     */
    signingKeyFile: filePath.optional(),
    /** 256-bit storage key that wraps the per-subject record keys. Same rules as signingKeyFile. */
    storageKeyFile: filePath.optional(),
    /** Sign a checkpoint this often when the tree grew. */
    checkpointIntervalSec: z.number().positive().max(3600).default(5),
  })
  .prefault({});

export type TlogConfig = z.infer<typeof tlogConfigSchema>;
