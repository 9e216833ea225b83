#!/usr/bin/env node
/**
 * Two builds side by side: `node bench/compare-builds.mjs BASE_DIR CANDIDATE_DIR [ROUNDS=9]` runs, per round
 * and in alternating order, `bench:ingest` (one round of 6 s, log on) and `bench:alerts` (8 s) from each
 * checkout's `dist/bench/`, and prints JSON: every round's figures and the medians of the per-round ratios
 * (throughput candidate ÷ base; latency base ÷ candidate, so above 1 is better). A benchmark run that fails
 * is retried once and counted in `retries`. Build both checkouts first (`npx tsc -p tsconfig.json`).
 */
import { execFileSync } from "node:child_process";

const [baseDir, newDir, roundsArg = "9"] = process.argv.slice(2);
if (!baseDir || !newDir) {
  process.stderr.write("usage: node bench/compare-builds.mjs BASE_DIR CANDIDATE_DIR [ROUNDS]\n");
  process.exit(64);
}
const rounds = Number(roundsArg);
let retries = 0;
const once = (dir, bench, args) =>
  JSON.parse(
    execFileSync("node", [`${dir}/dist/bench/${bench}.js`, ...args], {
      cwd: dir,
      stdio: ["ignore", "pipe", "ignore"],
      maxBuffer: 1 << 26,
    }).toString(),
  );
const run = (dir, bench, args) => {
  try {
    return once(dir, bench, args);
  } catch {
    retries++;
    process.stderr.write(`retry ${bench} ${dir}\n`);
    return once(dir, bench, args);
  }
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const out = { base: baseDir, candidate: newDir, rounds, ingest: [], alerts: [] };
for (let r = 0; r < rounds; r++) {
  const order =
    r % 2 === 0
      ? [
          ["base", baseDir],
          ["new", newDir],
        ]
      : [
          ["new", newDir],
          ["base", baseDir],
        ];
  const ing = {};
  const al = {};
  for (const [name, dir] of order) {
    const i = run(dir, "ingest", ["--seconds", "6", "--rounds", "1", "--tlog", "on"]);
    ing[name] = {
      msgs_per_s: i.vitalog.messages_per_s_median,
      puback_p99_ms: i.vitalog.puback_p99_ms_median,
      cpu_us_per_reading: i.vitalog.gateway_cpu_us_per_reading_median,
    };
  }
  for (const [name, dir] of order) {
    const a = run(dir, "alerts", ["--seconds", "8"]);
    al[name] = { p50_ms: a.all.p50_ms, p99_ms: a.all.p99_ms, acked_per_s: a.acked_readings_per_s };
  }
  out.ingest.push(ing);
  out.alerts.push(al);
  process.stderr.write(
    `round ${r + 1}: ingest base ${ing.base.msgs_per_s.toFixed(0)} new ${ing.new.msgs_per_s.toFixed(0)}; alerts p99 base ${al.base.p99_ms} new ${al.new.p99_ms}\n`,
  );
}
out.summary = {
  ingest_throughput_ratio_new_to_base_median: median(
    out.ingest.map((x) => x.new.msgs_per_s / x.base.msgs_per_s),
  ),
  ingest_cpu_per_reading_ratio_base_to_new_median: median(
    out.ingest.map((x) => x.base.cpu_us_per_reading / x.new.cpu_us_per_reading),
  ),
  alerts_p50_ratio_base_to_new_median: median(out.alerts.map((x) => x.base.p50_ms / x.new.p50_ms)),
  alerts_p99_ratio_base_to_new_median: median(out.alerts.map((x) => x.base.p99_ms / x.new.p99_ms)),
  ingest_msgs_per_s_median: {
    base: median(out.ingest.map((x) => x.base.msgs_per_s)),
    new: median(out.ingest.map((x) => x.new.msgs_per_s)),
  },
  alerts_p99_ms_median: {
    base: median(out.alerts.map((x) => x.base.p99_ms)),
    new: median(out.alerts.map((x) => x.new.p99_ms)),
  },
  alerts_p50_ms_median: {
    base: median(out.alerts.map((x) => x.base.p50_ms)),
    new: median(out.alerts.map((x) => x.new.p50_ms)),
  },
};
out.retries = retries;
console.log(JSON.stringify(out, null, 2));
