/**
 * The conformance suite every `AlertSink` runs (like the Driver suite): the contract in alert-sink.ts,
 * checked against a real receiver on loopback.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ALERT_MESSAGE_VERSION, type AlertMessage } from "../../src/rules/sinks/alert-message.js";
import type { AlertSink } from "../../src/rules/sinks/alert-sink.js";
import { waitFor } from "../helpers/gateway.js";

export interface SinkFixture {
  /** Not started yet. */
  sink: AlertSink;
  /** event_ids the real receiver got, in arrival order. */
  received(): string[];
  /** Receiver-outage capability (durable sinks): refuse/unreachable, then back. */
  receiverDown?(): Promise<void>;
  receiverUp?(): Promise<void>;
  close(): Promise<void>;
}

let n = 0;
/** A well-formed alert message (a transition of alert `alertId`). */
export function alertMessage(overrides: Partial<AlertMessage> = {}): AlertMessage {
  n += 1;
  const at = Date.now();
  return {
    v: ALERT_MESSAGE_VERSION,
    event_id: `ev-${String(n).padStart(6, "0")}`,
    gateway_id: "test-gw",
    alert_id: `al-${n}`,
    condition: "p1:threshold.spo2.low",
    rule_id: "threshold.spo2.low",
    subject_id: "p1",
    device_id: "dev-1",
    priority: "high",
    category: "physiological",
    state: "raised",
    reason: "SpO2 84 % below limit 85 %",
    raised_at_ms: at,
    condition_active: true,
    escalation_level: 0,
    recipient: "primary_nurse",
    silenced_until_ms: null,
    acknowledged_by: null,
    transition: "raise",
    at_ms: at,
    by: null,
    via: null,
    ...overrides,
  };
}

function firstOccurrences(ids: string[]): string[] {
  return [...new Set(ids)];
}

export function registerSinkConformanceTests(name: string, make: () => Promise<SinkFixture>): void {
  describe(`AlertSink conformance: ${name}`, () => {
    it("delivers what it was given before start, then everything in order", async () => {
      const f = await make();
      try {
        const early = alertMessage();
        f.sink.deliver(early);
        await f.sink.start();
        const later = Array.from({ length: 20 }, () => alertMessage());
        for (const m of later) f.sink.deliver(m);
        const want = [early, ...later].map((m) => m.event_id);
        await waitFor(() => firstOccurrences(f.received()).length >= want.length, 10_000, `${name} delivery`);
        assert.deepEqual(firstOccurrences(f.received()), want);
        // The receiver logs a message before its acknowledgement reaches the sink, so the
        // queue drains a moment after the last arrival.
        await waitFor(() => f.sink.health().pending === 0, 5000, `${name} queue drained`);
      } finally {
        await f.sink.stop();
        await f.close();
      }
    });

    it("never throws from deliver, even after stop", async () => {
      const f = await make();
      try {
        await f.sink.start();
        await f.sink.stop();
        assert.doesNotThrow(() => f.sink.deliver(alertMessage()));
        assert.equal(typeof f.sink.health().isUp, "boolean");
      } finally {
        await f.close();
      }
    });
  });
}

/** For sinks whose receiver can go away: outage, ordered catch-up, and a stop that does not hang. */
export function registerOutageConformanceTests(name: string, make: () => Promise<SinkFixture>): void {
  describe(`AlertSink conformance (receiver outage): ${name}`, () => {
    it("reports the outage, keeps order, and catches up once the receiver is back", async () => {
      const f = await make();
      try {
        await f.sink.start();
        await f.receiverDown!();
        const msgs = Array.from({ length: 5 }, () => alertMessage());
        for (const m of msgs) f.sink.deliver(m);
        await waitFor(() => !f.sink.health().isUp, 10_000, `${name} down`);
        assert.equal(f.sink.health().pending, 5);
        await f.receiverUp!();
        await waitFor(() => firstOccurrences(f.received()).length >= 5, 15_000, `${name} catch-up`);
        assert.deepEqual(
          firstOccurrences(f.received()),
          msgs.map((m) => m.event_id),
        );
        await waitFor(() => f.sink.health().isUp, 5000, `${name} up`);
      } finally {
        await f.sink.stop();
        await f.close();
      }
    });

    it("stops promptly while the receiver is down", async () => {
      const f = await make();
      try {
        await f.sink.start();
        await f.receiverDown!();
        f.sink.deliver(alertMessage());
        await waitFor(() => !f.sink.health().isUp, 10_000, `${name} down`);
        await f.sink.stop();
        assert.doesNotThrow(() => f.sink.deliver(alertMessage()));
      } finally {
        await f.close();
      }
    });
  });
}
