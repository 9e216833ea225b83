/**
 * Signing-key rotation (docs/tamper-evident-log.md, "Keys"). Old checkpoints stay verifiable with the old
 * vkey, which stays in `tlog_signing_keys`; continuity is proven by a handover checkpoint signed by BOTH
 * keys, over a tree that ends with a `signing_key_rotated` event naming both vkeys. The old private key
 * file is replaced.
 * Restart a running gateway afterwards so it signs with the new key.
 */
import type { Config } from "../../config.js";
import { Ed25519Signer } from "../verifier/signer.js";
import { type StoredCheckpoint, signNextCheckpoint } from "./checkpoint-store.js";
import { resolveKeyPaths, writeKeyFile } from "./key-files.js";
import { type CliTlog, registerSigningKey } from "./open-tlog.js";

export interface RotationResult {
  readonly oldVkey: string;
  readonly newVkey: string;
  readonly handover: StoredCheckpoint | undefined;
}

/** Rotates the signing key of an opened log (see module comment). */
export function rotateSigningKey(tlog: CliTlog, config: Readonly<Config>, nowMs: number): RotationResult {
  const next = Ed25519Signer.generate(tlog.origin);
  const newVkey = next.verifier().toVkey();
  const { db } = tlog;
  db.transaction(() => {
    registerSigningKey(db, newVkey, nowMs);
    db.prepare("UPDATE tlog_signing_keys SET retired_at_ms = ? WHERE vkey = ?").run(nowMs, tlog.vkey);
    tlog.records.append(
      [],
      [
        {
          type: "signing_key_rotated",
          atMs: nowMs,
          subjectId: null,
          deviceId: null,
          data: { old_vkey: tlog.vkey, new_vkey: newVkey },
        },
      ],
    );
  }).immediate();
  // the handover checkpoint carries both signatures: a verifier trusting either key accepts it
  const handover = signNextCheckpoint({
    db,
    tiles: tlog.records.tiles,
    store: tlog.checkpoints,
    origin: tlog.origin,
    signers: [next, tlog.signer],
    nowMs,
  });
  writeKeyFile(resolveKeyPaths(config).signingKeyFile, `${next.toSkey()}\n`, true);
  return { oldVkey: tlog.vkey, newVkey, handover };
}
