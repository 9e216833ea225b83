/**
 * The device registry on a real SQLite file: each change commits with its log events, two changes at once
 * never undo each other, and a password verified while it was being rotated reports the hash it matched
 * (a session must not pass for one proved against the new hash).
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Db, openDatabase } from "../../src/db.js";
import { credentialDigest, type DeviceLogEvent } from "../../src/drivers/device-events.js";
import { DeviceRegistry, verifyPassword } from "../../src/drivers/device-registry.js";
import { MIGRATIONS } from "../../src/migrations.js";
import { tempDir } from "../helpers/gateway.js";

const T0 = 1_763_700_000_000;
const actor = { via: "cli" as const, by: "ce.smith" };

describe("device registry", () => {
  let dir: string;
  let db: Db;
  const logged: DeviceLogEvent[] = [];
  /** Resolves the verification in progress (set while one waits). */
  let releaseVerify: (() => void) | undefined;
  let registry: DeviceRegistry;

  before(() => {
    dir = tempDir("vitalog-registry-");
    db = openDatabase(join(dir, "vitalog.db"), MIGRATIONS, { synchronous: "normal" });
    registry = new DeviceRegistry(db, {
      verifyPassword: async (password, stored) => {
        // a verification that waits until the test lets it finish (scrypt takes ~50 ms on a Pi)
        await new Promise<void>((resolve) => {
          releaseVerify = resolve;
        });
        return verifyPassword(password, stored);
      },
    });
    registry.attachEventLog((events) => {
      assert.ok(db.inTransaction, "events are logged inside the change's transaction");
      logged.push(...events);
    });
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const hashOf = (id: string) => registry.registration(id)!.credential;

  it("logs a binding for an added device, with the digest of its stored hash and never the password", async () => {
    await registry.add({ id: "wear-001", subjectId: "pt-1", password: "first-password" }, T0, actor);
    assert.deepEqual(
      logged.map((e) => [e.type, e.subjectId, e.deviceId]),
      [["device_bound", "pt-1", "wear-001"]],
    );
    assert.equal(logged[0]!.data.credential, credentialDigest(hashOf("wear-001")));
    assert.doesNotMatch(JSON.stringify(logged), /first-password/);
  });

  it("reports the hash a password matched, not the one stored after a rotation during the verification", async () => {
    const before = hashOf("wear-001");
    const verifying = registry.verifiedCredential("wear-001", "first-password");
    while (releaseVerify === undefined) await new Promise((r) => setImmediate(r));
    // the rotation commits while the first verification is still running
    const rotating = registry.setPassword("wear-001", "second-password", T0 + 1, actor);
    await rotating;
    assert.notEqual(hashOf("wear-001"), before);
    releaseVerify();
    const matched = await verifying;
    assert.equal(matched, before);
    assert.notEqual(hashOf("wear-001"), matched);
    assert.deepEqual(
      logged.slice(1).map((e) => e.type),
      ["device_credential_changed"],
    );
  });

  it("keeps a re-binding made while a password change hashed, and logs both", async () => {
    logged.length = 0;
    releaseVerify = undefined;
    const rotating = registry.setPassword("wear-001", "third-password", T0 + 2, actor);
    await registry.bind({ id: "wear-001", subjectId: "pt-2" }, T0 + 3, actor);
    await rotating;
    const now = registry.registration("wear-001")!;
    assert.equal(now.subjectId, "pt-2", "the password change did not put the former subject back");
    assert.deepEqual(
      logged.map((e) => [e.type, e.subjectId]),
      [
        ["device_unbound", "pt-1"],
        ["device_bound", "pt-2"],
        ["device_credential_changed", "pt-2"],
      ],
    );
    assert.equal(logged.at(-1)!.data.credential, credentialDigest(now.credential));
  });

  it("changes nothing and logs nothing when a binding is set to what it is", async () => {
    logged.length = 0;
    assert.equal(await registry.bind({ id: "wear-001", subjectId: "pt-2" }, T0 + 4, actor), false);
    assert.deepEqual(logged, []);
  });

  it("logs a removal as an unbinding from the subject the device was bound to", async () => {
    assert.equal(await registry.remove("wear-001", T0 + 5, actor), true);
    assert.deepEqual(
      logged.map((e) => [e.type, e.subjectId, e.data.cause]),
      [["device_unbound", "pt-2", "removed"]],
    );
    assert.equal(await registry.remove("wear-001", T0 + 6, actor), false);
  });
});
