import assert from "node:assert/strict";
import { chmodSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Gateway } from "../../src/app/gateway.js";
import { signNextCheckpoint } from "../../src/batcher/tlog/checkpoint-store.js";
import { openTlogForCli } from "../../src/batcher/tlog/open-tlog.js";
import { signCheckpoint } from "../../src/batcher/verifier/checkpoint.js";
import { parseNote } from "../../src/batcher/verifier/note.js";
import { parseVkey } from "../../src/batcher/verifier/signer.js";
import { systemClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { GatewayError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { tempDir } from "../helpers/gateway.js";
import { cli, fillLog, writeConfig } from "./tlog-fixture.js";

const root = tempDir("vitalog-tlog-keys-");
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (extra: string[] = []) => {
  const dir = join(root, `c${n++}`);
  mkdirSync(dir);
  return { dir, cfg: writeConfig(dir, extra) };
};
const start = (cfg: string) =>
  Gateway.start(loadConfig(cfg), { log: createLogger("silent"), clock: systemClock });

describe("tlog keys", () => {
  it("keys init creates 0600 files, prints the vkey and refuses to overwrite", async () => {
    const { dir, cfg } = fresh();
    const r = await cli(["keys", "init", "--config", cfg]);
    assert.equal(r.code, 0, r.stderr);
    const vkey = r.stdout.trim();
    assert.equal(parseVkey(vkey).name, "test.vitalog.invalid/gw/tlog-gw");
    for (const f of ["signing.key", "storage.key"])
      assert.equal(statSync(join(dir, "state/keys", f)).mode & 0o777, 0o600);
    assert.equal((await cli(["keys", "init", "--config", cfg])).code, 1);
    assert.equal((await cli(["keys", "show", "--config", cfg])).stdout.trim(), vkey);
  });

  it("the gateway creates missing default keys on first start and refuses world-readable ones (exit 78)", async () => {
    const { dir, cfg } = fresh();
    const gw = await start(cfg);
    await gw.stop();
    const key = join(dir, "state/keys/signing.key");
    assert.equal(statSync(key).mode & 0o777, 0o600);
    chmodSync(key, 0o644);
    await assert.rejects(
      start(cfg),
      (e) => e instanceof GatewayError && e.code === "KEY_FILE_INSECURE" && e.exitCode === 78,
    );
  });

  it("configured key paths that are missing are a config error (exit 78), never auto-created", async () => {
    const { cfg } = fresh([
      "tlog: { signingKeyFile: /nonexistent/signing.key, storageKeyFile: /nonexistent/storage.key }",
    ]);
    await assert.rejects(
      start(cfg),
      (e) => e instanceof GatewayError && e.code === "KEY_FILE_MISSING" && e.exitCode === 78,
    );
  });

  it("tlog.enabled: false runs without the log", async () => {
    const { cfg } = fresh(["tlog: { enabled: false }"]);
    const gw = await start(cfg);
    assert.equal(gw.status().tlog, undefined);
    await gw.stop();
  });

  it("rotation keeps old checkpoints verifiable and hands over with a checkpoint signed by both keys", async () => {
    const { dir, cfg } = fresh(["tlog: { checkpointIntervalSec: 0.05 }"]);
    const { ids } = await fillLog(cfg, ["pt-r"], 5);
    const oldVkey = (await cli(["keys", "show", "--config", cfg])).stdout.trim();
    const old = await cli(["proof", ids.get("pt-r")![1]!, "--config", cfg]);
    writeFileSync(join(dir, "old.json"), old.stdout);
    const rot = await cli(["keys", "rotate", "--config", cfg]);
    assert.equal(rot.code, 0, rot.stderr);
    const newVkey = rot.stdout.trim();
    assert.notEqual(newVkey, oldVkey);
    assert.equal((await cli(["verify", join(dir, "old.json"), "--vkey", oldVkey])).code, 0);
    const fresh2 = await cli(["proof", ids.get("pt-r")![1]!, "--config", cfg]);
    writeFileSync(join(dir, "new.json"), fresh2.stdout);
    // the new bundle's checkpoint is the handover one: both keys verify it
    assert.equal((await cli(["verify", join(dir, "new.json"), "--vkey", newVkey])).code, 0);
    assert.equal((await cli(["verify", join(dir, "new.json"), "--vkey", oldVkey])).code, 0);
    const list = (await cli(["keys", "list", "--config", cfg])).stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(list.map((k) => k.vkey).sort(), [oldVkey, newVkey].sort());
    const audit = await cli(["audit", "--config", cfg]);
    assert.equal(audit.code, 0, audit.stdout);
    // and the gateway restarts with the new key
    await fillLog(cfg, ["pt-r"], 2, 1_763_800_000_000);
    const tlog = openTlogForCli(loadConfig(cfg));
    try {
      const latest = tlog.checkpoints.latest()!;
      assert.equal(parseNote(latest.note).signatures[0]!.keyId, parseVkey(newVkey).keyId);
    } finally {
      tlog.close();
    }
  });
});

describe("checkpoint signing (compare-and-swap)", () => {
  it("never signs a tree inconsistent with the last signed checkpoint, nor a truncated one", async () => {
    const { cfg } = fresh(["tlog: { checkpointIntervalSec: 0.05 }"]);
    await fillLog(cfg, ["pt-c"], 6);
    const tlog = openTlogForCli(loadConfig(cfg));
    try {
      const { db, records, checkpoints, origin, signer } = tlog;
      const last = checkpoints.latest()!;
      const args = {
        db,
        tiles: records.tiles,
        store: checkpoints,
        origin,
        signers: [signer],
        nowMs: Date.now(),
      };
      assert.equal(signNextCheckpoint(args), undefined, "nothing new to sign");
      // someone else signed a head over a different tree at a larger size (a fork)
      const forged = new Uint8Array(32).fill(7);
      db.exec("DROP TRIGGER tlog_checkpoints_no_delete");
      const size = last.size + 1;
      const note = signCheckpoint({ origin, size, root: forged, extensions: [] }, [signer]);
      db.prepare(
        "INSERT INTO tlog_checkpoints (size, root, note, key_id, signed_at_ms) VALUES (?,?,?,?,?)",
      ).run(size, forged, note, "x", 0);
      db.transaction(() =>
        records.append([], [{ type: "test", atMs: 1, subjectId: null, deviceId: null, data: {} }]),
      )();
      db.transaction(() =>
        records.append([], [{ type: "test", atMs: 2, subjectId: null, deviceId: null, data: {} }]),
      )();
      const before = checkpoints.all().length;
      assert.throws(
        () => signNextCheckpoint(args),
        (e) => e instanceof GatewayError && e.code === "INTEGRITY_FAILURE",
      );
      assert.equal(checkpoints.all().length, before, "nothing signed");
      // a checkpoint beyond the tree: the log was truncated
      db.prepare("DELETE FROM tlog_checkpoints WHERE size = ?").run(size);
      const big = signCheckpoint({ origin, size: 10_000, root: forged, extensions: [] }, [signer]);
      db.prepare(
        "INSERT INTO tlog_checkpoints (size, root, note, key_id, signed_at_ms) VALUES (?,?,?,?,?)",
      ).run(10_000, forged, big, "x", 0);
      assert.throws(() => signNextCheckpoint(args), /truncated/);
    } finally {
      tlog.close();
    }
  });
});

describe("tlog-tiles read API", () => {
  it("serves the checkpoint, hash tiles and entry bundles that hash to the level-0 tile", async () => {
    const { TlogReadApi } = await import("../../src/batcher/tlog/tlog-read-api.js");
    const { leafHash } = await import("../../src/batcher/verifier/merkle.js");
    const { cfg } = fresh(["tlog: { checkpointIntervalSec: 0.05 }"]);
    await fillLog(cfg, ["pt-t"], 10);
    const tlog = openTlogForCli(loadConfig(cfg));
    try {
      const api = new TlogReadApi(tlog.records.tiles, tlog.checkpoints, tlog.records.openings);
      const size = tlog.checkpoints.latest()!.size;
      assert.match(
        new TextDecoder().decode(api.read("checkpoint")!.body),
        /^test\.vitalog\.invalid\/gw\/tlog-gw\n/,
      );
      const tile = api.read(`tile/0/000.p/${size}`)!.body;
      const bundle = api.read(`tile/entries/000.p/${size}`)!.body;
      assert.equal(bundle.length, size * 34);
      for (let i = 0; i < size; i++) {
        const entry = bundle.subarray(i * 34 + 2, i * 34 + 34);
        assert.equal(
          Buffer.from(leafHash(entry)).toString("hex"),
          Buffer.from(tile.subarray(i * 32, i * 32 + 32)).toString("hex"),
        );
      }
      assert.equal(api.read("tile/0/000"), undefined, "full tile not available yet");
      assert.equal(api.read("nonsense"), undefined);
    } finally {
      tlog.close();
    }
  });
});
