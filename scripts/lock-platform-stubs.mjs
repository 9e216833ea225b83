#!/usr/bin/env node
/**
 * The npm registry reachable from the build machines serves only the Linux builds of packages that
 * ship per-platform binaries (@biomejs/cli-*, @foundry-rs/anvil-*). npm then writes a lock file
 * without the other platforms' optional packages, and `npm ci` refuses that lock as "out of sync".
 * This adds a stub entry (name, version, os/cpu/libc, optional) for each missing optional platform
 * package; npm ci skips them on a non-matching platform, exactly as it would with full entries.
 * Run after any `npm install` that changes the lock: `node scripts/lock-platform-stubs.mjs`.
 */
import { readFileSync, writeFileSync } from "node:fs";

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(file, "utf8"));
const OS = { darwin: "darwin", linux: "linux", win32: "win32", android: "android", freebsd: "freebsd" };
const CPU = { arm64: "arm64", x64: "x64", amd64: "x64", ia32: "ia32", arm: "arm" };
let added = 0;
for (const [path, meta] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (lock.packages[key]) continue;
    const parts = name.split("/").pop().split("-");
    const os = parts.find((p) => p in OS);
    const cpu = parts.find((p) => p in CPU);
    if (!os || !cpu) throw new Error(`${path}: cannot tell the platform of optional ${name}`);
    const entry = { version, optional: true, os: [OS[os]], cpu: [CPU[cpu]] };
    if (parts.includes("musl")) entry.libc = ["musl"];
    lock.packages[key] = entry;
    added++;
  }
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`added ${added} platform stub(s)`);
