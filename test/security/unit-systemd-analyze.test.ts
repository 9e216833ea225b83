/**
 * systemd's own checks of the shipped unit, offline (PID 1 here is not systemd): `systemd-analyze verify`
 * parses it as systemd would load it (unknown keys, bad values, a missing executable), and
 * `systemd-analyze security --offline=yes` scores its sandboxing. scripts/test.sh installs the Debian
 * `systemd` package when systemd-analyze is missing.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { tempDir } from "../helpers/gateway.js";
import { UNIT_FILE, unitDirectives, unitValue } from "./unit-systemd.js";

function analyze(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile("systemd-analyze", args, { encoding: "utf8", timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? Number((err as { code?: unknown }).code ?? 1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

/** Bytes of a systemd size value (`512M`, base 1024 [systemd.resource-control(5)]). */
function bytes(size: string): number {
  const m = /^(\d+)([KMG]?)$/.exec(size);
  assert.ok(m, `${size} is a plain size`);
  return Number(m[1]) * 1024 ** " KMG".indexOf(m[2] || " ");
}

describe("the systemd unit under systemd-analyze", () => {
  const dir = tempDir("vitalog-unit-analyze-");
  // verify checks that ExecStart's executable exists: Debian's /usr/bin/node; elsewhere, this node
  const unit = join(dir, "vitalog.service");
  let text = readFileSync(UNIT_FILE, "utf8");
  if (!isExecutable("/usr/bin/node"))
    text = text.replace("ExecStart=/usr/bin/node ", `ExecStart=${process.execPath} `);
  writeFileSync(unit, text);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("passes `systemd-analyze verify` without a single warning", async () => {
    const r = await analyze(["verify", "--man=no", unit]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", "no unknown key, bad value or missing executable");
  });

  it("reports a misspelt directive, so the check above can fail", async () => {
    mkdirSync(join(dir, "misspelt"));
    const bad = join(dir, "misspelt", "vitalog.service");
    writeFileSync(bad, text.replace(/^MemoryMax=/m, "MemoryMaximum="));
    const r = await analyze(["verify", "--man=no", bad]);
    assert.match(r.stderr, /Unknown key '?MemoryMaximum'?/);
  });

  it("scores an overall exposure of at most 2.0 in `systemd-analyze security`", async () => {
    const r = await analyze(["security", "--offline=yes", "--no-pager", unit]);
    const m = /Overall exposure level for vitalog\.service: (\d+\.\d)/.exec(r.stdout);
    assert.ok(m, `${r.stdout}\n${r.stderr}`);
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]}`);
  });

  it("hands the secrets over as credentials and bounds memory above the 300 MB flood budget", () => {
    const d = unitDirectives();
    assert.equal(unitValue("DynamicUser"), "yes");
    assert.deepEqual(d.get("LoadCredential"), ["secrets:/etc/vitalog/secrets"]);
    const high = bytes(unitValue("MemoryHigh"));
    const max = bytes(unitValue("MemoryMax"));
    assert.ok(high >= 300 * 1000 ** 2, "MemoryHigh= leaves the flood budget unthrottled");
    assert.ok(max > high, "MemoryMax= lies above MemoryHigh=");
    const heap = /--max-old-space-size=(\d+)/.exec(unitValue("ExecStart"));
    assert.ok(heap, "a deliberate V8 heap limit");
    assert.ok(Number(heap[1]) * 1024 ** 2 < high, "V8's own limit fires before the kernel throttles");
  });
});

function isExecutable(file: string): boolean {
  try {
    return (statSync(file).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}
