/**
 * A device's binding is provable like a reading: `vitalog proof --device ID` writes the bundle of the device's
 * latest binding event in the log, and `vitalog verify` accepts it offline; after a re-binding the proof is of
 * the new binding. Real gateway state (SQLite file, commit thread, signed checkpoints), real CLI processes.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { Gateway } from "../../src/app/gateway.js";
import { systemClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { cli, fillLog, writeConfig } from "../batcher/tlog-fixture.js";
import { tempDir, waitFor } from "../helpers/gateway.js";

const root = tempDir("vitalog-device-proof-");
after(() => rmSync(root, { recursive: true, force: true }));

/** The record of a bundle's opening (canonical JSON). */
const recordOf = (bundle: string) =>
  JSON.parse((JSON.parse(bundle) as { opening: { record: string } }).opening.record) as Record<
    string,
    unknown
  >;

describe("vitalog proof --device", () => {
  it("proves the device's latest binding event, verified offline, and the new one after a re-binding", async () => {
    const dir = join(root, "bound");
    mkdirSync(dir);
    const cfg = writeConfig(dir);
    // dev-0 bound to pt-a, readings stored, then removed; a checkpoint signed over all of it
    await fillLog(cfg, ["pt-a"], 2);
    const vkey = (await cli(["keys", "show", "--config", cfg])).stdout.trim();
    const verify = async (bundle: string) => {
      const file = join(dir, `bundle-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(file, bundle);
      return cli(["verify", file, "--vkey", vkey]);
    };

    const removed = await cli(["proof", "--device", "dev-0", "--config", cfg]);
    assert.equal(removed.code, 0, removed.stderr);
    const unbound = recordOf(removed.stdout);
    assert.deepEqual(
      [
        unbound.type,
        unbound.event,
        unbound.device,
        unbound.subject,
        (unbound.data as { cause: string }).cause,
      ],
      ["event", "device_unbound", "dev-0", "pt-a", "removed"],
    );
    const ok = await verify(removed.stdout);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);

    // bound again, to pt-b, by a running gateway that signs a checkpoint over it
    const gw = await Gateway.start(loadConfig(cfg), { log: createLogger("silent"), clock: systemClock });
    try {
      await gw.registry.add({ id: "dev-0", subjectId: "pt-b", password: "dev-0-secret" }, Date.now());
      const status = () => gw.status().tlog as { tree_size: number; checkpoint_size: number };
      await waitFor(() => status().checkpoint_size === status().tree_size, 10_000, "checkpoint");
    } finally {
      await gw.stop();
    }
    const bound = await cli(["proof", "--device", "dev-0", "--config", cfg]);
    assert.equal(bound.code, 0, bound.stderr);
    const record = recordOf(bound.stdout);
    assert.deepEqual([record.event, record.subject], ["device_bound", "pt-b"], "the binding in force");
    assert.equal((await verify(bound.stdout)).code, 0);

    // a bundle whose record was changed to name another subject does not verify
    const forged = JSON.parse(bound.stdout) as { opening: { record: string } };
    forged.opening.record = forged.opening.record.replace("pt-b", "pt-c");
    assert.equal((await verify(JSON.stringify(forged))).code, 1);
  });

  it("refuses when a later logged event was modified, and names later events of erased subjects", async () => {
    const dir = join(root, "later");
    mkdirSync(dir);
    const cfg = writeConfig(dir);
    await fillLog(cfg, ["pt-a"], 1);
    // dev-0 (removed from pt-a) bound to pt-c and removed again, pt-c erased; a checkpoint over all of it
    for (const args of [
      ["devices", "add", "--id", "dev-0", "--subject", "pt-c"],
      ["devices", "remove", "--id", "dev-0"],
      ["subjects", "erase", "pt-c", "--yes"],
    ]) {
      const r = await cli([...args, "--config", cfg]);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
    const gw = await Gateway.start(loadConfig(cfg), { log: createLogger("silent"), clock: systemClock });
    try {
      gw.recordEvent({ type: "fixture_marker", atMs: Date.now(), subjectId: null, deviceId: null, data: {} });
      const status = () => gw.status().tlog as { tree_size: number; checkpoint_size: number };
      await waitFor(() => status().checkpoint_size === status().tree_size, 10_000, "checkpoint");
    } finally {
      await gw.stop();
    }
    const erased = await cli(["proof", "--device", "dev-0", "--config", cfg]);
    assert.equal(erased.code, 0, erased.stderr);
    assert.deepEqual(
      [recordOf(erased.stdout).event, recordOf(erased.stdout).subject],
      ["device_unbound", "pt-a"],
    );
    assert.match(
      erased.stderr,
      /later logged event\(s\) belong to erased subjects; a binding of dev-0 to an erased subject/,
    );

    // the event after it that names no erased subject (the fixture's marker) modified in storage
    const db = new Database(loadConfig(cfg).storage.path!);
    try {
      db.exec("DROP TRIGGER IF EXISTS tlog_records_only_shred");
      const last = db
        .prepare(
          "SELECT leaf_index, sealed FROM tlog_records WHERE sealed IS NOT NULL ORDER BY leaf_index DESC LIMIT 1",
        )
        .get() as { leaf_index: number; sealed: Buffer };
      const sealed = Buffer.from(last.sealed);
      sealed[sealed.length - 1]! ^= 1;
      db.prepare("UPDATE tlog_records SET sealed = ? WHERE leaf_index = ?").run(sealed, last.leaf_index);
    } finally {
      db.close();
    }
    const modified = await cli(["proof", "--device", "dev-0", "--config", cfg]);
    assert.notEqual(modified.code, 0);
    assert.match(modified.stderr, /INTEGRITY_FAILURE: the logged event at leaf \d+ was modified/);
    assert.equal(modified.stdout, "", "no bundle of an older binding is written");
  });

  it("says why when the device has no binding event or the id is malformed", async () => {
    const dir = join(root, "unknown");
    mkdirSync(dir);
    const cfg = writeConfig(dir);
    await fillLog(cfg, ["pt-x"], 1);
    const unknown = await cli(["proof", "--device", "dev-nobody", "--config", cfg]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /READING_UNKNOWN: no binding event of device dev-nobody in the log/);
    const malformed = await cli(["proof", "--device", "no spaces!", "--config", cfg]);
    assert.equal(malformed.code, 64);
    assert.match(malformed.stderr, /--device "no spaces!" is not a device id/);
    const both = await cli(["proof", "rdg-1", "--device", "dev-0", "--config", cfg]);
    assert.equal(both.code, 64, "a reading id and --device together are a usage error");
  });
});
