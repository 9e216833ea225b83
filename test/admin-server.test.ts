/**
 * The operator's loopback HTTP on a real gateway (real SQLite file, real commit thread, real broker):
 * /healthz tells the truth about the commit path and the log, /status never breaks and names no patient,
 * /metrics carries what an on-call engineer needs.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { Gauge } from "prom-client";
import { AdminServer } from "../src/admin-server.js";
import type { Gateway } from "../src/app/gateway.js";
import { type Clock, systemClock } from "../src/clock.js";
import type { ConfigInput } from "../src/config.js";
import { COMMIT_FAILURE_WINDOW_MS, Health } from "../src/health.js";
import { createLogger } from "../src/log.js";
import { Metrics } from "../src/metrics.js";
import { startTestGateway, type TestGateway, waitFor } from "./helpers/gateway.js";
import { withFreshPort } from "./helpers/ports.js";

/** The system clock, moved forward on demand (timers still run in real time). */
function skewableClock(): { clock: Clock; skip(ms: number): void } {
  let skewMs = 0;
  return {
    clock: { ...systemClock, now: () => Date.now() + skewMs },
    skip: (ms) => {
      skewMs += ms;
    },
  };
}

async function startWithAdmin(overrides: Partial<ConfigInput> = {}, clock?: Clock): Promise<TestGateway> {
  return withFreshPort((port) => startTestGateway({ ...overrides, admin: { port } }, clock));
}

async function get(
  t: TestGateway,
  path: string,
  accept?: string,
): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`http://127.0.0.1:${t.gw.adminPort}${path}`, {
    headers: accept ? { accept } : {},
  });
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

/** Commits one audit event through the group commit; resolves with its error, if any. */
function commitEvent(gw: Gateway): Promise<Error | undefined> {
  return new Promise((resolve) =>
    gw.recordEvent(
      { type: "health_probe", atMs: Date.now(), subjectId: null, deviceId: null, data: {} },
      resolve,
    ),
  );
}

/** The value of one sample line (`name{labels} value`) of a Prometheus exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("admin HTTP on a real gateway", () => {
  it("answers /healthz 503 naming the failing group commits, and 200 once commits succeed and the failure is 30 s old", async () => {
    const { clock, skip } = skewableClock();
    const t = await startWithAdmin({}, clock);
    const marker = join(t.dir, "log-down");
    try {
      assert.deepEqual(await get(t, "/healthz"), {
        status: 200,
        type: "text/plain; charset=utf-8",
        body: "ok\n",
      });
      t.gw.addCommitWriter({
        name: "switchable",
        module: new URL("./helpers/switchable-commit-writer.js", import.meta.url).href,
        init: { marker },
      });
      writeFileSync(marker, "");
      assert.ok(await commitEvent(t.gw), "the commit failed");

      const failing = await get(t, "/healthz");
      assert.equal(failing.status, 503);
      assert.match(failing.body, /^commits: group commits failing \(1 in a row\): .*log unavailable\n$/);
      const asJson = await get(t, "/healthz", "application/json");
      assert.equal(asJson.status, 503);
      assert.equal(asJson.type, "application/json");
      const report = JSON.parse(asJson.body);
      assert.equal(report.status, "failing");
      assert.deepEqual(
        report.problems.map((p: { check: string }) => p.check),
        ["commits"],
      );

      rmSync(marker);
      assert.equal(await commitEvent(t.gw), undefined, "the commit went through");
      const recovering = await get(t, "/healthz");
      assert.equal(recovering.status, 503, "a failure within the window still shows");
      assert.match(recovering.body, /^commits: a group commit failed \d+ s ago \(later ones succeeded\)/);

      skip(COMMIT_FAILURE_WINDOW_MS);
      assert.deepEqual(await get(t, "/healthz"), {
        status: 200,
        type: "text/plain; charset=utf-8",
        body: "ok\n",
      });
    } finally {
      await t.close();
    }
  });

  it("answers /healthz 503 while the commit thread is down, until the next commit runs in a new thread", async () => {
    const { clock, skip } = skewableClock();
    const t = await startWithAdmin({}, clock);
    try {
      t.gw.addCommitWriter({
        name: "exiting",
        module: new URL("./helpers/exiting-commit-writer.js", import.meta.url).href,
        init: { marker: join(t.dir, "exited-once") },
      });
      const failed = await commitEvent(t.gw);
      assert.match(String(failed?.cause), /commit thread exited \(code 3\)/);
      const down = await get(t, "/healthz");
      assert.equal(down.status, 503);
      assert.match(down.body, /^commit_thread: commit thread down: exited \(code 3\)$/m);
      assert.match(down.body, /^commits: group commits failing/m);

      assert.equal(await commitEvent(t.gw), undefined, "a new thread committed");
      skip(COMMIT_FAILURE_WINDOW_MS);
      assert.equal((await get(t, "/healthz")).body, "ok\n");
    } finally {
      await t.close();
    }
  });

  it("answers /status 200 with an error entry for the log when its tile store no longer matches its root, and /healthz names it", async () => {
    const t = await startWithAdmin();
    try {
      assert.equal((await get(t, "/healthz")).status, 200);
      const other = new Database(t.gw.config.storage.path!);
      other.prepare("UPDATE tlog_state SET root = zeroblob(32) WHERE id = 1").run();
      other.close();

      const status = await get(t, "/status");
      assert.equal(status.status, 200);
      const body = JSON.parse(status.body);
      assert.match(body.tlog.error, /stored right edge does not match the stored root/);
      assert.equal(body.gateway, "test-gw", "the other parts are still reported");
      assert.equal(body.alerts.active, 0);

      const health = await get(t, "/healthz");
      assert.equal(health.status, 503);
      assert.match(health.body, /^tlog: log unreadable or inconsistent: stored right edge does not match/m);

      const metrics = await get(t, "/metrics");
      assert.equal(metrics.status, 200, "one family that cannot be computed does not blank the scrape");
      assert.ok(
        sample(metrics.body, 'vitalog_metric_collect_errors_total{metric="vitalog_tlog_unsigned_leaves"}')! >=
          1,
      );
      assert.ok(sample(metrics.body, "vitalog_storage_free_bytes")! > 0);
    } finally {
      await t.close();
    }
  });

  it("exposes commit latency, event-loop lag, checkpoint age, free disk, device last-seen and active alerts, and no subject id", async () => {
    const t = await startWithAdmin({ tlog: { checkpointIntervalSec: 0.2 } });
    try {
      const device = await t.connect("cuff-1", await t.provision("cuff-1", "pt-secret-42"));
      // systolic 62 mm[Hg]: a HIGH alarm at once (no persistence delay for spot-check vitals)
      const body = JSON.stringify({ readings: [{ kind: "bp_systolic", value: 62, unit: "mm[Hg]" }] });
      await device.publishAsync("vitalog/dev/cuff-1/json", body, { qos: 1 });
      const tlog = () => t.gw.status().tlog as { tree_size: number; checkpoint_size: number };
      await waitFor(
        () => tlog().tree_size > 0 && tlog().checkpoint_size === tlog().tree_size,
        10_000,
        "checkpoint",
      );

      const { status, type, body: text } = await get(t, "/metrics");
      assert.equal(status, 200);
      assert.equal(type, "text/plain; version=0.0.4; charset=utf-8");
      assert.match(text, /^# TYPE vitalog_commit_duration_seconds histogram$/m);
      assert.ok(sample(text, 'vitalog_commit_duration_seconds_count{outcome="ok"}')! >= 1);
      assert.ok(sample(text, 'vitalog_commit_duration_seconds_bucket{le="+Inf",outcome="ok"}')! >= 1);
      assert.ok(sample(text, "nodejs_eventloop_lag_p99_seconds")! >= 0);
      assert.ok(sample(text, "vitalog_checkpoint_age_seconds")! >= 0);
      assert.equal(sample(text, "vitalog_tlog_unsigned_leaves"), 0);
      assert.ok(sample(text, "vitalog_storage_free_bytes")! > 0);
      assert.ok(sample(text, 'vitalog_device_last_seen_age_seconds{device="cuff-1"}')! >= 0);
      assert.equal(sample(text, 'vitalog_alerts_active{priority="high",category="physiological"}'), 1);
      assert.equal(sample(text, 'vitalog_alerts_active{priority="low",category="technical"}'), 0);
      assert.ok(sample(text, 'vitalog_commits_total{outcome="ok"}')! >= 1, "existing names unchanged");
      assert.ok(sample(text, 'vitalog_readings_accepted_total{device="cuff-1"}')! >= 1);

      const statusRes = await get(t, "/status");
      assert.equal(JSON.parse(statusRes.body).alerts.high, 1, "the alert is there to be leaked");
      for (const [what, out] of [
        ["/status", statusRes.body],
        ["/metrics", text],
        ["/healthz", (await get(t, "/healthz", "application/json")).body],
      ])
        assert.ok(!out!.includes("pt-secret-42"), `${what} names the subject`);
    } finally {
      await t.close();
    }
  });
});

describe("AdminServer", () => {
  it("answers /metrics 500 with the reason when collecting fails, and keeps serving", async () => {
    const metrics = new Metrics();
    metrics.counter("vitalog_test_total", "test")();
    new Gauge({
      name: "vitalog_broken",
      help: "a collector that fails",
      registers: [metrics.registry],
      collect() {
        throw new Error("sensor bus gone");
      },
    });
    const admin = new AdminServer({
      metrics,
      health: new Health(),
      status: () => {
        throw new Error("status broke its contract");
      },
      log: createLogger("silent"),
    });
    const port = await admin.start(0, "127.0.0.1");
    try {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(res.status, 500);
      assert.match(await res.text(), /^metrics collection failed: sensor bus gone\n$/);
      const status = await fetch(`http://127.0.0.1:${port}/status`);
      assert.equal(status.status, 500);
      assert.match(await status.text(), /status broke its contract/);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200, "the server is still up");
      assert.equal(await health.text(), "ok\n");
    } finally {
      await admin.stop();
    }
  });
});
