/**
 * What the provisioning CLI says when revocation cannot be confirmed, and the devices it will not change:
 * a daemon that holds the control socket but does not answer makes `bind` exit 75 (the change is made, its
 * revocation unconfirmed); a device declared in the config file is changed there, not by the CLI.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cli, writeConfig } from "../batcher/tlog-fixture.js";
import { tempDir } from "../helpers/gateway.js";

describe("the provisioning CLI when revocation cannot be confirmed", () => {
  const dir = tempDir("vitalog-revocation-cli-");
  let configFile: string;
  let mute: Server | undefined;
  after(async () => {
    await new Promise((r) => (mute ? mute.close(r) : r(undefined)));
    rmSync(dir, { recursive: true, force: true });
  });

  before(() => {
    const secret = join(dir, "wear-cfg.pw");
    writeFileSync(secret, "a-config-declared-password\n", { mode: 0o600 });
    configFile = writeConfig(dir, [
      `devices: [{ id: wear-cfg, subject: pt-cfg, passwordFile: ${JSON.stringify(secret)} }]`,
    ]);
  });

  it("refuses to change a device declared in the config file, naming where to change it", async () => {
    for (const verb of [["remove"], ["passwd"], ["bind", "--subject", "pt-other"]]) {
      const r = await cli([
        "devices",
        verb[0]!,
        "--config",
        configFile,
        "--id",
        "wear-cfg",
        ...verb.slice(1),
      ]);
      assert.equal(r.code, 64, r.stdout + r.stderr);
      assert.match(r.stderr, /declared in the config file's devices: list/);
    }
  });

  it("exits 75 after a re-binding that a daemon holding the control socket never confirmed", async () => {
    const added = await cli([
      "devices",
      "add",
      "--config",
      configFile,
      "--id",
      "wear-009",
      "--subject",
      "pt-9",
    ]);
    assert.equal(added.code, 0, added.stderr);
    // something listens on the control socket but hangs up on every request without a reply
    mute = createServer((s) => s.destroy());
    await new Promise<void>((r) => mute!.listen(join(dir, "state", "control.sock"), () => r()));
    const r = await cli([
      "devices",
      "bind",
      "--config",
      configFile,
      "--id",
      "wear-009",
      "--subject",
      "pt-10",
    ]);
    assert.equal(r.code, 75, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as { rebound: boolean; daemon: string };
    assert.equal(out.rebound, true);
    assert.equal(out.daemon, "unreachable");
    const listed = await cli(["devices", "list", "--config", configFile]);
    assert.match(listed.stdout, /"device_id":"wear-009","subject_id":"pt-10"/);
  });
});
