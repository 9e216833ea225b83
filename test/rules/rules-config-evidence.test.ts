/**
 * The configuration in force is evidence: a real gateway (real SQLite file, the tamper-evident log on, the
 * broker on loopback) records its effective rules, after merging, as `rules_in_force` log events at start-up,
 * again only when they change; a subject's limits are sealed under its own key, so erasure shreds them.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, it } from "node:test";
import mqtt from "mqtt";
import { Gateway } from "../../src/app/gateway.js";
import { type LoggedEvent, scanLoggedEvents } from "../../src/batcher/tlog/audit-events.js";
import { eraseSubject } from "../../src/batcher/tlog/erasure.js";
import { openTlogForCli } from "../../src/batcher/tlog/open-tlog.js";
import { GATEWAY_SUBJECT } from "../../src/batcher/tlog/subject-keys.js";
import { systemClock } from "../../src/clock.js";
import { type Config, parseConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import type { RulesConfig } from "../../src/rules/engine.js";
import { rulesHash, subjectRulesInForce, wardRulesInForce } from "../../src/rules/rules-in-force.js";
import { tempDir, waitFor } from "../helpers/gateway.js";

const SPO2_ONLY_WARD = {
  spo2: {
    low: [
      { limit: 90, priority: "medium", persistenceSec: 15 },
      { limit: 85, priority: "high", persistenceSec: 5 },
    ],
    hysteresis: 1,
    clearSec: 5,
  },
};
const COPD = { spo2: { low: [{ limit: 84, priority: "high", persistenceSec: 5 }] } };

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function configFor(dir: string, rules: unknown, tlogEnabled = true): Readonly<Config> {
  return parseConfig(
    {
      gateway: { id: "evidence-gw", origin: "test.vitalog.invalid/gw/evidence", stateDir: dir },
      mqtt: { port: 0 },
      admin: { port: 0 },
      log: { level: "silent" },
      tlog: { enabled: tlogEnabled },
      rules,
    },
    dir,
  );
}

/** Starts a gateway on `dir` with these rules and stops it (every recorded event is committed by then). */
async function startAndStop(dir: string, rules: unknown, tlogEnabled = true): Promise<void> {
  const gw = await Gateway.start(configFor(dir, rules, tlogEnabled), {
    log: createLogger("silent"),
    clock: systemClock,
  });
  await gw.stop();
}

interface Logged {
  events: (LoggedEvent & { keyId: number })[];
  unopened: number;
  /** The live key id of a subject, if it has one. */
  keyOf(subjectId: string): number | undefined;
  tag(subjectId: string): string;
}

/** The `rules_in_force` events in the log, opened, with the key each is sealed under. */
function logged(dir: string): Logged {
  const tlog = openTlogForCli(configFor(dir, {}));
  try {
    const events: Logged["events"] = [];
    const keyId = tlog.db.prepare("SELECT key_id FROM tlog_records WHERE ref = ?").pluck();
    const counts = scanLoggedEvents(tlog.db, tlog.records.keys, (e) => {
      if (e.type === "rules_in_force") events.push({ ...e, keyId: keyId.get(e.ref) as number });
    });
    const keys = new Map(
      (
        tlog.db
          .prepare("SELECT subject_id, key_id FROM tlog_subject_keys WHERE subject_id IS NOT NULL")
          .all() as {
          subject_id: string;
          key_id: number;
        }[]
      ).map((r) => [r.subject_id, r.key_id]),
    );
    const tags = new Map<string, string>();
    for (const s of ["pt-copd", "pt-x"]) tags.set(s, tlog.records.keys.tag(s).toString("hex"));
    return {
      events,
      unopened: counts.unopened,
      keyOf: (s) => keys.get(s),
      tag: (s) => tags.get(s)!,
    };
  } finally {
    tlog.close();
  }
}

function newDir(): string {
  const d = tempDir("vitalog-rules-evidence-");
  dirs.push(d);
  return d;
}

describe("the configuration in force as log evidence", () => {
  it("records the merged ward rules under the gateway key and a subject's limits under the subject's key", async () => {
    const dir = newDir();
    const rules = { thresholds: { ward: SPO2_ONLY_WARD, subjects: { "pt-copd": COPD } } };
    await startAndStop(dir, rules);
    const effective = configFor(dir, rules).rules as RulesConfig;
    const log = logged(dir);
    const [subject, ward] = log.events;
    assert.equal(log.events.length, 2);

    assert.equal(ward?.subjectId, null);
    assert.equal(ward.keyId, log.keyOf(GATEWAY_SUBJECT));
    assert.equal(ward.data.scope, "ward");
    assert.equal(ward.data.hash, wardRulesInForce(effective).hash);
    // anyone holding the opened record can recompute the hash from the rules it carries
    assert.equal(rulesHash(ward.data.rules), ward.data.hash);
    const wardTable = (ward.data.rules as { thresholds: Record<string, { low: { limit: number }[] }> })
      .thresholds;
    // merged: the ward's SpO2 with the built-in heart-rate and respiratory-rate limits kept
    assert.deepEqual(
      wardTable.spo2?.low.map((t) => t.limit),
      [85, 90],
    );
    assert.ok(wardTable.heart_rate && wardTable.respiratory_rate && wardTable.bp_systolic);
    assert.deepEqual(ward.data.subject_overrides, [
      { tag: log.tag("pt-copd"), hash: subjectRulesInForce(effective, "pt-copd").hash },
    ]);
    assert.ok(!JSON.stringify(ward.data).includes("pt-copd"), "the gateway's record names no subject");

    assert.equal(subject?.subjectId, "pt-copd");
    assert.equal(subject.keyId, log.keyOf("pt-copd"));
    assert.equal(subject.data.scope, "subject");
    assert.equal(subject.data.hash, subjectRulesInForce(effective, "pt-copd").hash);
    const own = (subject.data.rules as { thresholds: Record<string, { low: { limit: number }[] }> })
      .thresholds;
    assert.deepEqual(
      own.spo2?.low.map((t) => t.limit),
      [84],
    );
    assert.ok(own.heart_rate, "the subject's table is complete: its overrides merged over the ward");
  });

  it("records again only what changed: nothing on an unchanged restart, the ward when its rules or overrides change", async () => {
    const dir = newDir();
    const rules = { thresholds: { ward: SPO2_ONLY_WARD, subjects: { "pt-copd": COPD } } };
    await startAndStop(dir, rules);
    await startAndStop(dir, rules);
    assert.equal(logged(dir).events.length, 2, "an unchanged configuration is not recorded twice");

    // an alarm-lifecycle change: the ward's record only (the subject's limits are unchanged)
    await startAndStop(dir, { ...rules, alarms: { clearHoldSec: 10 } });
    let events = logged(dir).events;
    assert.equal(events.length, 3);
    assert.equal(events[2]?.data.scope, "ward");
    const alarms = (events[2]!.data.rules as { alarms: { clearHoldSec: number } }).alarms;
    assert.equal(alarms.clearHoldSec, 10);

    // the subject's override removed: it now follows the ward, which the ward's record says
    await startAndStop(dir, { thresholds: { ward: SPO2_ONLY_WARD }, alarms: { clearHoldSec: 10 } });
    events = logged(dir).events;
    assert.equal(events.length, 4);
    assert.equal(events[3]?.data.scope, "ward");
    assert.equal(events[3]?.data.hash, events[2]?.data.hash, "the ward's own rules did not change");
    assert.deepEqual(events[3]?.data.subject_overrides, []);
  });

  it("shreds a subject's record with its key on erasure and never records an erased subject again", async () => {
    const dir = newDir();
    const rules = { thresholds: { subjects: { "pt-x": COPD } } };
    await startAndStop(dir, rules);
    const before = logged(dir);
    assert.deepEqual(
      before.events.map((e) => e.subjectId),
      ["pt-x", null],
    );

    const tlog = openTlogForCli(configFor(dir, rules));
    try {
      eraseSubject(tlog, "pt-x", Date.now());
    } finally {
      tlog.close();
    }
    // the config file still names the erased subject
    await startAndStop(dir, rules);
    const afterErasure = logged(dir);
    assert.equal(afterErasure.keyOf("pt-x"), undefined, "no new key for the erased subject");
    assert.deepEqual(
      afterErasure.events.map((e) => [e.subjectId, e.data.scope]),
      [
        [null, "ward"],
        [null, "ward"],
      ],
      "the subject's record no longer opens, and none was added",
    );
    assert.ok(afterErasure.unopened >= 1);
    assert.deepEqual(afterErasure.events[1]?.data.subject_overrides, []);
  });

  it("records nothing when the log is off", async () => {
    const dir = newDir();
    await startAndStop(dir, {}, false);
    await startAndStop(dir, {});
    // the first record is made once the log is on
    assert.deepEqual(
      logged(dir).events.map((e) => e.data.scope),
      ["ward"],
    );
  });

  it("raises the default systolic-BP alarm in a running gateway whose ward overrides SpO2 alone", async () => {
    const dir = newDir();
    const gw = await Gateway.start(configFor(dir, { thresholds: { ward: SPO2_ONLY_WARD } }), {
      log: createLogger("silent"),
      clock: systemClock,
    });
    try {
      await gw.registry.add({ id: "cuff-1", subjectId: "pt-1", password: "pw-cuff-1-secret" }, Date.now());
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqtt.port}`, {
        clientId: "cuff-1",
        username: "cuff-1",
        password: "pw-cuff-1-secret",
        reconnectPeriod: 0,
      });
      await client.publishAsync(
        "vitalog/dev/cuff-1/json",
        JSON.stringify({ readings: [{ kind: "bp_systolic", value: 65, unit: "mm[Hg]" }] }),
        { qos: 1 },
      );
      await client.endAsync();
      const engine = gw.rules.engine;
      await waitFor(() => engine.activeAlerts().length > 0, 5000, "an alert");
      assert.deepEqual(
        engine.activeAlerts().map((a) => [a.rule_id, a.priority]),
        [["threshold.bp_systolic.low", "high"]],
      );
    } finally {
      await gw.stop();
    }
  });
});
