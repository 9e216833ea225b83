/**
 * Silent authentication: an unknown device id must cost the same verification as a known one, so the time
 * of a refusal does not tell which ids exist. The mechanism is asserted here (which stored hash each
 * verification ran against, and that the dummy is as costly as a real hash); the timing itself is measured
 * by `npm run bench:auth`, not asserted.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Db, openDatabase } from "../../src/db.js";
import {
  DeviceRegistry,
  DUMMY_PASSWORD_HASH,
  hashPassword,
  verifyPassword,
} from "../../src/drivers/device-registry.js";
import { MIGRATIONS } from "../../src/migrations.js";
import { tempDir } from "../helpers/gateway.js";

/** scrypt$N$r$p$salt$hash: the cost parameters and the decoded lengths of salt and hash. */
function shape(stored: string) {
  const [scheme, N, r, p, salt, hash] = stored.split("$");
  return {
    scheme,
    N,
    r,
    p,
    saltBytes: Buffer.from(salt!, "base64").length,
    hashBytes: Buffer.from(hash!, "base64").length,
  };
}

describe("device password verification (unknown ids cost what known ones do)", () => {
  let dir: string;
  let db: Db;
  const verifiedAgainst: string[] = [];
  let registry: DeviceRegistry;

  before(async () => {
    dir = tempDir("vitalog-pw-timing-");
    db = openDatabase(join(dir, "vitalog.db"), MIGRATIONS, { synchronous: "normal" });
    registry = new DeviceRegistry(db, {
      verifyPassword: (password, stored) => {
        verifiedAgainst.push(stored);
        return verifyPassword(password, stored);
      },
    });
    await registry.add({ id: "wear-001", subjectId: "pt-1", password: "right" }, Date.now());
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("verifies an unknown id against the dummy hash, and a known id against its own", async () => {
    verifiedAgainst.length = 0;
    assert.equal(await registry.verify("wear-404", "anything"), false);
    assert.equal(await registry.verify("wear-001", "wrong"), false);
    const stored = (
      db.prepare("SELECT password_hash FROM devices WHERE id = 'wear-001'").get() as { password_hash: string }
    ).password_hash;
    assert.deepEqual(verifiedAgainst, [DUMMY_PASSWORD_HASH, stored]);
  });

  it("gives the dummy hash exactly the cost parameters and sizes of a real one", async () => {
    assert.deepEqual(shape(DUMMY_PASSWORD_HASH), shape(await hashPassword("a device password")));
  });

  it("never accepts an unknown id, whatever the password", async () => {
    for (const password of ["", "right", DUMMY_PASSWORD_HASH])
      assert.equal(await registry.verify("ghost", password), false);
  });

  it("recognises a device's proven password without an scrypt until it is rotated or removed", async () => {
    // a second registry on the same database: another process, like the CLI
    const cli = new DeviceRegistry(db);
    await cli.add({ id: "wear-002", subjectId: "pt-2", password: "first" }, Date.now());
    assert.equal(registry.isRecentlyVerified("wear-002", "first"), false, "never proven to this process");
    assert.equal(await registry.verify("wear-002", "nope"), false);
    assert.equal(registry.isRecentlyVerified("wear-002", "nope"), false, "a failure is never remembered");
    verifiedAgainst.length = 0;
    assert.equal(await registry.verify("wear-002", "first"), true);
    assert.equal(verifiedAgainst.length, 1, "one full verification");
    assert.equal(registry.isRecentlyVerified("wear-002", "first"), true);
    assert.equal(registry.isRecentlyVerified("wear-002", "First"), false, "only that password");
    assert.equal(registry.isRecentlyVerified("wear-003", "first"), false, "only that device");
    await cli.upsert({ id: "wear-002", subjectId: "pt-2", password: "second" }, Date.now());
    assert.equal(registry.isRecentlyVerified("wear-002", "first"), false, "rotated elsewhere: forgotten");
    assert.equal(await registry.verify("wear-002", "second"), true);
    cli.remove("wear-002");
    assert.equal(registry.isRecentlyVerified("wear-002", "second"), false, "removed elsewhere: forgotten");
  });
});
