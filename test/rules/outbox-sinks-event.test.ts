/**
 * The durable alert sinks are logged when they change, not at every start: an idle restart adds nothing to the
 * tamper-evident log (so no new checkpoint and no new anchor transaction), and a restart with another set of
 * sinks logs the new set, which `vitalog audit` accepts (real gateways, one after the other, on one state
 * directory and SQLite file).
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { Gateway } from "../../src/app/gateway.js";
import { auditCommand } from "../../src/cli/audit.js";
import { systemClock } from "../../src/clock.js";
import { parseConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { tempDir, writeSecret } from "../helpers/gateway.js";

describe("the alert sinks in the log", () => {
  const dir = tempDir("vitalog-outbox-sinks-");
  after(() => rmSync(dir, { recursive: true, force: true }));
  const secret = writeSecret(dir, "webhook.key", "webhook-secret-0123456789");
  const base = {
    gateway: { id: "sinks-gw", origin: "test.vitalog.invalid/gw/sinks-gw", stateDir: join(dir, "state") },
    mqtt: { port: 0 },
    admin: { port: 0 },
    log: { level: "silent" },
  };
  const withWebhook = { alerts: { webhook: { url: "http://127.0.0.1:9/hook", secretFile: secret } } };

  async function life(extra: Record<string, unknown>): Promise<number> {
    const gw = await Gateway.start(parseConfig({ ...base, ...extra }, dir), {
      log: createLogger("silent"),
      clock: systemClock,
    });
    await gw.stop();
    const db = new Database(join(dir, "state", "vitalog.db"), { readonly: true });
    try {
      return db.prepare("SELECT COUNT(*) FROM tlog_records").pluck().get() as number;
    } finally {
      db.close();
    }
  }

  it("logs the sinks at the first start and when they change, never at an idle restart", async () => {
    const first = await life(withWebhook);
    assert.ok(first > 0);
    assert.equal(await life(withWebhook), first, "an idle restart logs nothing");
    assert.equal(await life(withWebhook), first, "nor does a second one");
    assert.equal(await life({}), first + 1, "the webhook removed: the new set is logged");
    assert.equal(await life({}), first + 1);
    assert.equal(await life(withWebhook), first + 2, "and added back");

    const cfg = join(dir, "cli.yaml");
    writeFileSync(
      cfg,
      `gateway: { id: sinks-gw, origin: test.vitalog.invalid/gw/sinks-gw, stateDir: ${join(dir, "state")} }\n` +
        `log: { level: silent }\nalerts: { webhook: { url: "http://127.0.0.1:9/hook", secretFile: ${secret} } }\n`,
    );
    const out = new PassThrough();
    let text = "";
    out.on("data", (d: Buffer) => {
      text += d.toString();
    });
    const code = await auditCommand(["--config", cfg, "--json"], out);
    assert.equal(code, 0, text);
  });
});
