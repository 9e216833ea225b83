/**
 * The escalation text stays true across a restart: the alert store gives a restored alert the time it has been
 * unacknowledged since (its raise, or the re-alarm that ended its last acknowledgement), replayed from its
 * transitions. Real SQLite file; the alarm manager on a manual clock.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { openDatabase } from "../../src/db.js";
import { MIGRATIONS } from "../../src/migrations.js";
import { AlarmManager } from "../../src/rules/alarm-manager.js";
import { type AlertEvent, DEFAULT_ALARM_CONFIG } from "../../src/rules/alert-event.js";
import type { AlertCondition } from "../../src/rules/rule.js";
import { type AlertMessage, toAuditEvent } from "../../src/rules/sinks/alert-message.js";
import { AlertStore } from "../../src/rules/sinks/alert-store.js";
import { tempDir } from "../helpers/gateway.js";

const T0 = Date.UTC(2026, 0, 1, 8, 0, 0);

function news2(total: number): AlertCondition {
  return {
    key: "p1:news2",
    ruleId: "news2",
    subjectId: "p1",
    deviceId: null,
    priority: "high",
    category: "physiological",
    reason: `NEWS2 ${total}`,
    isReasonTracked: true,
    severity: { value: total, realarmOnRise: 2 },
  };
}

function manager(clock: ManualClock, run: string) {
  let n = 0;
  const alarms = new AlarmManager(structuredClone(DEFAULT_ALARM_CONFIG), {
    clock,
    newAlertId: () => `${run}-a${++n}`,
  });
  const events: AlertEvent[] = [];
  alarms.onEvent((e) => events.push(e));
  const run1 = (seconds: number) => {
    for (let i = 0; i < seconds; i++) {
      clock.advance(1000);
      alarms.tick();
    }
  };
  return { alarms, events, run: run1 };
}

describe("escalation text across a restart", () => {
  const dir = tempDir("vitalog-restore-text-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("counts the time unacknowledged from the re-alarm that ended the acknowledgement, as before the restart", () => {
    const db = openDatabase(join(dir, "alerts.db"), MIGRATIONS);
    try {
      const store = new AlertStore(db);
      const clock = new ManualClock(T0);
      const first = manager(clock, "run1");
      let n = 0;
      first.alarms.onEvent((e) => {
        const m: AlertMessage = { ...e, v: 1, event_id: `e${++n}`, gateway_id: "gw", via: null };
        store.write([toAuditEvent(m)]);
      });
      first.alarms.apply({ type: "active", condition: news2(7) });
      first.run(30);
      first.alarms.acknowledge("run1-a1", "rn.a");
      first.run(300);
      first.alarms.apply({ type: "active", condition: news2(10) }); // re-alarm, 330 s after the raise
      first.run(20);

      const second = manager(clock, "run2");
      const { alerts } = store.restorable();
      assert.deepEqual(second.alarms.restore(alerts), { restored: 1, skipped: 0 });
      second.alarms.apply({ type: "active", condition: news2(10) });
      second.run(40); // the charge nurse step, 60 s after the re-alarm
      assert.deepEqual(
        second.events.map((e) => [e.transition, e.reason]),
        [["escalate", "unacknowledged for 60 s, escalated to charge_nurse: NEWS2 10"]],
      );
    } finally {
      db.close();
    }
  });
});

describe("condition reasons across a restart", () => {
  const dir = tempDir("vitalog-restore-reasons-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("takes back a latched alert's own reasons, so its next page is not built on the last page's text", () => {
    const db = openDatabase(join(dir, "alerts.db"), MIGRATIONS);
    try {
      const store = new AlertStore(db);
      const clock = new ManualClock(T0);
      const first = manager(clock, "run1");
      let n = 0;
      first.alarms.onEvent((e) => {
        store.write([toAuditEvent({ ...e, v: 1, event_id: `e${++n}`, gateway_id: "gw", via: null })]);
      });
      const hr: AlertCondition = {
        key: "p1:threshold.heart_rate.high",
        ruleId: "threshold.heart_rate.high",
        subjectId: "p1",
        deviceId: "ecg-1",
        priority: "high",
        category: "physiological",
        reason: "",
      };
      first.alarms.apply({
        type: "active",
        condition: { ...hr, reason: "Heart rate 170 /min above limit 160 /min" },
      });
      first.alarms.apply({ type: "clear", key: hr.key, reason: "Heart rate back within limits (80 /min)" });
      first.run(60); // latched at 30 s, paged to the charge nurse at 60 s

      const second = manager(clock, "run2");
      second.alarms.restore(store.restorable().alerts);
      second.run(120);
      assert.deepEqual(
        second.events.map((e) => [e.transition, e.reason]),
        [
          [
            "escalate",
            "unacknowledged for 180 s, escalated to rapid_response_team: condition ended (Heart rate back within limits (80 /min)); was: Heart rate 170 /min above limit 160 /min",
          ],
        ],
      );
    } finally {
      db.close();
    }
  });
});

describe("re-alarm on worsening after a restart", () => {
  it("measures a restored acknowledged alert's worsening from the first severity reported after the start", () => {
    const clock = new ManualClock(T0);
    const m = manager(clock, "run2");
    m.alarms.restore([
      {
        alert_id: "old-1",
        condition: "p1:news2",
        rule_id: "news2",
        subject_id: "p1",
        device_id: null,
        priority: "high",
        category: "physiological",
        state: "acknowledged",
        reason: "NEWS2 9",
        raised_at_ms: T0 - 600_000,
        condition_active: true,
        escalation_level: 0,
        recipient: "primary_nurse",
        silenced_until_ms: null,
        acknowledged_by: "rn.a",
      },
    ]);
    m.alarms.apply({ type: "active", condition: news2(9) });
    m.alarms.apply({ type: "active", condition: news2(10) });
    assert.deepEqual(
      m.events.map((e) => [e.transition, e.state]),
      [["update", "acknowledged"]],
    );
    m.alarms.apply({ type: "active", condition: news2(11) });
    assert.deepEqual(
      m.events.slice(1).map((e) => [e.transition, e.state, e.reason]),
      [["re_alarm", "raised", "worse than when acknowledged (9 → 11): NEWS2 11"]],
    );
  });
});
