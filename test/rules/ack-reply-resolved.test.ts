/**
 * The reply to an acknowledgement carries the alert as the acknowledgement left it. An acknowledgement of an
 * alert whose condition already ended (a latched HIGH alarm) resolves it: the reply still says who acknowledged.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommandProcessor } from "../../src/rules/commands.js";
import type { News2Message } from "../../src/rules/news2-view.js";
import { harness, reading } from "./helpers.js";

describe("the acknowledgement reply", () => {
  it("names who acknowledged an alert the acknowledgement resolved", () => {
    const h = harness();
    h.engine.onReading(reading(h.clock, "heart_rate", 170, { deviceId: "ecg-1" }));
    h.run(16);
    h.run(60, () => h.engine.onReading(reading(h.clock, "heart_rate", 72, { deviceId: "ecg-1" })));
    const [latched] = h.engine.activeAlerts();
    assert.equal(latched?.state, "latched", "a HIGH alarm that ended unacknowledged latches");
    const commands = new CommandProcessor({
      engine: h.engine,
      now: () => h.clock.now(),
      record: () => {},
      actor: { via: null },
      users: { get: (id) => (id === "nurse.a" ? { id, role: "nurse", isEnabled: true } : undefined) },
      news2: () => ({}) as News2Message,
    });
    const reply = commands.handle(
      "mqtt",
      "ack",
      JSON.stringify({ alert_id: latched.alert_id, by: "nurse.a" }),
    );
    assert.equal(reply.ok, true);
    assert.deepEqual(
      [reply.alert?.alert_id, reply.alert?.state, reply.alert?.acknowledged_by],
      [latched.alert_id, "resolved", "nurse.a"],
    );
    const [resolved] = h.of("resolve");
    assert.equal(resolved?.acknowledged_by, "nurse.a", "as the resolve transition records it");
  });
});
