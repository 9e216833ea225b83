import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { assertCurrentLogFormat } from "../../src/batcher/tlog/tlog-schema.js";
import { openDatabase } from "../../src/db.js";
import { GatewayError } from "../../src/errors.js";
import { MIGRATIONS } from "../../src/migrations.js";
import { tempDir } from "../helpers/gateway.js";

describe("log format check", () => {
  const dir = tempDir("vitalog-tlog-format-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("accepts a database migrated by this build", () => {
    const db = openDatabase(join(dir, "current.db"), MIGRATIONS);
    assert.doesNotThrow(() => assertCurrentLogFormat(db));
    db.close();
  });

  it("refuses a pre-release database (the first log format: tlog_hashes rows, readings without leaf_index) with a clear error", () => {
    for (const [name, change] of [
      ["old-tree", "CREATE TABLE tlog_hashes (id INTEGER PRIMARY KEY, hash BLOB)"],
      ["old-readings", "DROP INDEX readings_unlogged; ALTER TABLE readings DROP COLUMN leaf_index"],
    ] as const) {
      const db = openDatabase(join(dir, `${name}.db`), MIGRATIONS);
      db.exec(change);
      assert.throws(
        () => assertCurrentLogFormat(db),
        (err: unknown) =>
          err instanceof GatewayError && err.code === "MIGRATION_FAILED" && /pre-release/.test(err.message),
        name,
      );
      db.close();
    }
  });
});
