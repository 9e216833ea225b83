import { createSigningKey, createStorageKey, logOrigin, resolveKeyPaths } from "../batcher/tlog/key-files.js";
import { rotateSigningKey } from "../batcher/tlog/key-rotation.js";
import { openTlogForCli, signingKeyHistory } from "../batcher/tlog/open-tlog.js";
import { loadConfig } from "../config.js";
import { requireFlag } from "./args.js";
import { COMMAND_SPECS } from "./command-specs.js";
import { parseCommand, usageError } from "./options.js";

/**
 * `vitalog keys init` creates the signing key and the storage key (0600; refuses to overwrite) and prints
 * the verifier key (C2SP vkey) on stdout. `show` prints the current vkey, `list` every vkey the log
 * ever signed with (JSON lines), `rotate` replaces the signing key (handover checkpoint signed by both).
 */
export async function keysCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseCommand(COMMAND_SPECS.keys, argv);
  const config = loadConfig(requireFlag(values.config, "config"));
  switch (positionals[0]) {
    case "init": {
      const paths = resolveKeyPaths(config);
      const signer = createSigningKey(paths.signingKeyFile, logOrigin(config));
      createStorageKey(paths.storageKeyFile);
      process.stderr.write(
        `created ${paths.signingKeyFile} and ${paths.storageKeyFile} (mode 0600); back up the storage key: without it no record can be opened\n`,
      );
      out.write(`${signer.verifier().toVkey()}\n`);
      return 0;
    }
    case "show":
    case "list":
    case "rotate": {
      const tlog = openTlogForCli(config);
      try {
        if (positionals[0] === "show") out.write(`${tlog.vkey}\n`);
        else if (positionals[0] === "list") {
          for (const k of signingKeyHistory(tlog.db)) {
            out.write(
              `${JSON.stringify({ vkey: k.vkey, added_at: new Date(k.addedAtMs).toISOString(), retired_at: k.retiredAtMs === null ? null : new Date(k.retiredAtMs).toISOString() })}\n`,
            );
          }
        } else {
          const r = rotateSigningKey(tlog, config, Date.now());
          process.stderr.write(
            `rotated; handover checkpoint at size ${r.handover?.size ?? "?"} signed by both keys; restart the gateway\n`,
          );
          out.write(`${r.newVkey}\n`);
        }
        return 0;
      } finally {
        tlog.close();
      }
    }
    default:
      throw usageError(COMMAND_SPECS.keys);
  }
}
