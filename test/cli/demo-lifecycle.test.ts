/**
 * `vitalog demo` as a user meets it: every command it prints works exactly as printed, the gateway log whose
 * path it prints is still there after it stops, and killed by SIGKILL or SIGHUP it leaves no process behind
 * (dbus-daemon, socat, anvil and the simulators die with it: src/cli/demo-supervisor.ts).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { describe, it } from "node:test";
import { MAIN, waitExit } from "../helpers/child-gateway.js";

interface Proc {
  pid: number;
  ppid: number;
  pgrp: number;
  comm: string;
}

/** Every process of this machine, from /proc/<pid>/stat [proc(5)]: `pid (comm) state ppid pgrp …`. */
function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const [, ppid, pgrp] = stat.slice(close + 2).split(" ");
      out.push({
        pid: Number(name),
        comm: stat.slice(stat.indexOf("(") + 1, close),
        ppid: Number(ppid),
        pgrp: Number(pgrp),
      });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** `root` and every process below it, and every process of their process groups. */
function family(root: number): Proc[] {
  const all = processes();
  const found = new Map<number, Proc>();
  let frontier = [root];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const p of all) {
      if (frontier.includes(p.ppid) && !found.has(p.pid)) {
        found.set(p.pid, p);
        next.push(p.pid);
      }
    }
    frontier = next;
  }
  const groups = new Set([...found.values()].map((p) => p.pgrp));
  for (const p of all) if (groups.has(p.pgrp) && p.pgrp !== process.pid) found.set(p.pid, p);
  return [...found.values()];
}

/** Alive and the same process (same comm) as when it was seen. */
function survivors(seen: Proc[]): Proc[] {
  const now = new Map(processes().map((p) => [p.pid, p]));
  return seen.filter((p) => now.get(p.pid)?.comm === p.comm);
}

async function until(check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
}

/** Starts the demo and resolves with its output once the header (with the commands to try) is printed. */
function startDemo(): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [MAIN, "demo", "--devices", "2", "--seconds", "300"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no demo header in 60 s:\n${out}`)), 60_000);
    const poll = setInterval(() => {
      if (out.includes("Ctrl-C to stop.")) {
        clearTimeout(timer);
        clearInterval(poll);
        res({ child, output: () => out });
      }
    }, 100);
    child.once("exit", (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      rej(new Error(`demo exited with ${code}:\n${out}`));
    });
  });
}

describe("vitalog demo as a user meets it", () => {
  it("prints commands that work as printed; SIGKILL leaves no process behind and the log in place", {
    timeout: 120_000,
  }, async () => {
    const demo = await startDemo();
    const header = demo.output();
    const hints = header
      .split("\n")
      .filter((l) => /^ {2}\S.* --config \S+$/.test(l))
      .map((l) => l.trim());
    assert.ok(hints.length >= 3, header);
    // the readings the hint asks for need the first packs stored
    await new Promise((r) => setTimeout(r, 3000));
    for (const hint of hints) {
      const r = spawnSync("sh", ["-c", hint], { encoding: "utf8", timeout: 60_000 });
      assert.equal(r.status, 0, `${hint}\n${r.stderr}`);
      assert.notEqual(r.stdout, "", `${hint} printed nothing`);
    }
    const logFile = /the gateway log (\S+)\./.exec(header)?.[1];
    assert.ok(logFile && existsSync(logFile), header);

    const seen = family(demo.child.pid!);
    // the gateway's helpers are all there to be killed: simulators, dbus-daemon, socat, anvil
    assert.ok(seen.length >= 4, JSON.stringify(seen));
    demo.child.kill("SIGKILL");
    await waitExit(demo.child);
    await until(() => survivors(seen).length === 0, 30_000);
    assert.deepEqual(survivors(seen), [], "every process the demo started died with it");
    assert.ok(existsSync(logFile), "the gateway log it printed is kept");
    rmSync(logFile, { force: true });
  });

  it("leaves no process behind when its terminal hangs up (SIGHUP)", { timeout: 120_000 }, async () => {
    const demo = await startDemo();
    const seen = family(demo.child.pid!);
    demo.child.kill("SIGHUP");
    await waitExit(demo.child);
    await until(() => survivors(seen).length === 0, 30_000);
    assert.deepEqual(survivors(seen), []);
    const logFile = /the gateway log (\S+)\./.exec(demo.output())?.[1];
    assert.match(demo.output(), /stopped; gateway log kept in /);
    if (logFile) rmSync(logFile, { force: true });
  });
});
