/**
 * A partial sub-object of `rules:` is merged per key over the built-in defaults, like the threshold overrides:
 * giving one field never takes the others away, and an unknown key stays an error.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, it } from "node:test";
import { parseConfig } from "../../src/config.js";
import { GatewayError } from "../../src/errors.js";
import { DEFAULT_ALARM_CONFIG } from "../../src/rules/alert-event.js";
import { DEFAULT_NEWS2_CONFIG } from "../../src/rules/news2.js";
import { DEFAULT_TECHNICAL_CONFIG } from "../../src/rules/technical.js";
import { tempDir } from "../helpers/gateway.js";

const dir = tempDir("vitalog-rules-partial-");
after(() => rmSync(dir, { recursive: true, force: true }));

function rulesOf(rules: Record<string, unknown>) {
  return parseConfig({ gateway: { id: "gw-1", stateDir: "state" }, rules }, dir).rules;
}

/** The problems of a `rules` section, as `path: message`. */
function problemsOf(rules: Record<string, unknown>): string[] {
  let caught: unknown;
  try {
    rulesOf(rules);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GatewayError && caught.code === "CONFIG_INVALID", String(caught));
  return (caught.details as { path: string; message: string }[]).map((p) => `${p.path}: ${p.message}`);
}

describe("partial rules sub-objects merge over the defaults", () => {
  it("keeps every other NEWS2 maximum age when one is given", () => {
    const { news2 } = rulesOf({ news2: { maxAgeSec: { spo2: 10 } } });
    assert.deepEqual(news2.maxAgeSec, { ...DEFAULT_NEWS2_CONFIG.maxAgeSec, spo2: 10 });
  });

  it("keeps every other band's priority when one band is given", () => {
    const { news2 } = rulesOf({ news2: { bandPriority: { high: "medium" } } });
    assert.deepEqual(news2.bandPriority, { ...DEFAULT_NEWS2_CONFIG.bandPriority, high: "medium" });
  });

  it("accepts null for a band given alone: no alert in that band", () => {
    const { news2 } = rulesOf({ news2: { bandPriority: { low_medium: null } } });
    assert.deepEqual(news2.bandPriority, { ...DEFAULT_NEWS2_CONFIG.bandPriority, low_medium: null });
  });

  it("says that null is valid when a band's priority is wrong, and names only that band", () => {
    assert.deepEqual(problemsOf({ news2: { bandPriority: { high: "high", low: "urgent" } } }), [
      'rules.news2.bandPriority.low: expected one of "high"|"medium"|"low", or null (no alert in this band)',
    ]);
  });

  it("keeps a technical alarm's persistence when only its priority is given", () => {
    const { technical } = rulesOf({ technical: { sensorContact: { priority: "high" } } });
    assert.deepEqual(technical.sensorContact, {
      ...DEFAULT_TECHNICAL_CONFIG.sensorContact,
      priority: "high",
    });
  });

  it("merges every other technical sub-object per key", () => {
    const { technical } = rulesOf({
      technical: {
        silentDevice: { missedIntervals: 5 },
        signalQuality: { persistenceSec: 20 },
        dataNotLive: { priority: "low" },
        battery: { lowPct: 30 },
        rejectBurst: { count: 10 },
        impossibleValues: { windowSec: 120 },
      },
    });
    const t = DEFAULT_TECHNICAL_CONFIG;
    assert.deepEqual(technical.silentDevice, { ...t.silentDevice, missedIntervals: 5 });
    assert.deepEqual(technical.signalQuality, { ...t.signalQuality, persistenceSec: 20 });
    assert.deepEqual(technical.dataNotLive, { ...t.dataNotLive, priority: "low" });
    assert.deepEqual(technical.battery, { ...t.battery, lowPct: 30 });
    assert.deepEqual(technical.rejectBurst, { ...t.rejectBurst, count: 10 });
    assert.deepEqual(technical.impossibleValues, { ...t.impossibleValues, windowSec: 120 });
    assert.deepEqual(technical.sensorContact, t.sensorContact, "a sub-object left out keeps its defaults");
  });

  it("keeps the other priorities' escalation ladders when one ladder is given", () => {
    const high = [{ afterSec: 30, recipient: "charge_nurse", raisePriority: false }];
    const { alarms } = rulesOf({ alarms: { escalation: { high } } });
    assert.deepEqual(alarms.escalation, { ...DEFAULT_ALARM_CONFIG.escalation, high });
  });

  it("takes an empty ladder as no escalation for that priority", () => {
    const { alarms } = rulesOf({ alarms: { escalation: { low: [] } } });
    assert.deepEqual(alarms.escalation, { ...DEFAULT_ALARM_CONFIG.escalation, low: [] });
  });

  it("keeps the default silence when only its maximum is given", () => {
    const { alarms } = rulesOf({ alarms: { silence: { maxSec: 200 } } });
    assert.deepEqual(alarms.silence, { ...DEFAULT_ALARM_CONFIG.silence, maxSec: 200 });
  });

  it("checks the merged values: a maximum silence below the default silence is refused", () => {
    assert.deepEqual(problemsOf({ alarms: { silence: { maxSec: 60 } } }), [
      "rules.alarms.silence.defaultSec: must not exceed maxSec",
    ]);
  });

  it("still refuses an unknown key in a partial sub-object, listing each", () => {
    const problems = problemsOf({
      news2: { maxAgeSec: { spo2: 10, spo: 5 }, bandPriority: { hihg: "high" } },
      technical: { sensorContact: { priority: "high", persistence: 3 } },
      alarms: { escalation: { critical: [] } },
    });
    assert.deepEqual(problems.sort(), [
      'rules.alarms.escalation: Unrecognized key: "critical"',
      'rules.news2.bandPriority: Unrecognized key: "hihg"',
      'rules.news2.maxAgeSec: Unrecognized key: "spo"',
      'rules.technical.sensorContact: Unrecognized key: "persistence"',
    ]);
  });
});
