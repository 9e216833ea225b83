/**
 * The README's commands work as written: every shell block (```sh, ```bash, ```shell, ```console) is either
 * run here, against a gateway in a temporary directory with `vitalog` on PATH, or marked as an illustration
 * by the line before it, `<!-- illustration: why -->` (network installs, production paths, CI's own command).
 * In a block with `$ ` prompts, the prompted lines are the commands (the rest is their output); otherwise every
 * line is one. Each command must exit 0. The CLI reference block is checked current against the option tables.
 * (YAML blocks are checked against the config schema elsewhere.)
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { COMMAND_SPECS } from "../../src/cli/command-specs.js";
import { commandReference } from "../../src/cli/options.js";
import { MAIN, spawnGateway, waitExit } from "../helpers/child-gateway.js";
import { tempDir } from "../helpers/gateway.js";
import { REPO } from "../security/unit-systemd.js";

const README = readFileSync(join(REPO, "README.md"), "utf8");

interface ShellBlock {
  line: number;
  body: string;
  illustration: string | null;
}

/** Every shell block of the README, with the illustration marker before it, if any. */
function shellBlocks(text: string): ShellBlock[] {
  const lines = text.split("\n");
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.indexOf("```", i + 1);
    assert.ok(end > i, `README.md:${i + 1}: unclosed block`);
    if (["sh", "bash", "shell", "console"].includes(open[1]!)) {
      const marker = /^<!-- illustration: (.+) -->$/.exec(lines[i - 1] ?? "");
      blocks.push({
        line: i + 1,
        body: lines.slice(i + 1, end).join("\n"),
        illustration: marker?.[1] ?? null,
      });
    }
    i = end;
  }
  return blocks;
}

/** The commands of a block: its `$ ` lines when it has any, else every non-empty, non-comment line. */
function commandsOf(body: string): string[] {
  const lines = body.split("\n");
  const prompted = lines.filter((l) => l.startsWith("$ ")).map((l) => l.slice(2));
  return prompted.length > 0 ? prompted : lines.filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
}

describe("the README's commands", () => {
  const dir = tempDir("vitalog-readme-");
  after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "vitalog"), `#!/bin/sh\nexec "${process.execPath}" "${MAIN}" "$@"\n`);
  chmodSync(join(bin, "vitalog"), 0o755);
  const blocks = shellBlocks(README);

  it("finds the shell blocks, and every illustration says why", () => {
    assert.ok(blocks.length >= 4, `${blocks.length} blocks`);
    for (const b of blocks)
      if (b.illustration !== null) assert.ok(b.illustration.trim().length >= 10, `line ${b.line}`);
  });

  for (const block of blocks.filter((b) => b.illustration === null)) {
    it(`runs the block at README.md:${block.line} as written`, { timeout: 60_000 }, async () => {
      // each block on a fresh gateway: the commands that tell the running daemon of a change find one
      const cwd = join(dir, `block-${block.line}`);
      mkdirSync(cwd);
      writeFileSync(
        join(cwd, "vitalog.yaml"),
        "gateway: { id: readme-gw, stateDir: state }\nmqtt: { port: 0 }\nadmin: { port: 0 }\nlog: { level: info }\n",
      );
      const gw = await spawnGateway(join(cwd, "vitalog.yaml"));
      try {
        for (const command of commandsOf(block.body)) {
          const r = spawnSync("sh", ["-c", command], {
            cwd,
            encoding: "utf8",
            env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}` },
            timeout: 30_000,
          });
          assert.equal(r.status, 0, `README.md:${block.line}: ${command}\n${r.stdout}${r.stderr}`);
        }
      } finally {
        gw.child.kill("SIGTERM");
        await waitExit(gw.child);
      }
    });
  }

  it("lists every form of every command, as the option tables have them", () => {
    const m = /<!-- cli-reference:start -->\n```\n([\s\S]*?)```\n<!-- cli-reference:end -->/.exec(README);
    assert.ok(m, "the CLI reference block between its markers");
    const expected = `${commandReference(Object.values(COMMAND_SPECS))}\n`;
    assert.equal(m[1], expected, `replace the README's CLI reference block with:\n${expected}`);
  });
});
