import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mqtt from "mqtt";
import { waitFor } from "../helpers/gateway.js";
import { type AlertTestGateway, STATION, startAlertGateway, WALL } from "./alert-helpers.js";

describe("alerting in a running gateway (MQTT sink, consumers, commands)", () => {
  let t: AlertTestGateway;
  before(async () => {
    // every device value scored as it comes: the NEWS2 test here is about clinician entries, not the persistence
    // window (news2-persistence.test.ts), which would hold the device values 10 s of real time
    t = await startAlertGateway({ rules: { news2: { persistSec: 0 } } });
  });
  after(() => t.close());

  it("delivers a raise to a nurse station and keeps the active set retained for late screens", async () => {
    const station = await t.station();
    const dev = await t.device("cuff-1");
    await dev.send("bp_systolic", 65, "mm[Hg]");
    const raise = await station.next((m) => m.transition === "raise" && m.device_id === "cuff-1");
    assert.equal(raise.rule_id, "threshold.bp_systolic.low");
    assert.equal(raise.priority, "high");
    assert.equal(raise.subject_id, "pt-cuff-1");
    assert.equal(raise.gateway_id, "test-gw");
    assert.match(raise.event_id, /^[0-9A-HJKMNP-TV-Z]{26}$/);

    // a screen that connects later gets the current state at once, from the retained message
    const late = await mqtt.connectAsync(t.url, {
      clientId: WALL,
      username: WALL,
      password: "wall-pw",
      reconnectPeriod: 0,
    });
    const active = new Promise<{ alerts: { alert_id: string }[] }>((resolve) =>
      late.on(
        "message",
        (topic, p) => topic === "vitalog/alerts/active" && resolve(JSON.parse(p.toString())),
      ),
    );
    await late.subscribeAsync("vitalog/alerts/active", { qos: 1 });
    assert.ok((await active).alerts.some((a) => a.alert_id === raise.alert_id));
    await late.endAsync(true);

    // persisted (the device's PUBACK came after the commit that carried the transition)
    const row = t.gw.db
      .prepare("SELECT transition, subject_id FROM alert_events WHERE event_id = ?")
      .get(raise.event_id) as { transition: string; subject_id: string };
    assert.deepEqual({ ...row }, { transition: "raise", subject_id: "pt-cuff-1" });
  });

  it("lets no device subscribe to alerts and no consumer subscribe to device topics or act beyond its grant", async () => {
    const dev = await t.device("snoop-1");
    // SUBACK 0x80 (failure): mqtt.js rejects the subscription
    await assert.rejects(dev.client.subscribeAsync("vitalog/alerts/#", { qos: 1 }), /Subscribe error/);
    await assert.rejects(dev.client.subscribeAsync("vitalog/alerts/active", { qos: 1 }), /Subscribe error/);
    const wall = await mqtt.connectAsync(t.url, {
      clientId: WALL,
      username: WALL,
      password: "wall-pw",
      reconnectPeriod: 0,
    });
    wall.on("error", () => {});
    for (const refused of ["vitalog/dev/#", "#", "vitalog/cmd/station-1/result"])
      await assert.rejects(wall.subscribeAsync(refused, { qos: 1 }), /Subscribe error/);
    const granted = await wall.subscribeAsync("vitalog/alerts/#", { qos: 1 });
    assert.equal(granted[0]!.qos, 1);
    // a read-only screen may not acknowledge: the publish is refused and the client disconnected
    const closed = new Promise<void>((r) => wall.once("close", () => r()));
    wall.publish("vitalog/cmd/ack", JSON.stringify({ alert_id: "x", by: "someone" }), { qos: 1 });
    await closed;
    await wall.endAsync(true).catch(() => {});
    // wrong password is refused
    await assert.rejects(
      mqtt.connectAsync(t.url, {
        clientId: STATION,
        username: STATION,
        password: "nope",
        reconnectPeriod: 0,
      }),
    );
  });

  it("records who acknowledged, through which station, in the events, the store and the audit trail", async () => {
    const station = await t.station();
    const dev = await t.device("cuff-2");
    await dev.send("bp_systolic", 60, "mm[Hg]");
    const raise = await station.next((m) => m.transition === "raise" && m.device_id === "cuff-2");
    const reply = await station.command("ack", { alert_id: raise.alert_id, by: "nurse.jane" });
    assert.equal(reply.ok, true);
    const ack = await station.next((m) => m.transition === "acknowledge" && m.alert_id === raise.alert_id);
    assert.equal(ack.by, "nurse.jane");
    assert.equal(ack.via, STATION);
    assert.equal(ack.state, "acknowledged");
    assert.equal(ack.acknowledged_by, "nurse.jane");
    await waitFor(() => {
      const r = t.gw.db.prepare("SELECT by, via FROM alert_events WHERE event_id = ?").get(ack.event_id);
      return r !== undefined;
    });
    const row = t.gw.db.prepare("SELECT by, via FROM alert_events WHERE event_id = ?").get(ack.event_id);
    assert.deepEqual({ ...(row as object) }, { by: "nurse.jane", via: STATION });
    const state = t.gw.db.prepare("SELECT state FROM alerts WHERE alert_id = ?").get(raise.alert_id) as {
      state: string;
    };
    assert.equal(state.state, "acknowledged");

    assert.deepEqual(
      await station.command("ack", { alert_id: raise.alert_id, by: "nurse.jane" }).then((r) => r.error),
      "already_acknowledged",
    );
    assert.equal(
      (await station.command("ack", { alert_id: "nope", by: "nurse.jane" })).error,
      "unknown_alert",
    );
    assert.equal((await station.command("ack", { alert_id: raise.alert_id })).error, "invalid_user");
  });

  it("takes clinician NEWS2 entries (air/oxygen, ACVPU) with who entered them and scores the subject", async () => {
    const station = await t.station();
    const dev = await t.device("wear-n2");
    // RR 22 (2) SpO2 95 (1) SBP 120 (0) pulse 95 (1) temp 37.0 (0); oxygen (2) and Alert (0) from the nurse: 6
    for (const [kind, value, unit] of [
      ["respiratory_rate", 22, "/min"],
      ["spo2", 95, "%"],
      ["bp_systolic", 120, "mm[Hg]"],
      ["heart_rate", 95, "/min"],
      ["body_temperature", 37, "Cel"],
    ] as const)
      await dev.send(kind, value, unit);
    const before = await station.command("observe", {
      subject_id: "pt-wear-n2",
      by: "nurse.amy",
      acvpu: "A",
    });
    assert.equal(before.ok, true);
    assert.deepEqual((before.news2 as { missing: string[] }).missing, ["supplemental_oxygen"]);
    const reply = await station.command("observe", {
      subject_id: "pt-wear-n2",
      by: "nurse.amy",
      supplemental_oxygen: true,
    });
    const news2 = reply.news2 as { is_complete: boolean; total: number; band: string };
    assert.deepEqual([news2.is_complete, news2.total, news2.band], [true, 6, "medium"]);
    const alert = await station.next((m) => m.rule_id === "news2" && m.subject_id === "pt-wear-n2");
    assert.equal(alert.priority, "medium");
    await waitFor(
      () =>
        (
          t.gw.db
            .prepare("SELECT count(*) AS n FROM clinician_observations WHERE subject_id = 'pt-wear-n2'")
            .get() as {
            n: number;
          }
        ).n === 2,
    );
    const rows = t.gw.db
      .prepare(
        "SELECT entered_by, via, acvpu, supplemental_oxygen FROM clinician_observations ORDER BY row_id",
      )
      .all();
    assert.deepEqual(
      rows.map((r) => ({ ...(r as object) })),
      [
        { entered_by: "nurse.amy", via: STATION, acvpu: "A", supplemental_oxygen: null },
        { entered_by: "nurse.amy", via: STATION, acvpu: null, supplemental_oxygen: 1 },
      ],
    );
    assert.equal(
      (await station.command("observe", { subject_id: "pt-wear-n2", by: "nurse.amy", acvpu: "X" })).ok,
      false,
    );
  });

  it("watches provisioned devices and exposes the engine to the composition", () => {
    const rules = t.gw.rules;
    assert.ok(rules.engine.activeAlerts().length >= 2);
    assert.deepEqual(
      rules.sinks.map((s) => s.name),
      ["alerts_mqtt", "alerts_pages"],
    );
    assert.equal((t.gw.status().alerts as { high: number }).high >= 1, true);
  });
});
