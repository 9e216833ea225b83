/**
 * `--help` is made from the same option table the command parses with (src/cli/command-specs.ts), so the
 * usage cannot drift from the flags: every command answers `--help` and `-h` with every flag of its table,
 * every flag a synopsis line names is in the table, and every command parses with its own table only.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { COMMAND_SPECS } from "../../src/cli/command-specs.js";
import { parseCommand, usageOf, wantsHelp } from "../../src/cli/options.js";
import { GatewayError } from "../../src/errors.js";
import { MAIN } from "../helpers/child-gateway.js";
import { REPO } from "../security/unit-systemd.js";

const vitalog = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", timeout: 30_000 });

const specs = Object.values(COMMAND_SPECS);

describe("vitalog --help", () => {
  it("lists every command with its summary", () => {
    const r = vitalog("--help");
    assert.equal(r.status, 0, r.stderr);
    for (const s of specs)
      assert.match(r.stdout, new RegExp(`^  ${s.name} +${escapeRegExp(s.summary)}$`, "m"));
  });

  for (const s of specs) {
    it(`vitalog ${s.name} --help and -h print every flag of its table and exit 0`, () => {
      for (const flag of ["--help", "-h"]) {
        // before, between and after other flags: help wins, nothing runs (no --config is needed)
        const r = vitalog(s.name, flag);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, usageOf(s));
        for (const name of Object.keys(s.options)) assert.match(r.stdout, new RegExp(`--${name}\\b`));
        for (const form of s.synopsis) assert.ok(r.stdout.includes(`vitalog ${s.name} ${form}`.trimEnd()));
      }
    });
  }

  it("is not taken from a flag's value or after --", () => {
    assert.equal(wantsHelp(COMMAND_SPECS.tlog, ["adopt-unlogged", "--reason", "-h"]), false);
    assert.equal(wantsHelp(COMMAND_SPECS.readings, ["--", "--help"]), false);
    assert.equal(wantsHelp(COMMAND_SPECS.readings, ["--config", "x", "--help"]), true);
  });
});

describe("one option table per command", () => {
  for (const s of specs) {
    it(`every flag named in vitalog ${s.name}'s synopsis is a flag of its table`, () => {
      for (const form of s.synopsis) {
        for (const [, flag] of form.matchAll(/--([a-z0-9-]+)/g)) {
          assert.ok(Object.hasOwn(s.options, flag!), `--${flag} of "${form}" is not in the table`);
        }
      }
    });

    it(`vitalog ${s.name} accepts every flag of its table and refuses others`, () => {
      const argv = Object.entries(s.options).flatMap(([name, o]) =>
        o.type === "boolean" ? [`--${name}`] : [`--${name}`, "x"],
      );
      assert.doesNotThrow(() => parseCommand(s, argv));
      assert.throws(
        () => parseCommand(s, ["--not-a-flag"]),
        (e: unknown) =>
          e instanceof GatewayError && e.code === "USAGE" && e.message.includes(`vitalog ${s.name} --help`),
      );
    });
  }

  it("each command module parses with its own table and nothing else", () => {
    const dir = join(REPO, "src/cli");
    for (const s of specs) {
      const text = readFileSync(join(dir, `${s.name}.ts`), "utf8");
      assert.ok(
        text.includes(`parseCommand(COMMAND_SPECS.${s.name}, argv)`),
        `${s.name}.ts parses its table`,
      );
    }
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts") && f !== "options.ts")) {
      assert.doesNotMatch(
        readFileSync(join(dir, file), "utf8"),
        /\bparseArgs\(/,
        `${file} parses flags itself`,
      );
    }
    assert.doesNotMatch(readFileSync(join(REPO, "src/main.ts"), "utf8"), /\bparseArgs\(/);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
